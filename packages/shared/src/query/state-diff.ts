// Field-level diff of two JSON states (before_state → after_state), for resource history. Objects
// are compared key by key and arrays index by index, recursively, so a change deep inside reports
// the deepest path that differs; paths use the redaction paths' notation (`a.b[2].c`).

export interface StateDiff {
  added: Array<{ path: string; value: unknown }>;
  removed: Array<{ path: string; value: unknown }>;
  changed: Array<{ path: string; old: unknown; new: unknown }>;
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

const PLAIN_KEY = /^[A-Za-z_$][\w$-]*$/;

function childPath(path: string, key: string | number): string {
  if (typeof key === "number") return `${path}[${key}]`;
  // Keys that would be ambiguous in dotted notation (dots, brackets, spaces) are quoted.
  const segment = PLAIN_KEY.test(key) ? key : `[${JSON.stringify(key)}]`;
  if (path === "" || segment.startsWith("[")) return `${path}${segment}`;
  return `${path}.${segment}`;
}

function isObject(value: unknown): value is Record<string, Json> {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

function sameJson(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a) && Array.isArray(b))
    return a.length === b.length && a.every((item, index) => sameJson(item, b[index]));
  if (isObject(a) && isObject(b)) {
    const keys = Object.keys(a);
    return (
      keys.length === Object.keys(b).length &&
      keys.every((key) => Object.hasOwn(b, key) && sameJson(a[key], b[key]))
    );
  }
  return false;
}

function walk(before: unknown, after: unknown, path: string, diff: StateDiff): void {
  if (sameJson(before, after)) return;
  if (isObject(before) && isObject(after)) {
    for (const key of Object.keys(before)) {
      if (!Object.hasOwn(after, key)) diff.removed.push({ path: childPath(path, key), value: before[key] });
      else walk(before[key], after[key], childPath(path, key), diff);
    }
    for (const key of Object.keys(after)) {
      if (!Object.hasOwn(before, key)) diff.added.push({ path: childPath(path, key), value: after[key] });
    }
    return;
  }
  if (Array.isArray(before) && Array.isArray(after)) {
    const shared = Math.min(before.length, after.length);
    for (let index = 0; index < shared; index++)
      walk(before[index], after[index], childPath(path, index), diff);
    for (let index = shared; index < before.length; index++)
      diff.removed.push({ path: childPath(path, index), value: before[index] });
    for (let index = shared; index < after.length; index++)
      diff.added.push({ path: childPath(path, index), value: after[index] });
    return;
  }
  diff.changed.push({ path, old: before, new: after });
}

/** The diff of `before` → `after`; a missing state counts as `{}` (a CREATE adds every field). */
export function diffStates(
  before: Record<string, unknown> | null | undefined,
  after: Record<string, unknown> | null | undefined,
): StateDiff {
  const diff: StateDiff = { added: [], removed: [], changed: [] };
  walk(before ?? {}, after ?? {}, "", diff);
  return diff;
}
