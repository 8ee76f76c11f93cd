// Hostile input at the ingest door, over HTTP against the real api (512 MB heap, as in production):
// whatever the api answers 2xx for, the worker's decoder and store path take; everything else is a
// 4xx naming the field, with nothing queued and the process still up. Each case here was a 202
// followed by a dead letter, a 500, or a crash before.
import { storeEvents } from "@vigil/shared/ingest/store-events";
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

const VALID = { action_type: "UPDATE", resource_type: "invoice", resource_id: "inv-1" };

beforeAll(async () => {
  pipeline = await createTestPipeline();
  api = await pipeline.start("api", { NODE_OPTIONS: "--max-old-space-size=512" });
  const tenant = await pipeline.createTenantWithKey(["ingest", "read"]);
  tenantId = tenant.tenant.id;
  ingestKey = tenant.key;
});
afterAll(async () => pipeline?.close());

const logsUrl = () => `${api.url}/api/v1/logs`;
const bulkUrl = () => `${api.url}/api/v1/logs/bulk`;
const post = (url: string, body: unknown) => requestJson(url, { body, key: ingestKey });
const postRaw = (url: string, rawBody: string) =>
  requestJson(url, { rawBody, key: ingestKey, headers: { "Content-Type": "application/json" } });

function expectProblem(response: JsonResponse, status: number, code: string) {
  expect(response.status).toBe(status);
  expect(response.headers.get("content-type")).toMatch(/^application\/problem\+json/);
  expect(response.body).toMatchObject({ status, code, request_id: expect.any(String) });
}

/** The `errors` entries as "index:path" (or "path" for single events). */
function namedFields(response: JsonResponse): string[] {
  return (response.body.errors ?? []).map((error: { index?: number; path: string }) =>
    error.index === undefined ? error.path : `${error.index}:${error.path}`,
  );
}

async function expectNothingQueuedAndAlive() {
  const { visible, inFlight } = await pipeline.queue.depth();
  expect(visible + inFlight).toBe(0);
  expect(api.process.exitCode).toBeNull();
  expect((await requestJson(`${api.url}/healthz`)).status).toBe(200);
}

/** Takes every message off the queue and decodes it with the worker's codec and limits. */
async function drainQueue(expectAtLeast: number): Promise<EventMessage[]> {
  const decoded: EventMessage[] = [];
  for (let attempt = 0; attempt < 10 && decoded.length < expectAtLeast; attempt++) {
    const messages = await pipeline.queue.receive(10, 1, 30);
    decoded.push(...messages.map((message) => decodeEventMessage(message.Body ?? "")));
    if (messages.length > 0)
      await pipeline.queue.deleteMessages(messages.map((message) => message.ReceiptHandle!));
  }
  return decoded;
}

/** A state holding `count` `{"ssn":0}` under one long key: every item redacted, each 11 bytes longer. */
function ssnBomb(count: number) {
  return { [`k${"x".repeat(999)}`]: Array.from({ length: count }, () => ({ ssn: 0 })) };
}

describe("redaction that grows an event past its limits", () => {
  test("a ~140 KB event of thousands of {ssn:0} is refused with 422 naming each state, not 202'd and dead-lettered", async () => {
    const event = {
      ...VALID,
      before_state: ssnBomb(4600),
      after_state: ssnBomb(4600),
      metadata: ssnBomb(4600),
    };
    expect(Buffer.byteLength(JSON.stringify(event))).toBeGreaterThan(135_000);
    const response = await post(logsUrl(), event);
    expectProblem(response, 422, "VALIDATION_FAILED");
    expect(namedFields(response)).toEqual(["before_state", "after_state", "metadata"]);
    expect(response.body.errors[0].message).toMatch(/after redaction/);
    await expectNothingQueuedAndAlive();
  });

  test("a bulk of eight such events is refused naming every item's states; the api stays up", async () => {
    const event = {
      ...VALID,
      before_state: ssnBomb(4600),
      after_state: ssnBomb(4600),
      metadata: ssnBomb(4600),
    };
    const started = Date.now();
    const response = await post(
      bulkUrl(),
      Array.from({ length: 8 }, () => event),
    );
    expectProblem(response, 422, "VALIDATION_FAILED");
    expect(namedFields(response)).toHaveLength(24);
    expect(namedFields(response)).toContain("7:metadata");
    expect(Date.now() - started).toBeLessThan(10_000);
    await expectNothingQueuedAndAlive();
  });

  test("a valid event next to a bomb in one bulk is not half-stored", async () => {
    const response = await post(bulkUrl(), [VALID, { ...VALID, after_state: ssnBomb(6000) }]);
    expectProblem(response, 422, "VALIDATION_FAILED");
    expect(namedFields(response)).toEqual(["1:after_state"]);
    await expectNothingQueuedAndAlive();
  });

  test("one that still fits once redacted is accepted, and the worker's codec and store path take it", async () => {
    const event = { ...VALID, after_state: ssnBomb(2500), metadata: { password: "hunter2" } };
    const response = await post(logsUrl(), event);
    expect(response.status).toBe(202);
    const events = (await drainQueue(1)).flatMap((message) => message.events);
    expect(events).toHaveLength(1);
    const [queued] = events;
    expect(queued!.redacted).toEqual([`after_state.k${"x".repeat(999)}.*`, "metadata.password"]);
    expect(Buffer.byteLength(JSON.stringify(queued!.after_state))).toBeLessThanOrEqual(64 * 1024);
    const summary = await storeEvents(pipeline.database.db, events);
    expect(summary.stored).toBe(1);
    const rows = await pipeline.database.admin<{ redacted: string[] }[]>`
      select redacted from events where tenant_id = ${tenantId} and id = ${queued!.id}`;
    expect(rows).toHaveLength(1);
    expect(rows[0]!.redacted).toHaveLength(2);
  });
});

