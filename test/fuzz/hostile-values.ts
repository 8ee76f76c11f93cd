// The raw material of the fuzz suite: a seeded random source (so a failing case is reproduced by
// its seed) and values that have broken parsers, databases and CSV readers before.

/** mulberry32: small, fast, good enough to pick cases; the same seed gives the same run. */
export class Random {
  private state: number;
  constructor(seed: number) {
    this.state = seed >>> 0;
  }
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(maxExclusive: number): number {
    return Math.floor(this.next() * maxExclusive);
  }
  chance(probability: number): boolean {
    return this.next() < probability;
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)] as T;
  }
  hex(bytes: number): string {
    let out = "";
    for (let i = 0; i < bytes; i++) out += this.int(256).toString(16).padStart(2, "0");
    return out;
  }
  uuid(): string {
    const h = this.hex(16);
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-7${h.slice(13, 16)}-8${h.slice(17, 20)}-${h.slice(20, 32)}`;
  }
}

/** Strings that are valid JSON strings but hostile to what stores or shows them. */
export function hostileString(random: Random): string {
  switch (random.int(16)) {
    case 0:
      return "";
    case 1:
      return "a\u0000b";
    case 2:
      return "\ud800";
    case 3:
      return `x${"\udfff"}y`;
    case 4:
      return "x".repeat(random.pick([129, 257, 1025, 10_000, 70_000]));
    case 5:
      return "𝔘ñí©ødé ‮ RTL 🙂 \u2028\u2029";
    case 6:
      return random.pick(["' OR 1=1 --", "'; DROP TABLE events; --", "$1", "\\", '"', "%s%n"]);
    case 7:
      return random.pick(["../../etc/passwd", "..%2f..%2f", "/", "//", "%2e%2e"]);
    case 8:
      return random.pick(["=cmd|' /C calc'!A0", "+1", "-1", "@SUM(A1)", "\tx", "\rx"]);
    case 9:
      return random.pick(["1e400", "-1e400", "NaN", "Infinity", "99999999999999999999999", "-0", "0x10"]);
    case 10:
      return random.pick([
        "0000-01-01T00:00:00Z",
        "9999-12-31T23:59:59Z",
        "2026-13-45T99:99:99Z",
        "yesterday",
      ]);
    case 11:
      return random.pick([
        random.uuid(),
        "00000000-0000-0000-0000-000000000000",
        "not-a-uuid",
        random.hex(20),
      ]);
    case 12:
      return random.pick(["null", "true", "[]", "{}", "undefined", "__proto__", "constructor"]);
    case 13:
      return random.pick(["<script>alert(1)</script>", "$" + "{jndi:ldap://127.0.0.1/x}", "{{7*7}}"]);
    case 14:
      return random.pick([
        "Bearer eyJhbGciOiJub25lIn0.e30.",
        `vgl_${"A".repeat(40)}`,
        "AKIAABCDEFGHIJKLMNOP",
      ]);
    default:
      return random.hex(random.int(40));
  }
}

/** Any JSON value, often of the wrong type for where it lands. */
export function hostileJsonValue(random: Random): unknown {
  switch (random.int(9)) {
    case 0:
      return null;
    case 1:
      return random.chance(0.5);
    case 2:
      return random.pick([0, -1, 1.5, 2 ** 53 + 2, -(2 ** 63), 1e308, 5e-324, -0]);
    case 3:
      return [];
    case 4:
      return {};
    case 5:
      return [hostileString(random)];
    case 6:
      return { [hostileString(random)]: hostileString(random) };
    default:
      return hostileString(random);
  }
}

/** Percent-encodes any string; a lone surrogate (which encodeURIComponent refuses) becomes its 3 raw bytes. */
export function percentEncode(value: string): string {
  return value.replace(/[\s\S]/gu, (char) => {
    const code = char.codePointAt(0) ?? 0;
    if (code >= 0xd800 && code <= 0xdfff)
      return `%${(0xe0 | (code >> 12)).toString(16)}%${(0x80 | ((code >> 6) & 0x3f)).toString(16)}%${(0x80 | (code & 0x3f)).toString(16)}`.toUpperCase();
    return encodeURIComponent(char);
  });
}

/** A query-string or path value, percent-encoded so it can be sent; some encodings are broken on purpose. */
export function hostileParam(random: Random): string {
  switch (random.int(8)) {
    case 0:
      return "%00";
    case 1:
      return random.pick(["%ZZ", "%", "%C3%28", "%ED%A0%80", "%FF%FE", "%E2%82"]);
    case 2:
      return encodeURIComponent("x".repeat(random.pick([257, 2000, 20_000])));
    case 3:
      return random.pick(["-1", "0", "1e400", "NaN", "99999999999999999999", "1.5", "abc", ""]);
    default:
      return percentEncode(hostileString(random));
  }
}

/** JSON text no ordinary serializer would write: deep nesting, odd numbers, broken escapes. */
export function hostileJsonText(random: Random, valid: () => unknown): string | Buffer {
  const event = JSON.stringify(valid());
  switch (random.int(14)) {
    case 0: {
      const depth = random.pick([17, 100, 5_000, 100_000]);
      return `{"action_type":"CREATE","resource_type":"r","resource_id":"1","metadata":{"a":${"[".repeat(depth)}${"]".repeat(depth)}}}`;
    }
    case 1:
      return "[".repeat(random.pick([1_000, 100_000]));
    case 2:
      return event.replace(
        /}$/,
        `,"metadata":{"n":${random.pick(["1e400", "-1e400", "1E+999999", "1e-400", "123456789012345678901234567890"])}}}`,
      );
    case 3:
      return event.replace(/}$/, ',"metadata":{"s":"\\ud800"}}');
    case 4:
      return event.replace(/}$/, ',"metadata":{"s":"\\u0000"}}');
    case 5:
      return Buffer.concat([
        Buffer.from(event.slice(0, -1)),
        Buffer.from(',"user_id":"'),
        Buffer.from([0xff, 0xfe, 0xc3, 0x28]),
        Buffer.from('"}'),
      ]);
    case 6:
      return `\ufeff${event}`;
    case 7:
      return `${event}garbage`;
    case 8:
      return event.slice(0, random.int(event.length));
    case 9:
      return event.replace(/}$/, ',"metadata":{"x":NaN}}');
    case 10:
      return event.replace(/^{/, '{"action_type":"DELETE",');
    case 11: {
      // A redaction bomb: thousands of sensitive keys whose redacted paths would outgrow the event.
      const keys = random.pick([1_000, 5_000, 20_000]);
      const prefix = "k".repeat(random.pick([1, 50, 200]));
      const state = Array.from({ length: keys }, (_, i) => `"${prefix}${i}":{"ssn":0}`).join(",");
      return event.replace(/}$/, `,"before_state":{${state}}}`);
    }
    case 12:
      return event.replace(
        /}$/,
        `,"metadata":{"big":"${"x".repeat(random.pick([65_000, 70_000, 300_000]))}"}}`,
      );
    default:
      return `{"__proto__":{"polluted":true},${event.slice(1)}`;
  }
}
