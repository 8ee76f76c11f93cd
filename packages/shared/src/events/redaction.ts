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

/** Literals one of which every SECRET_VALUE match contains; `includes` rules out most strings cheaply. */
const SECRET_VALUE_HINTS = ["earer", "EARER", "eyJ", "vgl_", "AKIA", "ASIA", "-----BEGIN"];

/** True when a string value is a secret by its shape alone (see SECRET_VALUE). */
export function looksLikeSecret(value: string): boolean {
  if (value.length < SECRET_VALUE_MIN_LENGTH) return false;
  let hinted = false;
  for (const hint of SECRET_VALUE_HINTS) if (value.includes(hint)) hinted = true;
  return hinted && SECRET_VALUE.test(value);
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
  /** While the exact list fits: each of its paths with its ancestors, to replay if it overflows. */
  private recorded: Array<{ ancestors: string[]; path: string }> = [];
  /** levels[n]: every path cut to its first n + 1 segments; built only once the exact list overflows. */
  private levels: PathLevel[] | undefined;
  /** The levels not yet full, shallowest first. */
  private openLevels: number[] = [];

  /** `ancestors[n]` is the path of the redacted value's ancestor with n + 1 segments. */
  add(ancestors: readonly string[], path: string): void {
    if (this.levels === undefined) {
      this.exact ??= newLevel();
      const before = this.exact.entries.length;
      addEntry(this.exact, path);
      if (!this.exact.full) {
        if (this.exact.entries.length > before) this.recorded.push({ ancestors: ancestors.slice(), path });
        return;
      }
      this.levels = Array.from({ length: COLLAPSE_LEVELS }, newLevel);
      this.openLevels = this.levels.map((_, level) => level);
      for (const entry of this.recorded) this.addCollapsed(entry.ancestors, entry.path);
      this.recorded = [];
    }
    this.addCollapsed(ancestors, path);
  }

  private addCollapsed(ancestors: readonly string[], path: string): void {
    const levels = this.levels!;
    let filled = false;
    for (const level of this.openLevels) {
      const state = levels[level]!;
      if (level >= ancestors.length) {
        // A path no deeper than this level is listed as it is.
        state.lastAncestor = undefined;
        addEntry(state, path);
      } else {
        const ancestor = ancestors[level]!;
        if (ancestor === state.lastAncestor) continue;
        state.lastAncestor = ancestor;
        addEntry(state, `${ancestor}${REDACTED_SUBTREE_SUFFIX}`);
      }
      filled ||= state.full;
    }
    // Full levels are never looked at again: a value redacted thousands of times costs a few levels each.
    if (filled) this.openLevels = this.openLevels.filter((level) => !levels[level]!.full);
  }

  toList(): string[] {
    if (this.exact === undefined) return [];
    if (this.levels === undefined) return this.exact.entries;
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

/** In `{"name":"Authorization","value":"…"}` form, the key of the value to redact, if any. */
function pairValueKey(record: Record<string, unknown>, isSensitive: KeyMatcher): string | undefined {
  // Plain property reads first: nearly every object has neither key, and this is the hot path.
  const valueKey = record.value !== undefined ? "value" : record.Value !== undefined ? "Value" : undefined;
  if (valueKey === undefined || record[valueKey] === null || !Object.hasOwn(record, valueKey))
    return undefined;
  for (const nameKey of ["name", "key", "Name", "Key"]) {
    const name = record[nameKey];
    if (typeof name === "string" && Object.hasOwn(record, nameKey) && isSensitive(name)) return valueKey;
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
  const redactor = new Redactor(isSensitive, redacted);
  if (value !== null && typeof value === "object") return redactor.copyContainer(value, path);
  return typeof value === "string" && looksLikeSecret(value) ? redactor.replace(path) : value;
}

class Redactor {
  /** Paths of the containers above the value being copied, outermost first. */
  private readonly ancestors: string[] = [];

  constructor(
    private readonly isSensitive: KeyMatcher,
    private readonly redacted: RedactedPathList,
  ) {}

  replace(path: string): string {
    this.redacted.add(this.ancestors, path);
    return REDACTED_VALUE;
  }

  /**
   * The copy of one child: null is kept (nothing to hide), anything under a sensitive key or pair
   * name is replaced, strings are checked for secret shapes. Paths are built only when needed.
   */
  private child(value: unknown, parentPath: string, segment: string, secretKey: boolean): unknown {
    if (value === null) return null;
    if (secretKey) return this.replace(parentPath + segment);
    if (typeof value === "object") return this.copyContainer(value, parentPath + segment);
    if (typeof value === "string" && looksLikeSecret(value)) return this.replace(parentPath + segment);
    return value;
  }

  copyContainer(value: object, path: string): unknown {
    this.ancestors.push(path);
    let result: unknown;
    if (Array.isArray(value)) {
      const copy = new Array<unknown>(value.length);
      for (let index = 0; index < value.length; index++) {
        const item: unknown = value[index];
        if (isSensitivePair(item, this.isSensitive)) {
          const itemPath = `${path}[${index}]`;
          this.ancestors.push(itemPath);
          copy[index] = [item[0], this.replace(`${itemPath}[1]`)];
          this.ancestors.pop();
        } else {
          copy[index] = this.child(item, path, `[${index}]`, false);
        }
      }
      result = copy;
    } else {
      const record = value as Record<string, unknown>;
      const pairValue = pairValueKey(record, this.isSensitive);
      const copy: Record<string, unknown> = {};
      for (const key of Object.keys(record)) {
        const child = this.child(record[key], path, `.${key}`, key === pairValue || this.isSensitive(key));
        // A JSON key named `__proto__` must stay data, not become a prototype: assigning it would.
        if (key === "__proto__")
          Object.defineProperty(copy, key, {
            value: child,
            enumerable: true,
            writable: true,
            configurable: true,
          });
        else copy[key] = child;
      }
      result = copy;
    }
    this.ancestors.pop();
    return result;
  }
}

/**
 * True when redactValue would replace anything inside `value`. Walks as redactValue does but
 * allocates nothing, so a caller that owns `value` can skip the copy when it holds no secret.
 */
export function holdsRedactable(value: unknown, isSensitive: KeyMatcher): boolean {
  if (value === null || typeof value !== "object") return typeof value === "string" && looksLikeSecret(value);
  if (Array.isArray(value)) {
    for (const item of value) {
      if (item === null) continue;
      if (isSensitivePair(item, isSensitive) || holdsRedactable(item, isSensitive)) return true;
    }
    return false;
  }
  const record = value as Record<string, unknown>;
  const pairValue = pairValueKey(record, isSensitive);
  for (const key of Object.keys(record)) {
    const child = record[key];
    if (child === null) continue;
    if (key === pairValue || isSensitive(key) || holdsRedactable(child, isSensitive)) return true;
  }
  return false;
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