describe("parsing defensively", () => {
  const deepState = (levels: number) => `{"a":${"[".repeat(levels)}${"]".repeat(levels)}}`;
  const withState = (state: string) =>
    `{"action_type":"CREATE","resource_type":"x","resource_id":"y","after_state":${state}}`;

  test("JSON nested 100,000 deep in a single event is a 422 naming the field", async () => {
    const response = await postRaw(logsUrl(), withState(deepState(100_000)));
    expectProblem(response, 422, "VALIDATION_FAILED");
    expect(namedFields(response)).toEqual(["after_state"]);
    expect(response.body.errors[0].message).toMatch(/depth/);
    await expectNothingQueuedAndAlive();
  });

  test("JSON nested 100,000 deep in a bulk item, or as the whole body, is a 422", async () => {
    const bulk = await postRaw(bulkUrl(), `[${withState("{}")},${withState(deepState(100_000))}]`);
    expectProblem(bulk, 422, "VALIDATION_FAILED");
    expect(namedFields(bulk)).toEqual(["1:after_state"]);
    const wrapped = await postRaw(bulkUrl(), `{"events":[${withState(deepState(100_000))}]}`);
    expect(namedFields(wrapped)).toEqual(["0:after_state"]);
    const bare = await postRaw(logsUrl(), `${"[".repeat(100_000)}${"]".repeat(100_000)}`);
    expectProblem(bare, 422, "VALIDATION_FAILED");
    expect(namedFields(bare)).toEqual(["0:(body)"]);
    await expectNothingQueuedAndAlive();
  });

  test("8 MiB of empty objects is refused before parsing (413 naming the body); four at once leave the api up", async () => {
    // Parsed and redacted, each `{}` (2 bytes) costs ~120 bytes of heap: ~350 MB for one such body.
    const state = `{"l":[${Array.from({ length: 20_000 }, () => "{}").join(",")}]}`;
    const event = withState(state).replace(
      '"after_state"',
      `"before_state":${state},"metadata":${state},"after_state"`,
    );
    const body = `[${Array.from({ length: Math.floor((8 * 1024 * 1024 - 2) / (event.length + 1)) }, () => event).join(",")}]`;
    const responses = await Promise.all(Array.from({ length: 4 }, () => postRaw(bulkUrl(), body)));
    expect(responses.map((response) => response.status)).toContain(413);
    for (const response of responses) {
      // Beyond the in-flight budget a request is refused before its body is even read (next test).
      if (response.status === 429) continue;
      expectProblem(response, 413, "PAYLOAD_TOO_LARGE");
      expect(namedFields(response)).toEqual(["(body)"]);
    }
    await expectNothingQueuedAndAlive();
  });

  test("concurrent 8 MiB bulks: each is either queued whole (202) or refused with 429 and Retry-After; the api stays up", async () => {
    const event = JSON.stringify({ ...VALID, metadata: { text: "x".repeat(60_000) } });
    const perBody = Math.floor((8 * 1024 * 1024 - 2) / (event.length + 1));
    const body = `[${Array.from({ length: perBody }, () => event).join(",")}]`;
    const responses = await Promise.all(Array.from({ length: 6 }, () => postRaw(bulkUrl(), body)));
    const accepted = responses.filter((response) => response.status === 202);
    expect(accepted.length).toBeGreaterThan(0);
    for (const response of responses) {
      if (response.status === 202) continue;
      expectProblem(response, 429, "RATE_LIMITED");
      expect(response.headers.get("retry-after")).toBe("1");
    }
    let queued = 0;
    for (let attempt = 0; attempt < 50 && queued < accepted.length * perBody; attempt++)
      queued += (await drainQueue(1)).reduce((sum, message) => sum + message.events.length, 0);
    expect(queued).toBe(accepted.length * perBody);
    await expectNothingQueuedAndAlive();
  });

  test("brackets inside strings do not count as nesting", async () => {
    const response = await post(logsUrl(), { ...VALID, metadata: { text: `${"[{".repeat(5000)}\\"` } });
    expect(response.status).toBe(202);
    await drainQueue(1);
  });

  test("1e400 in a state (Infinity once parsed) is a 422 naming the field, single and bulk", async () => {
    const single = await postRaw(logsUrl(), withState('{"amount":1e400}'));
    expectProblem(single, 422, "VALIDATION_FAILED");
    expect(namedFields(single)).toEqual(["after_state"]);
    expect(single.body.errors[0].message).toMatch(/double/);
    const bulk = await postRaw(
      bulkUrl(),
      `[${withState("{}")},{"action_type":"CREATE","resource_type":"x","resource_id":"y","metadata":{"n":[1,-1E+400]}}]`,
    );
    expectProblem(bulk, 422, "VALIDATION_FAILED");
    expect(namedFields(bulk)).toEqual(["1:metadata"]);
    await expectNothingQueuedAndAlive();
  });

  test("the largest and smallest doubles and -0 are stored as sent", async () => {
    const response = await postRaw(
      logsUrl(),
      withState('{"max":1.7976931348623157e308,"min":5e-324,"neg":-0}'),
    );
    expect(response.status).toBe(202);
    const events = (await drainQueue(1)).flatMap((message) => message.events);
    expect((await storeEvents(pipeline.database.db, events)).stored).toBe(1);
    const [row] = await pipeline.database.admin<{ after_state: Record<string, number> }[]>`
      select after_state from events where tenant_id = ${tenantId} and id = ${events[0]!.id}`;
    expect(row!.after_state).toEqual({ max: Number.MAX_VALUE, min: 5e-324, neg: 0 });
  });
});

