// Every rule of the event schema (spec §3), exercised through prepareEvents — the one function the
// api calls — so the tests see exactly the errors and defaults a client sees.
import { describe, expect, test } from "vitest";
import { type FieldError, VigilError } from "../src/errors/vigil-error.ts";
import type { NormalizedEvent } from "../src/events/event-schema.ts";
import { type IngestContext, prepareEvents, type RetentionLookup } from "../src/events/prepare-events.ts";
import { REDACTED_VALUE, sensitiveKeyMatcher } from "../src/events/redaction.ts";

const TENANT = "0190a0a0-0000-7000-8000-000000000001";
const OTHER_TENANT = "0190a0a0-0000-7000-8000-000000000002";
const NOW = new Date("2026-06-01T12:00:00.000Z");
const VALID = { action_type: "CREATE", resource_type: "invoice", resource_id: "inv-1" };

const context: IngestContext = {
  tenantId: TENANT,
  isSensitiveKey: sensitiveKeyMatcher(["password", "token"]),
  now: NOW,
};
const noRetention: RetentionLookup = async () => null;

async function prepareOne(item: unknown, overrides: Partial<IngestContext> = {}): Promise<NormalizedEvent> {
  const [event] = await prepareEvents([item], { ...context, ...overrides }, noRetention, { bulk: false });
  return event!;
}

/** The VigilError prepareEvents throws for `items` (fails the test when it does not throw). */
async function rejection(
  items: unknown[],
  options: { bulk?: boolean; retention?: RetentionLookup; context?: Partial<IngestContext> } = {},
) {
  try {
    await prepareEvents(items, { ...context, ...options.context }, options.retention ?? noRetention, {
      bulk: options.bulk ?? false,
    });
  } catch (error) {
    if (error instanceof VigilError) return error;
    throw error;
  }
  throw new Error("expected prepareEvents to reject");
}

async function fieldErrors(extra: Record<string, unknown>): Promise<FieldError[]> {
  const error = await rejection([{ ...VALID, ...extra }]);
  expect(error.code).toBe("VALIDATION_FAILED");
  expect(error.status).toBe(422);
  return error.errors ?? [];
}

async function expectRejected(extra: Record<string, unknown>, path: string, message?: RegExp) {
  const errors = await fieldErrors(extra);
  expect(errors.map((error) => error.path)).toContain(path);
  if (message) expect(errors.find((error) => error.path === path)?.message).toMatch(message);
}

/** An object nested `levels` deep: levels=1 is `{}`. */
function nested(levels: number): Record<string, unknown> {
  let value: Record<string, unknown> = {};
  for (let level = 1; level < levels; level++) value = { child: value };
  return value;
}

