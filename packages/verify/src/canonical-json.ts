// RFC 8785 JSON Canonicalization Scheme, written independently of the service's copy so the
// verifier trusts nothing of Vigil's code: members sorted by the UTF-16 code units of their names,
// no whitespace, strings and numbers serialised as ECMAScript's JSON.stringify does (RFC 8785
// §3.2.2.2 and §3.2.2.3 define them by it). Members whose value is undefined are left out.

export function canonicalize(value: unknown): string {
  const parts: string[] = [];
  write(value, parts);
  return parts.join("");
}

function write(value: unknown, out: string[]): void {
  if (value === null) {
    out.push("null");
  } else if (typeof value === "boolean") {
    out.push(value ? "true" : "false");
  } else if (typeof value === "number") {
    if (!Number.isFinite(value)) throw new TypeError("JSON has no NaN or Infinity");
    out.push(JSON.stringify(value)); // -0 serialises as 0, as RFC 8785 requires
  } else if (typeof value === "string") {
    out.push(JSON.stringify(value));
  } else if (Array.isArray(value)) {
    out.push("[");
    value.forEach((item, i) => {
      if (i > 0) out.push(",");
      write(item, out);
    });
    out.push("]");
  } else if (typeof value === "object") {
    const members = Object.entries(value as Record<string, unknown>).filter(
      ([, child]) => child !== undefined,
    );
    members.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    out.push("{");
    members.forEach(([name, child], i) => {
      if (i > 0) out.push(",");
      out.push(JSON.stringify(name), ":");
      write(child, out);
    });
    out.push("}");
  } else {
    throw new TypeError(`JSON has no ${typeof value}`);
  }
}