describe("secrets people actually send never reach the queue or the database", () => {
  const jwt =
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U";
  const secrets = [
    "hunter2-pwd",
    "correct-horse-passphrase",
    "aws-credentials-secret",
    "auth-user:auth-pass",
    "har-authorization-value",
    "sid=har-cookie-value",
    "fetch-headers-authorization",
    jwt,
    `vgl_${"Zz9".repeat(14)}`,
    "AKIAIOSFODNN7EXAMPLE",
    "Bearer 0123456789abcdef0123456789abcdef",
    "-----BEGIN PRIVATE KEY-----",
  ];

  test("short key forms, HAR and fetch header lists, and secret-shaped values are redacted before the queue", async () => {
    const event = {
      ...VALID,
      before_state: { pwd: secrets[0], passphrase: secrets[1], credentials: { key: secrets[2] } },
      after_state: { auth: secrets[3], comment: `called with ${secrets[10]}` },
      metadata: {
        har: {
          headers: [
            { name: "Authorization", value: `Basic ${secrets[4]}` },
            { name: "Cookie", value: secrets[5] },
            { name: "Accept", value: "application/json" },
          ],
        },
        fetch_headers: [["authorization", secrets[6]]],
        id_token: jwt,
        note: `key ${secrets[8]} and ${secrets[9]}`,
        pem: `${secrets[11]}\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----`,
      },
    };
    const response = await post(logsUrl(), event);
    expect(response.status).toBe(202);
    const messages = await drainQueue(1);
    const events = messages.flatMap((message) => message.events);
    const queued = JSON.stringify(messages);
    for (const secret of secrets) expect(queued).not.toContain(secret);
    expect(events[0]!.metadata).toMatchObject({
      har: { headers: [{ value: "[REDACTED]" }, { value: "[REDACTED]" }, { value: "application/json" }] },
      fetch_headers: [["authorization", "[REDACTED]"]],
    });
    expect(await storeEvents(pipeline.database.db, events)).toMatchObject({ stored: 1 });
    const [row] = await pipeline.database.admin<{ text: string }[]>`
      select row_to_json(e)::text as text from events e where tenant_id = ${tenantId} and id = ${events[0]!.id}`;
    for (const secret of secrets) expect(row!.text).not.toContain(secret);
  });
});

describe("with the real worker process", () => {
  test("events at the edges of what the door accepts are stored by the worker (201 with ?wait=true), none dead-lettered", async () => {
    await pipeline.start("worker");
    const key = `k${"x".repeat(999)}`;
    const edges = [
      { ...VALID, after_state: ssnBomb(2500), before_state: ssnBomb(2500), metadata: ssnBomb(2500) },
      { ...VALID, metadata: { blob: "€".repeat(21_000), n: [Number.MAX_VALUE, 5e-324, -0] } },
      {
        ...VALID,
        after_state: Object.fromEntries(Array.from({ length: 400 }, (_, i) => [`password_${i}`, i])),
      },
      {
        ...VALID,
        metadata: { [key]: { deep: { deeper: { token: "Bearer 0123456789abcdef0123456789abcdef" } } } },
      },
    ];
    const redacted: string[][] = [];
    for (const event of edges) {
      const response = await requestJson(`${logsUrl()}?wait=true`, { body: event, key: ingestKey });
      expect(response.status).toBe(201);
      expect(response.body.seq).toBeGreaterThan(0);
      redacted.push(response.body.redacted);
    }
    expect(redacted).toEqual([
      ["before_state.*", "after_state.*", "metadata.*"].map((root) => root.replace("*", `${key}.*`)),
      [],
      ["after_state.*"],
      [`metadata.${key}.deep.deeper.token`],
    ]);
    const dlq = await pipeline.queue.depth(pipeline.queues.dlqUrl);
    expect(dlq.visible + dlq.inFlight).toBe(0);
  });
});