describe("defaults", () => {
  test("a minimal event gets every default and the server's id, times, tenant", async () => {
    const event = await prepareOne(VALID);
    expect(event).toMatchObject({
      tenant_id: TENANT,
      occurred_at: NOW.toISOString(),
      received_at: NOW.toISOString(),
      action: "invoice.create",
      user_id: null,
      session_id: null,
      ip_address: null,
      user_agent: null,
      severity: "INFO",
      outcome: "success",
      before_state: null,
      after_state: null,
      metadata: null,
      redacted: [],
    });
    // Server-assigned ids are UUIDv7 (time-ordered).
    expect(event.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(event.payload_hash).toMatch(/^[0-9a-f]{64}$/);
  });

  test("explicit nulls for optional fields mean the same as absent", async () => {
    const event = await prepareOne({
      ...VALID,
      id: null,
      user_id: null,
      severity: null,
      outcome: null,
      metadata: null,
      action: null,
      occurred_at: null,
    });
    expect(event).toMatchObject({
      user_id: null,
      severity: "INFO",
      outcome: "success",
      metadata: null,
      action: "invoice.create",
      occurred_at: NOW.toISOString(),
    });
  });

  test("the default action is built from resource_type and action_type and always matches the action pattern", async () => {
    const event = await prepareOne({ ...VALID, resource_type: "Billing Invoice!", action_type: "DELETE" });
    expect(event.action).toBe("billing_invoice_.delete");
    const long = await prepareOne({ ...VALID, resource_type: "x".repeat(128) });
    expect(long.action).toHaveLength(128);
  });

  test("keeps what the client sent, lower-casing the id and tenant_id", async () => {
    const event = await prepareOne({
      ...VALID,
      id: "0190A0A0-0000-7000-8000-0000000000AA",
      tenant_id: TENANT.toUpperCase(),
      occurred_at: "2026-06-01T13:00:00+02:00",
      action: "invoice.approve:v2",
      user_id: "u-1",
      session_id: "s-1",
      ip_address: "203.0.113.9",
      user_agent: "curl/8",
      severity: "CRITICAL",
      outcome: "failure",
      before_state: { status: "draft" },
      after_state: { status: "approved" },
      metadata: { reason: "month end" },
    });
    expect(event).toMatchObject({
      id: "0190a0a0-0000-7000-8000-0000000000aa",
      tenant_id: TENANT,
      occurred_at: "2026-06-01T11:00:00.000Z",
      action: "invoice.approve:v2",
      user_id: "u-1",
      session_id: "s-1",
      ip_address: "203.0.113.9",
      user_agent: "curl/8",
      severity: "CRITICAL",
      outcome: "failure",
      before_state: { status: "draft" },
      after_state: { status: "approved" },
      metadata: { reason: "month end" },
    });
  });

  test("IPv6 addresses are stored in canonical form so equal addresses hash equally", async () => {
    expect(
      (await prepareOne({ ...VALID, ip_address: "2001:0DB8:0000:0000:0000:0000:0000:0001" })).ip_address,
    ).toBe("2001:db8::1");
    expect((await prepareOne({ ...VALID, ip_address: "::1" })).ip_address).toBe("::1");
  });

  test("redacts secrets in every state and lists their paths", async () => {
    const event = await prepareOne({
      ...VALID,
      before_state: { password: "old" },
      after_state: { cards: [{ token: "t" }] },
      metadata: { headers: { "x-auth-token": "abc" } },
    });
    expect(event.before_state).toEqual({ password: REDACTED_VALUE });
    expect(event.after_state).toEqual({ cards: [{ token: REDACTED_VALUE }] });
    expect(event.metadata).toEqual({ headers: { "x-auth-token": REDACTED_VALUE } });
    expect(event.redacted).toEqual([
      "before_state.password",
      "after_state.cards[0].token",
      "metadata.headers.x-auth-token",
    ]);
    expect(JSON.stringify(event)).not.toMatch(/"old"|"abc"|"t"/);
  });

  test("a retry of the same request has the same payload hash, a changed one a different hash", async () => {
    const first = await prepareOne({ ...VALID, metadata: { a: 1 } });
    const retry = await prepareOne({ metadata: { a: 1 }, ...VALID }, { now: new Date(NOW.getTime() + 1000) });
    const changed = await prepareOne({ ...VALID, metadata: { a: 2 } });
    expect(retry.payload_hash).toBe(first.payload_hash);
    expect(changed.payload_hash).not.toBe(first.payload_hash);
  });
});

describe("occurred_at and its alias created_at", () => {
  test("created_at is accepted as an alias", async () => {
    const event = await prepareOne({ ...VALID, created_at: "2026-05-01T00:00:00Z" });
    expect(event.occurred_at).toBe("2026-05-01T00:00:00.000Z");
    expect(event).not.toHaveProperty("created_at");
  });

  test("both may be sent when they agree; disagreeing values are refused", async () => {
    const event = await prepareOne({
      ...VALID,
      occurred_at: "2026-05-01T00:00:00Z",
      created_at: "2026-05-01T02:00:00+02:00",
    });
    expect(event.occurred_at).toBe("2026-05-01T00:00:00.000Z");
    await expectRejected(
      { occurred_at: "2026-05-01T00:00:00Z", created_at: "2026-05-01T00:00:01Z" },
      "created_at",
      /alias/,
    );
  });

  test("up to 5 minutes in the future is accepted, later is refused (naming the field sent)", async () => {
    const limit = new Date(NOW.getTime() + 5 * 60_000).toISOString();
    expect((await prepareOne({ ...VALID, occurred_at: limit })).occurred_at).toBe(limit);
    const late = new Date(NOW.getTime() + 5 * 60_000 + 1000).toISOString();
    await expectRejected({ occurred_at: late }, "occurred_at", /future/);
    await expectRejected({ created_at: late }, "created_at", /future/);
  });

  test("events older than the tenant's retention are refused; the cutoff is looked up once per tenant", async () => {
    const lookups: string[] = [];
    const retention: RetentionLookup = async (tenantId) => {
      lookups.push(tenantId);
      return new Date("2026-01-01T00:00:00Z");
    };
    const ok = await prepareEvents(
      [{ ...VALID, occurred_at: "2026-01-01T00:00:00Z" }, VALID],
      context,
      retention,
      { bulk: true },
    );
    expect(ok).toHaveLength(2);
    expect(lookups).toEqual([TENANT]);
    const error = await rejection([VALID, { ...VALID, occurred_at: "2025-12-31T23:59:59Z" }], {
      bulk: true,
      retention,
    });
    expect(error.errors).toEqual([
      { index: 1, path: "occurred_at", message: expect.stringMatching(/retention/) },
    ]);
  });

  test.each([
    "2026-05-01",
    "2026-05-01T00:00:00",
    "2026-05-01 00:00:00Z",
    "2026-02-30T00:00:00Z",
    "2026-05-01T25:00:00Z",
    "2026-05-01T00:00:00+99:99",
    "yesterday",
    "1714521600",
  ])("refuses the non-RFC-3339 time %s", async (value) => {
    await expectRejected({ occurred_at: value }, "occurred_at", /RFC 3339/);
  });

  test("refuses a number where a time is expected", async () => {
    await expectRejected({ occurred_at: 1714521600 }, "occurred_at");
  });
});

describe("field rules", () => {
  test.each([
    ["action_type", undefined],
    ["resource_type", undefined],
    ["resource_id", undefined],
  ])("%s is required", async (field) => {
    const item: Record<string, unknown> = { ...VALID };
    delete item[field];
    const error = await rejection([item]);
    expect(error.errors?.map((problem) => problem.path)).toEqual([field]);
  });

  test.each([
    ["action_type", "create"],
    ["action_type", "UPSERT"],
    ["severity", "DEBUG"],
    ["severity", "info"],
    ["outcome", "SUCCESS"],
    ["outcome", "partial"],
  ])("the enum %s refuses %s and lists the allowed values", async (field, value) => {
    await expectRejected({ [field]: value }, field, /must be one of/);
  });

  test.each(["VIEW", "UPDATE", "DELETE"])("action_type %s is accepted", async (actionType) => {
    expect((await prepareOne({ ...VALID, action_type: actionType })).action_type).toBe(actionType);
  });

  test.each(["WARNING", "ERROR"])("severity %s is accepted", async (severity) => {
    expect((await prepareOne({ ...VALID, severity })).severity).toBe(severity);
  });

  test.each([
    "Invoice.approve",
    "invoice approve",
    "invoice/approve",
    "invoice.apprové",
    "",
  ])("action %j is refused", async (action) => {
    await expectRejected({ action }, "action");
  });

  test("action accepts its whole alphabet up to 128 characters", async () => {
    const action = "abc_xyz.0-9:".padEnd(128, "a");
    expect((await prepareOne({ ...VALID, action })).action).toBe(action);
    await expectRejected({ action: `${action}a` }, "action", /128/);
  });

  test.each([
    ["resource_type", 128, true],
    ["resource_id", 256, true],
    ["user_id", 256, false],
    ["session_id", 256, false],
    ["user_agent", 1024, false],
  ] as const)("%s holds up to %i characters", async (field, max, required) => {
    expect((await prepareOne({ ...VALID, [field]: "x".repeat(max) }))[field]).toHaveLength(max);
    await expectRejected({ [field]: "x".repeat(max + 1) }, field, new RegExp(`${max}`));
    // Lengths count characters, not bytes.
    expect((await prepareOne({ ...VALID, [field]: "é".repeat(max) }))[field]).toHaveLength(max);
    if (required) await expectRejected({ [field]: "" }, field, /empty/);
    else expect((await prepareOne({ ...VALID, [field]: "" }))[field]).toBe("");
  });

  test.each([
    "resource_type",
    "resource_id",
    "user_id",
    "session_id",
    "user_agent",
    "action_type",
    "severity",
  ])("%s must be a string", async (field) => {
    await expectRejected({ [field]: 42 }, field);
  });

  test.each([
    "192.0.2.1",
    "0.0.0.0",
    "255.255.255.255",
    "::",
    "::1",
    "2001:db8::8a2e:370:7334",
    "::ffff:192.0.2.1",
  ])("ip_address accepts %s", async (ip) => {
    expect((await prepareOne({ ...VALID, ip_address: ip })).ip_address).not.toBeNull();
  });

  test.each([
    "256.1.1.1",
    "1.2.3",
    "01.2.3.4",
    "1.2.3.4/24",
    "192.0.2.1:80",
    "2001:db8:::1",
    "fe80::1%eth0",
    "localhost",
    "",
    " 192.0.2.1",
  ])("ip_address refuses %j", async (ip) => {
    await expectRejected({ ip_address: ip }, "ip_address", /IPv4 or IPv6/);
  });

  test.each(["id", "tenant_id"])("%s must be a UUID", async (field) => {
    await expectRejected({ [field]: "not-a-uuid" }, field, /UUID/);
    await expectRejected({ [field]: "0190a0a0000070008000000000000001" }, field, /UUID/);
    await expectRejected({ [field]: 7 }, field);
  });

  test("unknown fields are rejected, each one named", async () => {
    const errors = await fieldErrors({ colour: "red", extra: 1 });
    expect(errors).toEqual([
      { path: "colour", message: "unknown field" },
      { path: "extra", message: "unknown field" },
    ]);
  });

  test("server-assigned fields cannot be sent", async () => {
    const errors = await fieldErrors({
      seq: 1,
      hash: "x",
      received_at: "2026-01-01T00:00:00Z",
      redacted: [],
    });
    expect(errors.map((error) => error.path).sort()).toEqual(["hash", "received_at", "redacted", "seq"]);
  });

  test.each([null, "event", 42, [VALID]])("an item that is not an object (%j) is refused", async (item) => {
    const error = await rejection([item]);
    expect(error.code).toBe("VALIDATION_FAILED");
    expect(error.errors?.[0]?.path).toBe("(body)");
  });

  test.each([
    "resource_type",
    "resource_id",
    "user_id",
    "session_id",
    "user_agent",
  ])("U+0000 in %s is refused", async (field) => {
    await expectRejected({ [field]: "a\u0000b" }, field, /U\+0000/);
  });

  test("U+0000 anywhere in a state is refused, in values and in keys", async () => {
    await expectRejected({ metadata: { deep: [{ note: "a\u0000" }] } }, "metadata", /U\+0000/);
    await expectRejected({ after_state: { "k\u0000": 1 } }, "after_state", /U\+0000/);
  });

  test.each([
    "resource_id",
    "user_id",
    "user_agent",
  ] as const)("an unpaired surrogate in %s is refused, a paired one is fine", async (field) => {
    await expectRejected({ [field]: "a\ud800b" }, field, /unpaired surrogates/);
    await expectRejected({ [field]: "a\udc00" }, field, /unpaired surrogates/);
    await expectRejected({ [field]: "\ude00\ud83d" }, field, /unpaired surrogates/);
    expect((await prepareOne({ ...VALID, [field]: "a\ud83d\ude00" }))[field]).toBe("a😀");
  });

  test("an unpaired surrogate in a state key or value is refused (jsonb cannot store it)", async () => {
    await expectRejected({ metadata: { note: ["ok", "\ud800"] } }, "metadata", /unpaired surrogates/);
    await expectRejected({ before_state: { "\udfff": 1 } }, "before_state", /unpaired surrogates/);
    expect((await prepareOne({ ...VALID, metadata: { "😀": "😀" } })).metadata).toEqual({ "😀": "😀" });
  });

  test("every problem of an item is reported at once", async () => {
    const errors = await fieldErrors({ action_type: "NOPE", ip_address: "x", severity: "LOUD", colour: 1 });
    expect(errors.map((error) => error.path).sort()).toEqual([
      "action_type",
      "colour",
      "ip_address",
      "severity",
    ]);
  });
});

describe("JSON states", () => {
  test.each([
    "before_state",
    "after_state",
    "metadata",
  ])("%s nests up to 16 levels, not 17", async (field) => {
    expect((await prepareOne({ ...VALID, [field]: nested(16) }))[field as "metadata"]).toEqual(nested(16));
    await expectRejected({ [field]: nested(17) }, field, /depth must be at most 16/);
  });

  test("arrays count as nesting levels", async () => {
    let value: unknown = 1;
    for (let level = 0; level < 16; level++) value = [value];
    await expectRejected({ metadata: { list: value } }, "metadata", /depth/);
  });

  test.each([
    "before_state",
    "after_state",
    "metadata",
  ])("%s holds up to 64 KiB serialized", async (field) => {
    const fits = { blob: "x".repeat(64 * 1024 - '{"blob":""}'.length) };
    expect(Buffer.byteLength(JSON.stringify(fits))).toBe(64 * 1024);
    expect((await prepareOne({ ...VALID, [field]: fits }))[field as "metadata"]).toEqual(fits);
    await expectRejected({ [field]: { blob: `${fits.blob}x` } }, field, /65536 bytes/);
  });

  test("the 64 KiB limit counts UTF-8 bytes, not characters", async () => {
    await expectRejected({ metadata: { blob: "€".repeat(22_000) } }, "metadata", /bytes/);
  });

  test.each([[[1, 2]], ["text"], [5], [true]])("a state must be an object, not %j", async (value) => {
    await expectRejected({ metadata: value }, "metadata");
  });
});

describe("limits hold for the event as stored, after redaction", () => {
  /** `count` items `{"token":0}`: each grows by 11 bytes when redacted. */
  const tokens = (count: number) => ({ list: Array.from({ length: count }, () => ({ token: 0 })) });

  test("a state that fits as sent but not once redacted is refused naming it", async () => {
    const state = tokens(5000);
    expect(Buffer.byteLength(JSON.stringify(state))).toBeLessThan(64 * 1024);
    await expectRejected({ after_state: state }, "after_state", /after redaction/);
  });

  test("in bulk, the item's index is named and nothing is returned", async () => {
    const error = await rejection([VALID, { ...VALID, metadata: tokens(5000) }], { bulk: true });
    expect(error.errors).toEqual([
      { index: 1, path: "metadata", message: expect.stringMatching(/after redaction/) },
    ]);
  });

  test("a state that still fits once redacted is accepted, with a bounded redacted list", async () => {
    const event = await prepareOne({ ...VALID, after_state: tokens(2500), before_state: { password: "p" } });
    expect(Buffer.byteLength(JSON.stringify(event.after_state))).toBeLessThanOrEqual(64 * 1024);
    expect(event.redacted).toEqual(["before_state.password", "after_state.list.*"]);
  });

  test("a number beyond double range (1e400, Infinity once parsed) is refused naming the state", async () => {
    await expectRejected(JSON.parse('{"after_state":{"amount":1e400}}'), "after_state", /double/);
    await expectRejected({ metadata: { list: [1, -Infinity] } }, "metadata", /double/);
  });
});

describe("requests", () => {
  test("one event may be at most 256 KiB: larger is a 413", async () => {
    const big = {
      ...VALID,
      before_state: { a: "x".repeat(60_000) },
      after_state: { a: "x".repeat(60_000) },
      metadata: { a: "x".repeat(60_000) },
      user_agent: "x",
      resource_id: "x".repeat(256),
    };
    expect(await prepareOne(big)).toBeTruthy();
    const error = await rejection([{ ...big, colour: "y".repeat(100_000) }]);
    expect(error.code).toBe("PAYLOAD_TOO_LARGE");
    expect(error.status).toBe(413);
  });

  test("in bulk, errors carry the item's index and nothing is returned when any item is bad", async () => {
    const error = await rejection(
      [VALID, { ...VALID, severity: "LOUD" }, VALID, { ...VALID, resource_id: "" }],
      { bulk: true },
    );
    expect(error.code).toBe("VALIDATION_FAILED");
    expect(error.errors).toEqual([
      { index: 1, path: "severity", message: expect.stringMatching(/one of/) },
      { index: 3, path: "resource_id", message: "must not be empty" },
    ]);
    expect(error.detail).toMatch(/^2 problems/);
  });

  test("an oversize item in bulk is a 413 naming its index", async () => {
    const error = await rejection([VALID, { ...VALID, metadata: { a: "x".repeat(300 * 1024) } }], {
      bulk: true,
    });
    expect(error.code).toBe("PAYLOAD_TOO_LARGE");
    expect(error.errors?.[0]?.index).toBe(1);
  });

  test("the same id twice in one request is refused", async () => {
    const id = "0190a0a0-0000-7000-8000-0000000000aa";
    const error = await rejection(
      [
        { ...VALID, id },
        { ...VALID, id: id.toUpperCase() },
      ],
      { bulk: true },
    );
    expect(error.errors).toEqual([
      { index: 1, path: "id", message: expect.stringMatching(/more than once/) },
    ]);
  });

  test("a bulk request yields the events in request order", async () => {
    const events = await prepareEvents(
      ["a", "b", "c"].map((resource_id) => ({ ...VALID, resource_id })),
      context,
      noRetention,
      { bulk: true },
    );
    expect(events.map((event) => event.resource_id)).toEqual(["a", "b", "c"]);
    expect(new Set(events.map((event) => event.id)).size).toBe(3);
  });

  test("the error list is capped at 100 entries", async () => {
    const items = Array.from({ length: 150 }, () => ({ ...VALID, severity: "LOUD" }));
    const error = await rejection(items, { bulk: true });
    expect(error.errors).toHaveLength(100);
    expect(error.detail).toMatch(/^150 problems/);
  });
});

describe("tenants", () => {
  test("a tenant_id other than the credential's is a 403, not a validation error", async () => {
    const error = await rejection([{ ...VALID, tenant_id: OTHER_TENANT }]);
    expect(error.code).toBe("TENANT_MISMATCH");
    expect(error.status).toBe(403);
    expect(error.errors).toEqual([{ path: "tenant_id", message: expect.any(String) }]);
  });

  test("the credential's own tenant_id may be sent", async () => {
    expect((await prepareOne({ ...VALID, tenant_id: TENANT })).tenant_id).toBe(TENANT);
  });

  test("platform admins must name the tenant of every event", async () => {
    const error = await rejection([VALID], { context: { tenantId: null } });
    expect(error.errors).toEqual([{ path: "tenant_id", message: expect.stringMatching(/required/) }]);
    const events = await prepareEvents(
      [
        { ...VALID, tenant_id: OTHER_TENANT },
        { ...VALID, tenant_id: TENANT },
      ],
      { ...context, tenantId: null },
      noRetention,
      {
        bulk: true,
      },
    );
    expect(events.map((event) => event.tenant_id)).toEqual([OTHER_TENANT, TENANT]);
  });
});

describe("a state whose top-level key is __proto__", () => {
  test("is refused with the field named instead of being silently dropped", async () => {
    const item = JSON.parse(
      '{"action_type":"CREATE","resource_type":"doc","resource_id":"d1","metadata":{"__proto__":{"x":1},"ok":true}}',
    );
    await expect(
      prepareEvents(
        [item],
        { tenantId: "0193a0b2-0000-7000-8000-000000000001", isSensitiveKey: () => false },
        async () => null,
        { bulk: false },
      ),
    ).rejects.toMatchObject({
      code: "VALIDATION_FAILED",
      errors: [{ path: "metadata.__proto__", message: "the key __proto__ is not allowed" }],
    });
  });
});
