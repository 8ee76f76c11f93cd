// Bad input to the ingest API, over HTTP against the real api process: every mistake gets the right
// 4xx as problem+json naming the field, nothing reaches the queue, no secret leaks, the process stays up.

import { decodeEventMessage, type EventMessage } from "@vigil/shared/queue/event-message";
import {
  createTestPipeline,
  type JsonResponse,
  type RunningService,
  requestJson,
  type TestPipeline,
} from "@vigil/testkit";
import { afterAll, beforeAll, describe, expect, test } from "vitest";

let pipeline: TestPipeline;
let api: RunningService;
let tenantId: string;
let ingestKey: string;
let readKey: string;

const VALID = { action_type: "CREATE", resource_type: "invoice", resource_id: "inv-1" };
const FOREIGN_TENANT = "0190a0a0-0000-7000-8000-0000000000ff";

beforeAll(async () => {
  pipeline = await createTestPipeline();
  api = await pipeline.start("api");
  const tenant = await pipeline.createTenantWithKey(["ingest", "read"]);
  tenantId = tenant.tenant.id;
  ingestKey = tenant.key;
  readKey = (await pipeline.createTenantWithKey(["read"])).key;
});
afterAll(async () => pipeline?.close());

const logsUrl = () => `${api.url}/api/v1/logs`;
const bulkUrl = () => `${api.url}/api/v1/logs/bulk`;

