// Redaction runs in the API before anything is queued: a secret sent to Vigil must never reach the
// queue, the database, a log line or an error body. A key is sensitive when, lower-cased with `-`
// read as `_`, it equals a listed name or has one as a `_`-separated prefix or suffix
// (`db_password`, `password_hash`, `x-api-key`).

export const REDACTED_VALUE = "[REDACTED]";

export type KeyMatcher = (key: string) => boolean;

export function sensitiveKeyMatcher(names: readonly string[]): KeyMatcher {
  const normalized = names.map((name) => name.toLowerCase().replaceAll("-", "_"));
  const exact = new Set(normalized);
  return (key) => {
    const candidate = key.toLowerCase().replaceAll("-", "_");
    if (exact.has(candidate)) return true;
    return normalized.some((name) => candidate.endsWith(`_${name}`) || candidate.startsWith(`${name}_`));
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
      const childPath = `${path}.${key}`;
      if (isSensitive(key) && child !== null) {
        result[key] = REDACTED_VALUE;
        redactedPaths.push(childPath);
      } else {
        result[key] = redactSecrets(child, isSensitive, childPath, redactedPaths);
      }
    }
    return result;
  }
  return value;
}
