// Redaction runs in the API before anything is queued: a secret sent to Vigil must never reach the
// queue, the database, a log line or an error body. Pure TypeScript with no imports: the SDK and the
// browser console bundle this file and must redact exactly as the server does.
//
// A value is replaced by "[REDACTED]" when
// - its key is sensitive: split into lower-case words (at `-`, `_`, `.`, spaces and camelCase
//   humps), the key contains a listed name as a run of whole words: `password`, `db_password`,
//   `password_hash`, `x-api-key`, `clientSecret`, `new_password_2`;
// - it is the value of a name/value pair whose name is sensitive: `{"name":"Authorization",
//   "value":…}` (HAR headers and cookies; also `key`/`Key`/`Name` with `value`/`Value`) or a
//   `["authorization", …]` entry in an array of pairs (a fetch `Headers` dump);
// - it is a string that looks like a secret whatever its key (SECRET_VALUE below): a bearer token,
//   a JWT, a Vigil API key, an AWS access key id, a PEM private-key block.
//
// The paths of redacted values are reported in a bounded list (RedactedPathList).

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
/** Longer keys are matched each time, never remembered: 10,000 of them would hold megabytes. */
const MATCHER_MEMO_MAX_KEY_LENGTH = 128;

export function sensitiveKeyMatcher(names: readonly string[]): KeyMatcher {
  const needles = names.map((name) => `_${keyWords(name)}_`).filter((needle) => needle !== "__");
  // Splitting a key into words costs three regex passes; the answer per key never changes.
  const memo = new Map<string, boolean>();
  return (key) => {
    let sensitive = memo.get(key);
    if (sensitive === undefined) {
      const haystack = `_${keyWords(key)}_`;
      sensitive = needles.some((needle) => haystack.includes(needle));
      if (key.length <= MATCHER_MEMO_MAX_KEY_LENGTH) {
        if (memo.size >= MATCHER_MEMO_KEYS) memo.clear();
        memo.set(key, sensitive);
      }
    }
    return sensitive;
  };
}

/**
 * Strings that are secrets whatever key they sit under. Each alternative needs enough characters
 * that ordinary prose does not match ("Bearer tokens expire" is not a token).
 */
const SECRET_VALUE = new RegExp(
  [
    "\\b[Bb][Ee][Aa][Rr][Ee][Rr]\\s+[A-Za-z0-9\\-._~+/]{16,}", // Authorization: Bearer <token>
    "\\beyJ[A-Za-z0-9_-]{8,}\\.[A-Za-z0-9_-]{8,}\\.[A-Za-z0-9_-]*", // JWT (JWS compact form)
    "\\bvgl_[A-Za-z0-9]{32,}", // Vigil API key
    "\\b(?:AKIA|ASIA)[A-Z0-9]{16}\\b", // AWS access key id (long-term, temporary)
    "-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----", // PEM private key (PKCS#1, PKCS#8, EC, OpenSSH)
  ].join("|"),
);
/** The shortest string SECRET_VALUE can match; shorter strings skip the regex. */
const SECRET_VALUE_MIN_LENGTH = 20;

/** True when a string value is a secret by its shape alone (see SECRET_VALUE). */
export function looksLikeSecret(value: string): boolean {
  return value.length >= SECRET_VALUE_MIN_LENGTH && SECRET_VALUE.test(value);
}

/**
 * The bound on an event's `redacted` list, so that its size never depends on how many values a
 * client can make redactable (a 64 KiB state can hold thousands of `{"ssn":0}`).
 */
export const REDACTED_LIST_LIMITS = { maxPaths: 128, maxChars: 8 * 1024 } as const;

/** Suffix of a collapsed entry: one or more values somewhere inside that subtree were redacted. */
export const REDACTED_SUBTREE_SUFFIX = ".*";

interface PathLevel {
  entries: string[];
  seen: Set<string>;
  chars: number;
  full: boolean;
  /** The ancestor that produced the last entry: siblings redacted in a row add nothing new. */
  lastAncestor: string | undefined;
}

/**
 * Levels of collapse tracked: one per segment of the deepest path the schema allows (a state name
 * and 16 levels of nesting) plus one. A deeper path still collapses correctly, to this level.
 */
const COLLAPSE_LEVELS = 18;

/**
 * The `redacted` list of one event. The rule: it lists the path of every redacted value
 * (`after_state.cards[0].cvv`), once, in document order; when that would exceed REDACTED_LIST_LIMITS
 * (paths or characters), each path is cut to its ancestor at the deepest level where the
 * deduplicated list fits, ending in `.*` (`after_state.cards.*`: something inside was redacted).
 * At the top level that is at most one entry per state (`after_state.*`), so the list always fits.
 * Memory stays bounded while collecting: a level that no longer fits stops collecting.
 */
export class RedactedPathList {
  private exact: PathLevel | undefined;
  /** levels[n]: every path cut to its first n + 1 segments. */
  private levels: PathLevel[] = [];