/** Asserts the problem+json contract of spec §5 and, when given, the field the error names. */
function expectProblem(response: JsonResponse, status: number, code: string, path?: string) {
  expect(response.status).toBe(status);
  expect(response.headers.get("content-type")).toMatch(/^application\/problem\+json/);
  const requestId = response.headers.get("x-request-id");
  expect(requestId).toBeTruthy();
  expect(response.body).toMatchObject({
    type: expect.stringMatching(/^https?:\/\//),
    title: expect.any(String),
    status,
    detail: expect.any(String),
    code,
    request_id: requestId,
  });
  if (path !== undefined)
    expect(response.body.errors?.map((error: { path: string }) => error.path)).toContain(path);
}

async function queueDepth(): Promise<number> {
  const { visible, inFlight } = await pipeline.queue.depth();
  return visible + inFlight;
}

async function expectNothingEnqueued() {
  expect(await queueDepth()).toBe(0);
}

/**
 * Takes every message off the queue (there is no worker in most of this file) and decodes it as the
 * worker does: bodies are compressed, so assertions about their content must read the decoded form.
 */
async function drainQueue(expectAtLeast = 1): Promise<EventMessage[]> {
  const decoded: EventMessage[] = [];
  for (let attempt = 0; attempt < 10; attempt++) {
    const messages = await pipeline.queue.receive(10, 1, 30);
    if (messages.length === 0 && decoded.length >= expectAtLeast) break;
    decoded.push(...messages.map((message) => decodeEventMessage(message.Body ?? "")));
    if (messages.length > 0)
      await pipeline.queue.deleteMessages(messages.map((message) => message.ReceiptHandle!));
  }
  return decoded;
}

const post = (
  url: string,
  body: unknown,
  init: { key?: string | null; headers?: Record<string, string> } = {},
) =>
  requestJson(url, {
    body,
    key: init.key === null ? undefined : (init.key ?? ingestKey),
    headers: init.headers,
  });

const postRaw = (
  url: string,
  rawBody: string,
  contentType: string | null = "application/json",
  key = ingestKey,
) =>
  requestJson(url, {
    method: "POST",
    rawBody,
    key,
    headers: contentType ? { "Content-Type": contentType } : {},
  });

/** A JSON object nested `levels` deep: levels=1 is `{}`. */
function nested(levels: number): Record<string, unknown> {
  let value: Record<string, unknown> = {};
  for (let level = 1; level < levels; level++) value = { child: value };
  return value;
}

describe("malformed requests", () => {
  test("malformed JSON is a 400", async () => {
    const response = await postRaw(logsUrl(), '{"action_type": "CREATE", ');
    expectProblem(response, 400, "MALFORMED_JSON", "(body)");
    await expectNothingEnqueued();
  });

  test("a body that is not JSON is a 415 naming Content-Type", async () => {
    const response = await postRaw(logsUrl(), JSON.stringify(VALID), "text/plain");
    expectProblem(response, 415, "UNSUPPORTED_MEDIA_TYPE", "Content-Type");
    const form = await postRaw(bulkUrl(), "action_type=CREATE", "application/x-www-form-urlencoded");
    expectProblem(form, 415, "UNSUPPORTED_MEDIA_TYPE", "Content-Type");
    const none = await postRaw(logsUrl(), JSON.stringify(VALID), null);
    expect(none.status).toBe(415);
    await expectNothingEnqueued();
  });

  test("application/json with a charset is accepted", async () => {
    const response = await postRaw(logsUrl(), JSON.stringify(VALID), "application/json; charset=utf-8");
    expect(response.status).toBe(202);
    expect(await drainQueue()).toHaveLength(1);
  });

  test("an empty body is a 400", async () => {
    expectProblem(await postRaw(logsUrl(), ""), 400, "MALFORMED_JSON", "(body)");
    expectProblem(await postRaw(bulkUrl(), "  \n"), 400, "MALFORMED_JSON", "(body)");
    await expectNothingEnqueued();
  });

  test("an array sent to the single-event endpoint is refused", async () => {
    const response = await post(logsUrl(), [VALID]);
    expectProblem(response, 422, "VALIDATION_FAILED", "(body)");
    expect(response.body.detail).toMatch(/bulk/);
    await expectNothingEnqueued();
  });

  test.each([["null"], ['"event"'], ["42"]])("the JSON value %s as an event is a 422", async (raw) => {
    expectProblem(await postRaw(logsUrl(), raw), 422, "VALIDATION_FAILED");
    await expectNothingEnqueued();
  });
});

describe("schema violations name the field", () => {
  test("an unknown field", async () => {
    const response = await post(logsUrl(), { ...VALID, colour: "red" });
    expectProblem(response, 422, "VALIDATION_FAILED", "colour");
    expect(response.body.errors).toEqual([{ path: "colour", message: "unknown field" }]);
    await expectNothingEnqueued();
  });

  test("a bad enum value", async () => {
    const response = await post(logsUrl(), { ...VALID, action_type: "UPSERT" });
    expectProblem(response, 422, "VALIDATION_FAILED", "action_type");
    expect(response.body.errors[0].message).toMatch(/CREATE, UPDATE, DELETE, VIEW/);
    expectProblem(
      await post(logsUrl(), { ...VALID, severity: "LOUD" }),
      422,
      "VALIDATION_FAILED",
      "severity",
    );
    await expectNothingEnqueued();
  });

  test("a bad IP address", async () => {
    expectProblem(
      await post(logsUrl(), { ...VALID, ip_address: "999.1.1.1" }),
      422,
      "VALIDATION_FAILED",
      "ip_address",
    );
    expectProblem(
      await post(logsUrl(), { ...VALID, ip_address: "2001:db8:::1" }),
      422,
      "VALIDATION_FAILED",
      "ip_address",
    );
    await expectNothingEnqueued();
  });

  test("a bad UUID in id", async () => {
    expectProblem(await post(logsUrl(), { ...VALID, id: "1234" }), 422, "VALIDATION_FAILED", "id");
    await expectNothingEnqueued();
  });

  test("a bad UUID in tenant_id", async () => {
    expectProblem(
      await post(logsUrl(), { ...VALID, tenant_id: "tenant-1" }),
      422,
      "VALIDATION_FAILED",
      "tenant_id",
    );
    await expectNothingEnqueued();
  });

  test("JSON nested 17 levels deep in a state", async () => {
    const response = await post(logsUrl(), { ...VALID, after_state: nested(17) });
    expectProblem(response, 422, "VALIDATION_FAILED", "after_state");
    expect(response.body.errors[0].message).toMatch(/depth/);
    await expectNothingEnqueued();
  });

  test("occurred_at far in the future", async () => {
    const response = await post(logsUrl(), { ...VALID, occurred_at: "2999-01-01T00:00:00Z" });
    expectProblem(response, 422, "VALIDATION_FAILED", "occurred_at");
    await expectNothingEnqueued();
  });

  test("text PostgreSQL cannot store (U+0000, an unpaired surrogate) is refused before the queue", async () => {
    const nul = await postRaw(
      logsUrl(),
      '{"action_type":"CREATE","resource_type":"invoice","resource_id":"a\\u0000b"}',
    );
    expectProblem(nul, 422, "VALIDATION_FAILED", "resource_id");
    const surrogate = await postRaw(
      logsUrl(),
      '{"action_type":"CREATE","resource_type":"invoice","resource_id":"1","metadata":{"note":"\\ud800"}}',
    );
    expectProblem(surrogate, 422, "VALIDATION_FAILED", "metadata");
    await expectNothingEnqueued();
  });

  test("a missing required field", async () => {
    expectProblem(
      await post(logsUrl(), { action_type: "CREATE", resource_type: "invoice" }),
      422,
      "VALIDATION_FAILED",
      "resource_id",
    );
    await expectNothingEnqueued();
  });
});

describe("size limits", () => {
  test("a single event over 256 KiB is a 413", async () => {
    // Under the body limit (the event check is exact), over the event limit.
    const overEvent = await post(logsUrl(), {
      ...VALID,
      metadata: { a: "x".repeat(60_000) },
      before_state: { a: "x".repeat(60_000) },
      after_state: { a: "x".repeat(60_000) },
      user_agent: "x".repeat(1000),
      colour: "x".repeat(90_000),
    });
    expectProblem(overEvent, 413, "PAYLOAD_TOO_LARGE");
    // Far over: refused while reading the body.
    const overBody = await post(logsUrl(), { ...VALID, metadata: { a: "x".repeat(400 * 1024) } });
    expectProblem(overBody, 413, "PAYLOAD_TOO_LARGE", "(body)");
    await expectNothingEnqueued();
  });

  test("a state over 64 KiB is a 422 naming it", async () => {
    expectProblem(
      await post(logsUrl(), { ...VALID, metadata: { a: "x".repeat(70 * 1024) } }),
      422,
      "VALIDATION_FAILED",
      "metadata",
    );
    await expectNothingEnqueued();
  });

  test("a bulk body over 8 MiB is a 413", async () => {
    const item = { ...VALID, metadata: { a: "x".repeat(9 * 1024) } };
    const items = Array.from({ length: 950 }, () => item);
    const raw = JSON.stringify(items);
    expect(Buffer.byteLength(raw)).toBeGreaterThan(8 * 1024 * 1024);
    expectProblem(await postRaw(bulkUrl(), raw), 413, "PAYLOAD_TOO_LARGE", "(body)");
    await expectNothingEnqueued();
  });

  test("a chunked bulk body with no Content-Length is cut off at 8 MiB while reading", async () => {
    const chunk = new TextEncoder().encode(
      `${JSON.stringify({ ...VALID, metadata: { a: "x".repeat(60 * 1024) } })},`,
    );
    let sent = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent === 0) controller.enqueue(new TextEncoder().encode("["));
        if (sent > 12 * 1024 * 1024) return controller.close();
        controller.enqueue(chunk);
        sent += chunk.byteLength;
      },
    });
    const response = await fetch(bulkUrl(), {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-API-Key": ingestKey },
      body,
      duplex: "half",
    } as RequestInit);
    expect(response.status).toBe(413);
    expect(response.headers.get("content-type")).toMatch(/^application\/problem\+json/);
    expect((await response.json()).code).toBe("PAYLOAD_TOO_LARGE");
    await expectNothingEnqueued();
  });

  test("more than 1000 bulk events is refused", async () => {
    const response = await post(
      bulkUrl(),
      Array.from({ length: 1001 }, (_, index) => ({ ...VALID, resource_id: `r-${index}` })),
    );
    expectProblem(response, 413, "PAYLOAD_TOO_LARGE", "events");
    await expectNothingEnqueued();
  });

  test("an empty bulk is refused", async () => {
    expectProblem(await post(bulkUrl(), []), 422, "VALIDATION_FAILED", "events");
    expectProblem(await post(bulkUrl(), { events: [] }), 422, "VALIDATION_FAILED", "events");
    expectProblem(await post(bulkUrl(), { events: [VALID], extra: 1 }), 422, "VALIDATION_FAILED", "(body)");
    expectProblem(await post(bulkUrl(), VALID), 422, "VALIDATION_FAILED", "(body)");
    await expectNothingEnqueued();
  });
});

