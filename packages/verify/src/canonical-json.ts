// RFC 8785 JSON Canonicalization Scheme, written independently of the service's copy so the
// verifier trusts nothing of Vigil's code: members sorted by the UTF-16 code units of their names,
// no whitespace, strings and numbers serialised as ECMAScript's JSON.stringify does (RFC 8785
// §3.2.2.2 and §3.2.2.3 define them by it). Members whose value is undefined are left out.

export function canonicalize(value: unknown): string {
  if (value === null) return "null";
  switch (typeof value) {
    case "boolean":
      return value ? "true" : "false";
    case "number":
      if (!Number.isFinite(value)) throw new TypeError("JSON has no NaN or Infinity");
      return JSON.stringify(value); // -0 serialises as 0, as RFC 8785 requires
    case "string":
      return JSON.stringify(value);
    case "object": {
      if (Array.isArray(value)) {
        let out = "";
        for (const item of value) out += out === "" ? canonicalize(item) : `,${canonicalize(item)}`;
        return `[${out}]`;
      }
      const record = value as Record<string, unknown>;
      // The default sort compares UTF-16 code units, the order RFC 8785 §3.2.3 prescribes.
      const names = Object.keys(record).sort();
      let out = "";
      for (const name of names) {
        const child = record[name];
        if (child === undefined) continue;
        out += `${out === "" ? "" : ","}${JSON.stringify(name)}:${canonicalize(child)}`;
      }
      return `{${out}}`;
    }
    default:
      throw new TypeError(`JSON has no ${typeof value}`);
  }
}
