// Redaction runs in the API before anything is queued: a secret sent to Vigil must never reach the
// queue, the database, a log line or an error body. A key is sensitive when, split into lower-case
// words (at `-`, `_`, `.`, spaces and camelCase humps), it contains a listed name as a run of whole
// words: `password`, `db_password`, `password_hash`, `x-api-key`, `clientSecret`, `new_password_2`.

export const REDACTED_VALUE = "[REDACTED]";

export type KeyMatcher = (key: string) => boolean;

/** `X-Api-Key`, `x_api_key`, `xApiKey` → `x_api_key`; JSON clients use every one of these spellings. */
function keyWords(key: string): string {
  return key
    .replace(/([a-z0-9])([A-Z])/g, "$1_$2")
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "_")
    .replace(/^_+|_+$/g, "");
}

/** Distinct keys remembered per matcher; events repeat the same few keys, clients may send any. */
const MATCHER_MEMO_KEYS = 10_000;

export function sensitiveKeyMatcher(names: readonly string[]): KeyMatcher {
  const needles = names.map((name) => `_${keyWords(name)}_`).filter((needle) => needle !== "__");
  // Splitting a key into words costs three regex passes; the answer per key never changes.
  const memo = new Map<string, boolean>();
  return (key) => {
    let sensitive = memo.get(key);
    if (sensitive === undefined) {
      const haystack = `_${keyWords(key)}_`;
      sensitive = needles.some((needle) => haystack.includes(needle));
      if (memo.size >= MATCHER_MEMO_KEYS) memo.clear();
      memo.set(key, sensitive);
    }
    return sensitive;
  };
}

/**
 * Returns a redacted copy of `value` (the input is not modified) and appends the JSON path of every
 * replaced value to `redactedPaths`, e.g. `metadata.headers.authorization` or `after_state.cards[0].cvv`.
 */
export function redactSecrets(
  value: unknown,
  isSensitive: KeyMatcher,
  path: string,
  redactedPaths: string[],
): unknown {
  if (Array.isArray(value)) {
    return value.map((item, index) => redactSecrets(item, isSensitive, `${path}[${index}]`, redactedPaths));
  }
  if (value !== null && typeof value === "object") {
    const result: Record<string, unknown> = {};
    for (const [key, child] of Object.entries(value)) {
      let copy: unknown = child;
      if (child !== null && isSensitive(key)) {
        redactedPaths.push(`${path}.${key}`);
        copy = REDACTED_VALUE;
      } else if (child !== null && typeof child === "object") {
        copy = redactSecrets(child, isSensitive, `${path}.${key}`, redactedPaths);
      }
      // A JSON key named `__proto__` must stay data, not become a prototype: assigning it would.
      if (key === "__proto__")
        Object.defineProperty(result, key, {
          value: copy,
          enumerable: true,
          writable: true,
          configurable: true,
        });
      else result[key] = copy;
    }
    return result;
  }
  return value;
}