describe("bulk is all or nothing", () => {
  test("one invalid item among valid ones is a 422 listing index, path and message, and nothing is enqueued", async () => {
    const items = [
      VALID,
      { ...VALID, resource_id: "r-2" },
      { ...VALID, ip_address: "not-an-ip" },
      { ...VALID, resource_id: "r-4" },
    ];
    const response = await post(bulkUrl(), items);
    expectProblem(response, 422, "VALIDATION_FAILED", "ip_address");
    expect(response.body.errors).toEqual([{ index: 2, path: "ip_address", message: expect.any(String) }]);
    expect(await pipeline.queue.receive(10, 1, 30)).toEqual([]);
    await expectNothingEnqueued();
  });

  test("the same shape wrapped as {events:[…]} reports the same", async () => {
    const response = await post(bulkUrl(), { events: [VALID, { ...VALID, colour: 1 }] });
    expect(response.body.errors).toEqual([{ index: 1, path: "colour", message: "unknown field" }]);
    await expectNothingEnqueued();
  });
});

describe("credentials and tenants", () => {
  test("a missing key is a 401", async () => {
    const response = await post(logsUrl(), VALID, { key: null });
    expectProblem(response, 401, "UNAUTHENTICATED");
    expect(response.headers.get("www-authenticate")).toMatch(/^Bearer/);
    await expectNothingEnqueued();
  });

  test("an invalid key is a 401", async () => {
    expectProblem(await post(logsUrl(), VALID, { key: `vgl_${"A".repeat(40)}` }), 401, "INVALID_CREDENTIAL");
    expectProblem(await post(logsUrl(), VALID, { key: "not-a-key" }), 401, "INVALID_CREDENTIAL");
    expectProblem(
      await post(logsUrl(), VALID, { key: null, headers: { Authorization: "Basic dXNlcjpwdw==" } }),
      401,
      "INVALID_CREDENTIAL",
    );
    await expectNothingEnqueued();
  });

  test("ingest with a read-only key is a 403", async () => {
    expectProblem(await post(logsUrl(), VALID, { key: readKey }), 403, "FORBIDDEN");
    expectProblem(await post(bulkUrl(), [VALID], { key: readKey }), 403, "FORBIDDEN");
    await expectNothingEnqueued();
  });

  test("a foreign tenant_id is a 403 naming tenant_id, also inside a bulk", async () => {
    expectProblem(
      await post(logsUrl(), { ...VALID, tenant_id: FOREIGN_TENANT }),
      403,
      "TENANT_MISMATCH",
      "tenant_id",
    );
    const bulk = await post(bulkUrl(), [VALID, { ...VALID, tenant_id: FOREIGN_TENANT }]);
    expectProblem(bulk, 403, "TENANT_MISMATCH", "tenant_id");
    expect(bulk.body.errors[0].index).toBe(1);
    await expectNothingEnqueued();
  });

  test("the credential's own tenant_id is accepted", async () => {
    expect((await post(logsUrl(), { ...VALID, tenant_id: tenantId.toUpperCase() })).status).toBe(202);
    const [message] = await drainQueue();
    expect(message!.tenant_id).toBe(tenantId);
  });
});

