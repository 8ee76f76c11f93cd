// Redaction is the last line between a client's secret and the queue: which keys count as secret,
// which paths are reported, and that the caller's object is left alone.
import { describe, expect, test } from "vitest";
import { loadConfig } from "../src/config/config.ts";
import { REDACTED_VALUE, redactSecrets, sensitiveKeyMatcher } from "../src/events/redaction.ts";

const DEFAULT_KEYS = loadConfig({
  DATABASE_URL: "postgres://localhost/vigil",
  SQS_QUEUE_URL: "http://localhost:4566/q",
}).VIGIL_REDACT_KEYS;
const isSensitive = sensitiveKeyMatcher(DEFAULT_KEYS);

function redact(value: unknown, root = "metadata") {
  const paths: string[] = [];
  return { value: redactSecrets(value, isSensitive, root, paths), paths };
}

describe("sensitiveKeyMatcher with the default list", () => {
  test("the default list is the spec's", () => {
    expect(DEFAULT_KEYS).toEqual([
      "password",
      "passwd",
      "secret",
      "token",
      "api_key",
      "apikey",
      "authorization",
      "cookie",
      "set-cookie",
      "private_key",
      "client_secret",
      "credit_card",
      "card_number",
      "cvv",
      "ssn",
    ]);
  });

  test.each(DEFAULT_KEYS)("matches the listed key %s exactly", (key) => {
    expect(isSensitive(key)).toBe(true);
  });

  test.each([
    "PASSWORD",
    "Authorization",
    "Set-Cookie",
    "set_cookie",
    "API-KEY",
    "Api_Key",
    "private-key",
    "Client-Secret",
    "db_password",
    "password_hash",
    "x-api-key",
    "X-Api-Key",
    "user_ssn",
    "access_token",
    "refresh-token",
    "session_cookie",
    "new_password_confirmation",
    "apiKey",
    "APIKey",
    "clientSecret",
    "cardNumber",
    "creditCardNumber",
    "accessToken",
    "privateKeyPem",
    "dbPassword",
    "x.api.key",
  ])("matches %s (case, - vs _, camelCase, prefix, suffix, inner word)", (key) => {
    expect(isSensitive(key)).toBe(true);
  });

  test.each([
    "user",
    "passwords_count_x",
    "tokens",
    "secretary",
    "cookies",
    "keyboard",
    "description",
    "ssnumber",
    "api",
    "card",
    "id",
  ])("does not match %s (the listed name is not a whole word in it)", (key) => {
    expect(isSensitive(key)).toBe(false);
  });

  test("uses a configured list instead of the default", () => {
    const custom = sensitiveKeyMatcher(["pin", "mother-maiden-name"]);
    expect(custom("pin")).toBe(true);
    expect(custom("card_pin")).toBe(true);
    expect(custom("mother_maiden_name")).toBe(true);
    expect(custom("password")).toBe(false);
  });

  test("answers the same for a key seen before, also after more distinct keys than it remembers", () => {
    const matcher = sensitiveKeyMatcher(["password"]);
    for (let round = 0; round < 2; round++) {
      for (let index = 0; index < 12_000; index++) expect(matcher(`field_${index}`)).toBe(false);
      expect(matcher("db_password")).toBe(true);
      expect(matcher("passwordless")).toBe(false);
    }
  });

  test("an empty list matches nothing", () => {
    const none = sensitiveKeyMatcher([]);
    expect(none("password")).toBe(false);
    expect(none("")).toBe(false);
  });
});

describe("redactSecrets", () => {
  test("replaces values under sensitive keys and reports their exact paths, nested and in arrays", () => {
    const input = {
      headers: { authorization: "Bearer abc", accept: "json", "X-Api-Key": "k1" },
      cards: [{ cvv: "123", last4: "4242" }, { cvv: "456" }],
      password: "hunter2",
      note: "fine",
    };
    const { value, paths } = redact(input);
    expect(value).toEqual({
      headers: { authorization: REDACTED_VALUE, accept: "json", "X-Api-Key": REDACTED_VALUE },
      cards: [{ cvv: REDACTED_VALUE, last4: "4242" }, { cvv: REDACTED_VALUE }],
      password: REDACTED_VALUE,
      note: "fine",
    });
    expect(paths).toEqual([
      "metadata.headers.authorization",
      "metadata.headers.X-Api-Key",
      "metadata.cards[0].cvv",
      "metadata.cards[1].cvv",
      "metadata.password",
    ]);
  });

  test("uses the state's name as the path root, e.g. after_state.cards[0].cvv", () => {
    const { paths } = redact({ cards: [{ cvv: "999" }] }, "after_state");
    expect(paths).toEqual(["after_state.cards[0].cvv"]);
  });

  test("replaces a whole object or array under a sensitive key, and does not descend into it", () => {
    const { value, paths } = redact({ token: { value: "abc", password: "x" }, secret: ["a", "b"] });
    expect(value).toEqual({ token: REDACTED_VALUE, secret: REDACTED_VALUE });
    expect(paths).toEqual(["metadata.token", "metadata.secret"]);
  });

  test("redacts numbers and booleans too, but leaves null alone (there is nothing to hide)", () => {
    const { value, paths } = redact({ cvv: 123, ssn: false, password: null });
    expect(value).toEqual({ cvv: REDACTED_VALUE, ssn: REDACTED_VALUE, password: null });
    expect(paths).toEqual(["metadata.cvv", "metadata.ssn"]);
  });

  test("arrays nested in arrays get one index per level", () => {
    const { paths } = redact({ matrix: [[{ token: "a" }], [{}, { token: "b" }]] });
    expect(paths).toEqual(["metadata.matrix[0][0].token", "metadata.matrix[1][1].token"]);
  });

  test("does not modify its input", () => {
    const input = { headers: { authorization: "Bearer abc" }, list: [{ password: "p" }] };
    const before = structuredClone(input);
    const { value } = redact(input);
    expect(input).toEqual(before);
    expect(value).not.toBe(input);
    expect((value as typeof input).headers).not.toBe(input.headers);
  });

  test("leaves scalars and secret-free objects unchanged and reports nothing", () => {
    expect(redact("password")).toEqual({ value: "password", paths: [] });
    expect(redact({ a: { b: [1, "x", null] } })).toEqual({ value: { a: { b: [1, "x", null] } }, paths: [] });
  });

  test("keeps a JSON key named __proto__ as data instead of turning it into a prototype", () => {
    const input = JSON.parse('{"__proto__": {"password": "p", "keep": 1}}');
    const { value, paths } = redact(input);
    expect(JSON.stringify(value)).toBe(`{"__proto__":{"password":"${REDACTED_VALUE}","keep":1}}`);
    expect(paths).toEqual(["metadata.__proto__.password"]);
    expect(Object.getPrototypeOf(value)).toBe(Object.prototype);
  });
});
