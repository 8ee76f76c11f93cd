// Redaction is the last line between a client's secret and the queue: which keys count as secret,
// which paths are reported, and that the caller's object is left alone.
import { describe, expect, test } from "vitest";
import { loadConfig } from "../src/config/config.ts";
import {
  looksLikeSecret,
  REDACTED_LIST_LIMITS,
  REDACTED_VALUE,
  RedactedPathList,
  redactSecrets,
  redactValue,
  sensitiveKeyMatcher,
} from "../src/events/redaction.ts";

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
  test("the default list is the spec's, with the short forms people send", () => {
    expect(DEFAULT_KEYS).toEqual([
      "password",
      "passwd",
      "pwd",
      "passphrase",
      "secret",
      "token",
      "api_key",
      "apikey",
      "authorization",
      "auth",
      "credentials",
      "cookie",
      "cookies",
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
    "author",
    "oauth_provider",
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

describe("what people actually send", () => {
  test.each([
    ["pwd", { pwd: "hunter2" }],
    ["passphrase", { ssh: { passphrase: "correct horse" } }],
    ["credentials", { aws: { credentials: { id: "x", secret_key: "y" } } }],
    ["auth", { auth: "user:pass", authMethod: "basic" }],
    ["cookies", { cookies: [{ name: "sid", value: "abc" }] }],
  ])("the short form %s is redacted", (_, input) => {
    const { value, paths } = redact(input);
    expect(JSON.stringify(value)).not.toMatch(/hunter2|correct horse|user:pass|"abc"|"y"/);
    expect(paths.length).toBeGreaterThan(0);
  });

  test("HAR header and cookie lists: the value of a pair whose name is sensitive", () => {
    const { value, paths } = redact({
      request: {
        headers: [
          { name: "Authorization", value: "Basic dXNlcjpwYXNz" },
          { name: "Accept", value: "application/json" },
          { name: "Cookie", value: "sid=s3cr3t" },
          { name: "X-Api-Key", value: null },
        ],
      },
      tags: [
        { Key: "db_password", Value: "p4ss" },
        { Key: "team", Value: "core" },
      ],
    });
    expect(value).toEqual({
      request: {
        headers: [
          { name: "Authorization", value: REDACTED_VALUE },
          { name: "Accept", value: "application/json" },
          { name: "Cookie", value: REDACTED_VALUE },
          { name: "X-Api-Key", value: null },
        ],
      },
      tags: [
        { Key: "db_password", Value: REDACTED_VALUE },
        { Key: "team", Value: "core" },
      ],
    });
    expect(paths).toEqual([
      "metadata.request.headers[0].value",
      "metadata.request.headers[2].value",
      "metadata.tags[0].Value",
    ]);
  });

  test("fetch Headers / Map entries dumps: [name, value] pairs in an array", () => {
    const { value, paths } = redact({
      headers: [
        ["authorization", "Basic dXNlcjpwYXNz"],
        ["content-type", "text/plain"],
        ["set-cookie", "sid=1"],
      ],
      pair: ["password", "left alone: not inside a list of pairs"],
    });
    expect(value).toEqual({
      headers: [
        ["authorization", REDACTED_VALUE],
        ["content-type", "text/plain"],
        ["set-cookie", REDACTED_VALUE],
      ],
      pair: ["password", "left alone: not inside a list of pairs"],
    });
    expect(paths).toEqual(["metadata.headers[0][1]", "metadata.headers[2][1]"]);
  });

  const jwt =
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4ifQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c";
  test.each([
    ["a bearer token", "Bearer 8f14e45fceea167a5a36dedd4bea2543"],
    ["a bearer token in a sentence", "retrying with bearer abcdefghijklmnopqrstuvwxyz0123"],
    ["a JWT", jwt],
    ["a JWT in a URL", `https://app.example.com/callback?id_token=${jwt}&state=1`],
    ["a Vigil API key", `vgl_${"A1b2C3d4".repeat(5)}`],
    ["an AWS access key id", "AKIAIOSFODNN7EXAMPLE"],
    ["an AWS temporary access key id", "key=ASIAY34FZKBOKMUTVV7A"],
    ["a PEM private key", "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA\n-----END RSA PRIVATE KEY-----"],
    ["an OpenSSH private key", "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEA"],
  ])("a value that is a secret whatever its key: %s", (_, secret) => {
    expect(looksLikeSecret(secret)).toBe(true);
    const { value, paths } = redact({ note: secret, list: ["ok", secret] });
    expect(value).toEqual({ note: REDACTED_VALUE, list: ["ok", REDACTED_VALUE] });
    expect(paths).toEqual(["metadata.note", "metadata.list[1]"]);
  });

  test.each([
    "Bearer tokens expire after an hour",
    "the bearer of this letter",
    "eyJ is how base64 JSON starts",
    "AKIA followed by too few",
    "vgl_short",
    "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE",
    "-----BEGIN CERTIFICATE-----",
    "an ordinary description of what happened to invoice 42",
  ])("ordinary text is kept: %s", (text) => {
    expect(looksLikeSecret(text)).toBe(false);
    expect(redact({ note: text })).toEqual({ value: { note: text }, paths: [] });
  });
});

describe("the redacted list is bounded", () => {
  const { maxPaths, maxChars } = REDACTED_LIST_LIMITS;

  function redactBounded(value: unknown, root = "after_state") {
    const list = new RedactedPathList();
    const copy = redactValue(value, isSensitive, root, list);
    return { value: copy, paths: list.toList() };
  }

  function expectWithinLimits(paths: string[]) {
    expect(paths.length).toBeLessThanOrEqual(maxPaths);
    expect(paths.reduce((sum, path) => sum + path.length, 0)).toBeLessThanOrEqual(maxChars);
  }

  test("up to the limit every path is listed exactly, once, in document order", () => {
    const items = Array.from({ length: maxPaths }, () => ({ ssn: 0 }));
    const { paths } = redactBounded({ items });
    expect(paths).toHaveLength(maxPaths);
    expect(paths[0]).toBe("after_state.items[0].ssn");
    expect(paths.at(-1)).toBe(`after_state.items[${maxPaths - 1}].ssn`);
  });

  test("thousands of {ssn:0} under a long key collapse to the subtree that holds them", () => {
    const key = "k".repeat(2000);
    const state = { [key]: Array.from({ length: 6000 }, () => ({ ssn: 0 })), other: { password: "p" } };
    const { value, paths } = redactBounded(state);
    expect(paths).toEqual([`after_state.${key}.*`, "after_state.other.*"]);
    expectWithinLimits(paths);
    expect(
      (value as Record<string, Array<{ ssn: unknown }>>)[key]!.every((item) => item.ssn === REDACTED_VALUE),
    ).toBe(true);
  });

  test("many distinct subtrees collapse level by level, down to one entry per state", () => {
    const state = Object.fromEntries(
      Array.from({ length: 1000 }, (_, index) => [`a${index}`, { ssn: index }]),
    );
    expect(redactBounded(state).paths).toEqual(["after_state.*"]);
    const twoLevels = { x: state, y: { password: "p" } };
    expect(redactBounded(twoLevels).paths).toEqual(["after_state.x.*", "after_state.y.*"]);
  });

  test("a path longer than the whole budget is never listed as it is", () => {
    const key = `password_${"x".repeat(maxChars)}`;
    const { value, paths } = redactBounded({ [key]: "hunter2" });
    expect(value).toEqual({ [key]: REDACTED_VALUE });
    expect(paths).toEqual(["after_state.*"]);
  });

  test("one list spans the three states of an event", () => {
    const list = new RedactedPathList();
    const many = { list: Array.from({ length: 200 }, () => ({ cvv: 1 })) };
    redactValue({ password: "p" }, isSensitive, "before_state", list);
    redactValue(many, isSensitive, "after_state", list);
    redactValue({ token: "t" }, isSensitive, "metadata", list);
    expect(list.toList()).toEqual(["before_state.password", "after_state.list.*", "metadata.token"]);
  });

  test("no redaction, no list", () => {
    expect(new RedactedPathList().toList()).toEqual([]);
  });
});
