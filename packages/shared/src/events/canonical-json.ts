// RFC 8785 (JSON Canonicalization Scheme): object keys sorted by UTF-16 code units, no whitespace,
// numbers in ECMAScript shortest form, strings escaped as JSON.stringify does. The event hash is
// taken over this form, so any two parties holding the same event compute the same bytes.
// Written with loops and string concatenation: it runs over every event in the api and the worker.

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

export function canonicalJson(value: unknown): string {
  switch (typeof value) {
    case "string":
      return JSON.stringify(value);
    case "number":
      if (!Number.isFinite(value)) throw new TypeError("canonical JSON cannot represent a non-finite number");
      // ES Number serialisation is exactly what RFC 8785 §3.2.2.3 prescribes; -0 becomes 0.
      return String(value);
    case "boolean":
      return value ? "true" : "false";
    case "object": {
      if (value === null) return "null";
      if (Array.isArray(value)) {
        let out = "[";
        for (let index = 0; index < value.length; index++) {
          if (index > 0) out += ",";
          out += canonicalJson(value[index]);
        }
        return `${out}]`;
      }
      if (value instanceof Date) return JSON.stringify(value.toISOString());
      const record = value as Record<string, unknown>;
      const keys = sortedKeys(record);
      let out = "{";
      for (const key of keys) {
        const child = record[key];
        if (child === undefined) continue;
        if (out.length > 1) out += ",";
        out += `${JSON.stringify(key)}:${canonicalJson(child)}`;
      }
      return `${out}}`;
    }
    default:
      throw new TypeError(`canonical JSON cannot represent a ${typeof value}`);
  }
}

/** Insertion sort below this many keys (most objects), the built-in sort above (no quadratic cost). */
const INSERTION_SORT_MAX_KEYS = 16;

/** Keys in UTF-16 code unit order, the order RFC 8785 requires (`<` and the default sort use it). */
function sortedKeys(record: Record<string, unknown>): string[] {
  const keys = Object.keys(record);
  if (keys.length > INSERTION_SORT_MAX_KEYS) return keys.sort();
  for (let index = 1; index < keys.length; index++) {
    const key = keys[index]!;
    let at = index - 1;
    while (at >= 0 && keys[at]! > key) {
      keys[at + 1] = keys[at]!;
      at--;
    }
    keys[at + 1] = key;
  }
  return keys;
}

/**
 * A serializer equal to `canonicalJson` of the object made of `fields` picked from a record, with
 * the field order sorted and the keys encoded once (the event hash covers a fixed field list).
 */
export function canonicalFieldsJson(fields: readonly string[]): (record: object) => string {
  const sorted = [...fields].sort().map((field) => ({ field, key: `${JSON.stringify(field)}:` }));
  return (record) => {
    const values = record as Record<string, unknown>;
    let out = "{";
    for (const { field, key } of sorted) {
      const child = values[field];
      if (child === undefined) continue;
      if (out.length > 1) out += ",";
      out += key + canonicalJson(child);
    }
    return `${out}}`;
  };
}