describe("the log is append-only", () => {
  test.each(["PUT", "PATCH"])("%s /api/v1/logs/{id} is a 405 with a reason", async (method) => {
    const response = await requestJson(`${logsUrl()}/0190a0a0-0000-7000-8000-000000000001`, {
      method,
      key: ingestKey,
      body: VALID,
    });
    expectProblem(response, 405, "METHOD_NOT_ALLOWED");
    expect(response.body.detail).toMatch(/append-only/);
    expect(response.headers.get("allow")).toBe("GET");
    await expectNothingEnqueued();
  });
});

describe("bad search parameters name the parameter", () => {
  test.each([
    ["colour=red", "colour"],
    ["limit=0", "limit"],
    ["limit=1001", "limit"],
    ["limit=ten", "limit"],
    ["sort=-hash", "sort"],
    ["severity=LOUD", "severity"],
    ["from=yesterday", "from"],
    ["limit=5&limit=6", "limit"],
  ])("GET /api/v1/logs?%s is a 400 naming %s", async (query, parameter) => {
    const response = await requestJson(`${logsUrl()}?${query}`, { key: readKey });
    expectProblem(response, 400, "INVALID_PARAMETER");
    // A repeatable parameter's bad value is reported with its position (`severity.0`).
    expect(response.body.errors.map((error: { path: string }) => error.path.split(".")[0])).toContain(
      parameter,
    );
    expect(response.body.detail).toContain(parameter);
  });
});