  /** `ancestors[n]` is the path of the redacted value's ancestor with n + 1 segments. */
  add(ancestors: readonly string[], path: string): void {
    if (this.exact === undefined) {
      this.exact = newLevel();
      this.levels = Array.from({ length: COLLAPSE_LEVELS }, newLevel);
    }
    addEntry(this.exact, path);
    for (let level = 0; level < COLLAPSE_LEVELS; level++) {
      const state = this.levels[level]!;
      if (state.full) continue;
      if (level >= ancestors.length) {
        // A path no deeper than this level is listed as it is.
        state.lastAncestor = undefined;
        addEntry(state, path);
        continue;
      }
      const ancestor = ancestors[level]!;
      if (ancestor === state.lastAncestor) continue;
      state.lastAncestor = ancestor;
      addEntry(state, `${ancestor}${REDACTED_SUBTREE_SUFFIX}`);
    }
  }

  toList(): string[] {
    if (this.exact === undefined) return [];
    if (!this.exact.full) return this.exact.entries;
    for (let level = COLLAPSE_LEVELS - 1; level >= 0; level--) {
      const state = this.levels[level]!;
      if (!state.full) return state.entries;
    }
    return []; // unreachable: level 0 holds at most one entry per root
  }
}

function newLevel(): PathLevel {
  return { entries: [], seen: new Set(), chars: 0, full: false, lastAncestor: undefined };
}

function addEntry(level: PathLevel, entry: string): void {
  if (level.full) return;
  const fits =
    level.entries.length < REDACTED_LIST_LIMITS.maxPaths &&
    level.chars + entry.length <= REDACTED_LIST_LIMITS.maxChars;
  // Length first: a path too long to fit is never flattened and hashed only to be thrown away.
  if (!fits && entry.length > REDACTED_LIST_LIMITS.maxChars) {
    markFull(level);
    return;
  }
  if (level.seen.has(entry)) return;
  if (!fits) {
    markFull(level);
    return;
  }
  level.seen.add(entry);
  level.entries.push(entry);
  level.chars += entry.length;
}

function markFull(level: PathLevel): void {
  level.full = true;
  level.entries = [];
  level.seen.clear();
}

const PAIR_NAME_KEYS = ["name", "key", "Name", "Key"] as const;
const PAIR_VALUE_KEYS = ["value", "Value"] as const;

/** In `{"name":"Authorization","value":"…"}` form, the key of the value to redact, if any. */
function pairValueKey(record: Record<string, unknown>, isSensitive: KeyMatcher): string | undefined {
  let valueKey: string | undefined;
  for (const key of PAIR_VALUE_KEYS) if (Object.hasOwn(record, key)) valueKey = key;
  if (valueKey === undefined || record[valueKey] === null) return undefined;
  for (const key of PAIR_NAME_KEYS) {
    const name = record[key];
    if (typeof name === "string" && Object.hasOwn(record, key) && isSensitive(name)) return valueKey;
  }
  return undefined;
}

/** `["authorization", "Bearer …"]` inside an array: a fetch `Headers` or `Map` entries dump. */
function isSensitivePair(item: unknown, isSensitive: KeyMatcher): item is [string, unknown] {
  return (
    Array.isArray(item) &&
    item.length === 2 &&
    typeof item[0] === "string" &&
    item[1] !== null &&
    isSensitive(item[0])
  );
}

/**
 * Returns a redacted copy of `value` (the input is not modified), recording the path of every
 * replaced value in `redacted`, rooted at `path` (the state's name). Recursive: callers bound the
 * nesting depth first (the event schema allows 16 levels).
 */
export function redactValue(
  value: unknown,
  isSensitive: KeyMatcher,
  path: string,
  redacted: RedactedPathList,
): unknown {
  return new Redactor(isSensitive, redacted).copy(value, path, undefined);
}

class Redactor {
  /** Paths of the containers above the value being copied, outermost first. */
  private readonly ancestors: string[] = [];

  constructor(
    private readonly isSensitive: KeyMatcher,
    private readonly redacted: RedactedPathList,
  ) {}

  private replace(path: string): string {
    this.redacted.add(this.ancestors, path);
    return REDACTED_VALUE;
  }

  /** `secretKey`: the value sits under a sensitive key or pair name; null is kept (nothing to hide). */
  copy(value: unknown, path: string, secretKey: boolean | undefined): unknown {
    if (value === null) return null;
    if (secretKey) return this.replace(path);
    if (typeof value === "string") return looksLikeSecret(value) ? this.replace(path) : value;
    if (typeof value !== "object") return value;
    this.ancestors.push(path);
    try {
      if (Array.isArray(value)) {
        return value.map((item, index) => {
          const itemPath = `${path}[${index}]`;
          if (!isSensitivePair(item, this.isSensitive)) return this.copy(item, itemPath, undefined);
          this.ancestors.push(itemPath);
          const pair = [item[0], this.replace(`${itemPath}[1]`)];
          this.ancestors.pop();
          return pair;
        });
      }
      const record = value as Record<string, unknown>;
      const pairValue = pairValueKey(record, this.isSensitive);
      const result: Record<string, unknown> = {};
      for (const key of Object.keys(record)) {
        const copy = this.copy(record[key], `${path}.${key}`, key === pairValue || this.isSensitive(key));
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
    } finally {
      this.ancestors.pop();
    }
  }
}

/** Like redactValue, appending the (bounded) list of redacted paths to `redactedPaths`. */
export function redactSecrets(
  value: unknown,
  isSensitive: KeyMatcher,
  path: string,
  redactedPaths: string[],
): unknown {
  const list = new RedactedPathList();
  const copy = redactValue(value, isSensitive, path, list);
  redactedPaths.push(...list.toList());
  return copy;
}