describe("request ids", () => {
  test("a client's X-Request-Id is echoed in the header and the problem body", async () => {
    const response = await post(
      logsUrl(),
      { ...VALID, colour: 1 },
      { headers: { "X-Request-Id": "client-req-42" } },
    );
    expect(response.headers.get("x-request-id")).toBe("client-req-42");
    expect(response.body.request_id).toBe("client-req-42");
  });

  test("a success carries one too, and an unusable client id is replaced", async () => {
    const ok = await post(logsUrl(), VALID);
    expect(ok.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
    const replaced = await post(
      logsUrl(),
      { ...VALID, colour: 1 },
      { headers: { "X-Request-Id": "x".repeat(500) } },
    );
    expect(replaced.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
    await drainQueue();
  });
});

describe("secrets", () => {
  const SECRET = "hunter2-very-secret-value-9f3a";

  test("a secret in before_state, after_state or metadata never reaches the queue body", async () => {
    const response = await post(logsUrl(), {
      ...VALID,
      before_state: { password: SECRET },
      after_state: { cards: [{ cvv: SECRET, card_number: SECRET }] },
      metadata: { headers: { Authorization: `Bearer ${SECRET}`, "X-Api-Key": SECRET }, clientSecret: SECRET },
    });
    expect(response.status).toBe(202);
    const bulk = await post(bulkUrl(), [
      { ...VALID, metadata: { db_password: SECRET } },
      { ...VALID, after_state: { accessToken: SECRET } },
    ]);
    expect(bulk.status).toBe(202);
    const messages = await drainQueue(2);
    expect(messages.length).toBeGreaterThanOrEqual(2);
    const events = messages.flatMap((message) => message.events);
    expect(events).toHaveLength(3);
    // The decoded events, not the compressed bodies, where a secret would be readable.
    const queued = JSON.stringify(events);
    expect(queued).toContain('"resource_id":"inv-1"');
    expect(queued).not.toContain(SECRET);
    expect(events.find((event) => event.id === response.body.id)!.redacted).toEqual([
      "before_state.password",
      "after_state.cards[0].cvv",
      "after_state.cards[0].card_number",
      "metadata.headers.Authorization",
      "metadata.headers.X-Api-Key",
      "metadata.clientSecret",
    ]);
  });

  test("a request that fails validation while carrying a secret does not echo it", async () => {
    const cases = [
      await post(logsUrl(), { ...VALID, severity: SECRET, metadata: { password: SECRET } }),
      await post(logsUrl(), { ...VALID, colour: SECRET, metadata: { token: SECRET } }),
      await post(logsUrl(), { ...VALID, ip_address: SECRET }),
      await post(logsUrl(), { ...VALID, metadata: SECRET }),
      await post(bulkUrl(), [VALID, { ...VALID, action_type: SECRET, after_state: { password: SECRET } }]),
      await postRaw(logsUrl(), `{"metadata":{"password":"${SECRET}"},`),
      await postRaw(logsUrl(), `{"password":"${SECRET}" oops}`),
    ];
    for (const response of cases) {
      expect(response.status).toBeGreaterThanOrEqual(400);
      expect(response.status).toBeLessThan(500);
      expect(JSON.stringify(response.body)).not.toContain(SECRET);
      expect(JSON.stringify(response.body)).not.toContain("hunter2");
    }
    await expectNothingEnqueued();
  });

  test("a secret never appears in the api's output", async () => {
    expect(api.output()).not.toContain("hunter2");
  });
});

describe("trailing slashes", () => {
  test("POST /api/v1/logs/ and /api/v1/logs/bulk/ work", async () => {
    expect((await post(`${logsUrl()}/`, VALID)).status).toBe(202);
    const bulk = await post(`${bulkUrl()}/`, [VALID, VALID]);
    expect(bulk.status).toBe(202);
    expect(bulk.body.accepted).toBe(2);
    const events = (await drainQueue(1)).flatMap((message) => message.events);
    expect(events).toHaveLength(3);
  });

  test("bad input on a trailing-slash path is refused the same way", async () => {
    expectProblem(await post(`${logsUrl()}/`, { ...VALID, colour: 1 }), 422, "VALIDATION_FAILED", "colour");
    expectProblem(await post(`${bulkUrl()}/`, [{ ...VALID, colour: 1 }]), 422, "VALIDATION_FAILED", "colour");
    await expectNothingEnqueued();
  });
});

describe("the api survives all of it", () => {
  test("GET /healthz is still 200 and the process has not exited", async () => {
    const response = await fetch(`${api.url}/healthz`);
    expect(response.status).toBe(200);
    expect(api.process.exitCode).toBeNull();
  });
});

// Last: the worker drains the queue from here on, so the "nothing enqueued" checks above stay exact.
describe("?wait=true", () => {
  beforeAll(async () => {
    await pipeline.start("worker");
  });

  test("a single POST with ?wait=true returns 201 with the stored event, seq and hash", async () => {
    const id = "0190a0a0-0000-7000-8000-0000000000a1";
    const response = await post(`${logsUrl()}?wait=true`, { ...VALID, id, metadata: { password: "p" } });
    expect(response.status).toBe(201);
    expect(response.body).toMatchObject({
      id,
      tenant_id: tenantId,
      resource_id: "inv-1",
      metadata: { password: "[REDACTED]" },
      redacted: ["metadata.password"],
    });
    expect(response.body.seq).toEqual(expect.any(Number));
    expect(response.body.seq).toBeGreaterThanOrEqual(1);
    expect(response.body.hash).toMatch(/^[0-9a-f]{64}$/);
  });

  test("?wait with a value other than true/false is a 400", async () => {
    expectProblem(await post(`${logsUrl()}?wait=yes`, VALID), 400, "INVALID_PARAMETER", "wait");
  });
});
