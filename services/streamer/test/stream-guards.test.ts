// The stream's defences: refusals before the upgrade (credential, scope, tenant, filters, since,
// origin, connection limits), a viewer's pins that narrow its stream and cannot be widened, a consumer that never reads (closed with 4008 while the streamer's
// memory stays flat), a dropped LISTEN connection, and the operational endpoints.
import { readFileSync } from "node:fs";
import { issueAccessToken } from "@vigil/shared/auth/access-tokens";
import { SigningKeyRing } from "@vigil/shared/auth/signing-keys";
import { STREAM_CLOSE_CODES } from "@vigil/shared/stream/stream-protocol";
import { signScopedToken } from "@vigil/shared/viewer/viewer-tokens";
import { createTestPipeline, type RunningService, requestJson, type TestPipeline } from "@vigil/testkit";
import { afterAll, beforeAll, expect, test } from "vitest";
import { openStream, type StreamClientOptions, StreamRefused } from "./stream-client.ts";
import { postEvents, waitForStored } from "./stream-fixtures.ts";

let pipeline: TestPipeline;
let api: RunningService;
let streamer: RunningService;
beforeAll(async () => {
  pipeline = await createTestPipeline();
  [api, streamer] = await Promise.all([
    pipeline.start("api"),
    pipeline.start("streamer"),
    pipeline.start("worker"),
  ]);
});
afterAll(async () => pipeline?.close());

async function refusal(url: string, options: StreamClientOptions): Promise<StreamRefused> {
  const outcome = await openStream(url, options).then(
    (client) => {
      client.close();
      return new Error("the stream was opened");
    },
    (error: unknown) => error,
  );
  if (!(outcome instanceof StreamRefused)) throw outcome;
  return outcome;
}

function rssKilobytes(pid: number): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return Number(match?.[1]);
}

async function metricValue(url: string, name: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const line = text.split("\n").find((row) => row.startsWith(`${name}{`) || row.startsWith(`${name} `));
  return line ? Number(line.split(" ").at(-1)) : Number.NaN;
}

test("bad credentials, scopes, tenants, filters and positions are refused before the upgrade, naming the reason", async () => {
  const { tenant, key } = await pipeline.createTenantWithKey(["read"]);
  const ingestOnly = await pipeline.createTenantWithKey(["ingest"]);
  const other = await pipeline.createTenantWithKey();
  await postEvents(api.url, other.key, 3);
  await waitForStored(pipeline.database.admin, other.tenant.id, 3);
  void tenant; // the read key's own tenant stays empty: `since` > 0 is beyond its log

  const cases: Array<[string, StreamClientOptions, number, string, string?]> = [
    ["no credential", {}, 401, "UNAUTHENTICATED"],
    ["unknown API key", { token: `vgl_${"x".repeat(40)}` }, 401, "INVALID_CREDENTIAL"],
    ["a token that is no JWT", { token: "not-a-jwt" }, 401, "INVALID_CREDENTIAL"],
    [
      "no vigil.v1 subprotocol",
      { protocols: [`bearer.${key}`] },
      400,
      "BAD_REQUEST",
      "Sec-WebSocket-Protocol",
    ],
    ["ingest-only key", { token: ingestOnly.key }, 403, "FORBIDDEN"],
    [
      "another tenant's id",
      { token: key, query: { tenant_id: other.tenant.id } },
      403,
      "TENANT_MISMATCH",
      "tenant_id",
    ],
    ["bad severity", { token: key, query: { severity: "LOUD" } }, 400, "INVALID_PARAMETER", "severity.0"],
    ["full-text q (not streamable)", { token: key, query: { q: "invoice" } }, 400, "INVALID_PARAMETER", "q"],
    ["sort (not streamable)", { token: key, query: { sort: "seq" } }, 400, "INVALID_PARAMETER", "sort"],
    ["negative since", { token: key, query: { since: -1 } }, 400, "INVALID_PARAMETER", "since"],
    ["non-numeric since", { token: key, query: { since: "abc" } }, 400, "INVALID_PARAMETER", "since"],
    ["since beyond the tenant's log", { token: key, query: { since: 5 } }, 400, "INVALID_PARAMETER", "since"],
    [
      "from after to",
      { token: key, query: { from: "2026-02-01T00:00:00Z", to: "2026-01-01T00:00:00Z" } },
      400,
      "INVALID_PARAMETER",
      "from",
    ],
  ];
  for (const [name, options, status, code, path] of cases) {
    const refused = await refusal(streamer.url, options);
    expect({ name, status: refused.status, code: refused.body.code }).toEqual({ name, status, code });
    expect(refused.body.detail, name).toBeTruthy();
    if (path)
      expect(
        refused.body.errors?.map((error) => error.path),
        name,
      ).toContain(path);
  }
  // The same key with valid input opens a stream, and sees nothing of the other tenant.
  const client = await openStream(streamer.url, { token: key, query: { since: 0 } });
  await client.waitFor(() => client.ready !== null);
  expect(client.ready).toEqual({ seq: 0, afterEvents: 0 });
  expect(client.seqs).toEqual([]);
  client.close();
  // A plain GET on the stream path is not an upgrade; the process stays up throughout.
  const plain = await requestJson(`${streamer.url}/api/v1/logs/stream`, { key });
  expect(plain.status).toBe(400);
  expect(plain.headers.get("content-type")).toContain("application/problem+json");
  expect((await fetch(`${streamer.url}/healthz`)).status).toBe(200);
});

test("JWTs: a platform admin streams the tenant it names, must name one, and an expired token is refused", async () => {
  const { tenant, key } = await pipeline.createTenantWithKey();
  await postEvents(api.url, key, 5);
  await waitForStored(pipeline.database.admin, tenant.id, 5);
  const login = await requestJson(`${api.url}/api/v1/auth/token`, {
    body: { grant_type: "password", username: "admin@localhost", password: "admin-password-for-tests" },
  });
  expect(login.status).toBe(200);
  const adminToken: string = login.body.access_token;

  const client = await openStream(streamer.url, {
    token: adminToken,
    query: { tenant_id: tenant.id, since: 2 },
  });
  await client.waitFor(() => client.ready !== null);
  expect(client.seqs).toEqual([3, 4, 5]);
  expect(client.events.every((event) => event.tenant_id === tenant.id)).toBe(true);
  client.close();

  const unnamed = await refusal(streamer.url, { token: adminToken });
  expect([unnamed.status, unnamed.body.code, unnamed.body.errors?.[0]?.path]).toEqual([
    400,
    "INVALID_PARAMETER",
    "tenant_id",
  ]);

  // Signed with the real key for the same admin, but two minutes past its expiry.
  const adminId = JSON.parse(Buffer.from(adminToken.split(".")[1]!, "base64url").toString()).sub as string;
  const keys = new SigningKeyRing(pipeline.database.admin, { accessTokenTtlSeconds: 900 });
  const { token: expired } = await issueAccessToken(
    keys,
    { VIGIL_JWT_ISSUER: "vigil", VIGIL_JWT_AUDIENCE: "vigil-api", VIGIL_ACCESS_TOKEN_TTL_SECONDS: -120 },
    { id: adminId, tenant_id: null, role: "admin" },
  );
  const refused = await refusal(streamer.url, { token: expired, query: { tenant_id: tenant.id } });
  expect([refused.status, refused.body.code]).toEqual([401, "INVALID_CREDENTIAL"]);
});

test("a stream token carrying viewer pins delivers only events inside them, backfill and live; a filter narrows, never widens", async () => {
  const { tenant, key } = await pipeline.createTenantWithKey();
  // makeEvent(i): user_id user-(i % 7), resource_type invoice when i % 3 = 0, severity by (i >> 2) % 4.
  const pins = { user_id: "user-3", resource_type: "invoice" };
  const keys = new SigningKeyRing(pipeline.database.admin, { accessTokenTtlSeconds: 900 });
  const { token } = await signScopedToken(
    keys,
    { VIGIL_JWT_ISSUER: "vigil", VIGIL_JWT_AUDIENCE: "vigil-api" },
    { kind: "stream", tenantId: tenant.id, subject: "user:pins-test", pins },
    300,
  );
  const readyStream = async (credential: string, query: Record<string, string>) => {
    const client = await openStream(streamer.url, { token: credential, query });
    await client.waitFor(() => client.ready !== null, 10_000);
    return client;
  };

  await postEvents(api.url, key, 120);
  await waitForStored(pipeline.database.admin, tenant.id, 120, 30_000);
  const pinned = await readyStream(token, { since: "0" });
  const restated = await readyStream(token, { since: "0", user_id: "user-3" });
  const narrowed = await readyStream(token, { since: "0", severity: "ERROR" });
  const everything = await readyStream(key, { since: "0" });
  await postEvents(api.url, key, 120, { start: 120 });
  await waitForStored(pipeline.database.admin, tenant.id, 240, 30_000);
  await everything.waitFor(() => everything.seqs.length === 240, 20_000);

  const sql = pipeline.database.admin;
  const seqsWhere = async (severity: string | null) =>
    (
      await sql<{ seq: number }[]>`
        select seq from events where tenant_id = ${tenant.id} and user_id = ${pins.user_id}
          and resource_type = ${pins.resource_type} ${severity ? sql`and severity = ${severity}` : sql``}
        order by seq`
    ).map((row) => Number(row.seq));
  const [inside, insideErrors] = [await seqsWhere(null), await seqsWhere("ERROR")];
  // Both halves exist, so backfill and live are each checked, and the narrowing keeps some but not all.
  expect(inside.filter((seq) => seq <= 120).length).toBeGreaterThan(0);
  expect(inside.filter((seq) => seq > 120).length).toBeGreaterThan(0);
  expect(insideErrors.length).toBeGreaterThan(0);
  expect(insideErrors.length).toBeLessThan(inside.length);

  for (const [client, expected] of [
    [pinned, inside],
    [restated, inside],
    [narrowed, insideErrors],
  ] as const) {
    // Every event reached the unpinned stream already; a moment more lets any stray one arrive too.
    await client.waitFor(() => client.seqs.length >= expected.length, 10_000);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(client.seqs).toEqual(expected);
    expect(
      client.events.every((event) => event.user_id === "user-3" && event.resource_type === "invoice"),
    ).toBe(true);
    client.close();
  }
  everything.close();

  // Widening is refused before the upgrade, naming the pinned field.
  const widening: Array<Record<string, string>> = [
    { user_id: "user-4" },
    { resource_type: "user", since: "0" },
  ];
  for (const query of widening) {
    const refused = await refusal(streamer.url, { token, query });
    expect(refused.status).toBe(403);
    expect(refused.body.errors?.[0]?.path).toBe(Object.keys(query)[0]);
  }
});

test("origin allow-list and connection limits are enforced before the upgrade", async () => {
  const limited = await pipeline.start("streamer", {
    STREAM_ALLOWED_ORIGINS: "https://dash.example",
    STREAM_MAX_CONNECTIONS: "3",
    STREAM_MAX_CONNECTIONS_PER_TENANT: "2",
  });
  const a = await pipeline.createTenantWithKey(["read"]);
  const b = await pipeline.createTenantWithKey(["read"]);
  const foreign = await refusal(limited.url, { token: a.key, headers: { Origin: "https://evil.example" } });
  expect([foreign.status, foreign.body.code]).toEqual([403, "FORBIDDEN"]);
  expect(foreign.body.detail).toContain("Origin");

  const open = [
    await openStream(limited.url, { token: a.key, headers: { Origin: "https://dash.example" } }),
    await openStream(limited.url, { token: a.key }), // no Origin: a non-browser client
  ];
  const perTenant = await refusal(limited.url, { token: a.key });
  expect([perTenant.status, perTenant.body.code]).toEqual([429, "RATE_LIMITED"]);
  open.push(await openStream(limited.url, { token: b.key }));
  const perProcess = await refusal(limited.url, { token: b.key });
  expect([perProcess.status, perProcess.body.code]).toEqual([429, "RATE_LIMITED"]);
  expect(await metricValue(limited.url, "vigil_stream_connections")).toBe(3);

  // Closing one frees its slot.
  open[0]!.close();
  await open[0]!.closed;
  await new Promise((resolve) => setTimeout(resolve, 100));
  open.push(await openStream(limited.url, { token: a.key }));
  for (const client of open) client.close();
});

test("a consumer that never reads is closed with 4008 while 50,000 events reach the others and memory stays bounded", async () => {
  // A small V8 heap keeps garbage-collector headroom out of the RSS measurement, so what remains is
  // what the streamer holds on purpose (buffers are outside the heap and still counted in RSS).
  const lean = await pipeline.start("streamer", {
    NODE_OPTIONS: "--max-old-space-size=96 --max-semi-space-size=2",
  });
  const { tenant, key } = await pipeline.createTenantWithKey();
  const readers = [
    await openStream(lean.url, { token: key, keep: "seq" }),
    await openStream(lean.url, { token: key, keep: "seq", query: { severity: "ERROR" } }),
  ];
  const stalled = await openStream(lean.url, { token: key, keep: "seq" });
  await Promise.all([...readers, stalled].map((client) => client.waitFor(() => client.ready !== null)));
  // Stop reading from the socket: the kernel buffers fill, then the server's own buffer does.
  (stalled.ws as unknown as { _socket: { pause(): void; resume(): void } })._socket.pause();

  const baseline = rssKilobytes(lean.pid);
  let peak = baseline;
  const sampler = setInterval(() => {
    const rss = rssKilobytes(lean.pid);
    peak = Math.max(peak, rss);
  }, 100);
  const started = Date.now();
  // Once the server has given up on the stalled client, it reads again (before ws's 30 s close
  // timeout would cut the socket): it must find its buffered events, the reason, then 4008.
  const resumeAfterDrop = (async () => {
    while ((await metricValue(lean.url, "vigil_stream_slow_consumer_closes_total")) < 1)
      await new Promise((resolve) => setTimeout(resolve, 200));
    (stalled.ws as unknown as { _socket: { resume(): void } })._socket.resume();
  })();
  try {
    await postEvents(api.url, key, 50_000, { parallel: 3, padding: 1000 });
    await waitForStored(pipeline.database.admin, tenant.id, 50_000, 150_000);
    await readers[0]!.waitFor(() => readers[0]!.seqs.length >= 50_000, 60_000);
    await readers[1]!.waitFor(() => readers[1]!.seqs.length >= 12_500, 60_000);
  } finally {
    clearInterval(sampler);
  }
  console.log(
    `50,000 events (~1.6 KB each) streamed in ${Date.now() - started} ms; streamer RSS ${baseline} kB → peak ${peak} kB`,
  );
  expect(readers[0]!.seqs.length).toBe(50_000);
  expect(readers[0]!.seqs.at(-1)).toBe(50_000);
  expect(readers[1]!.seqs.length).toBe(Math.round(50_000 / 4)); // one severity in four
  // ~80 MB flowed; a server that buffered for the stalled client would have grown by most of it.
  expect(peak - baseline).toBeLessThan(32 * 1024);
  expect(await metricValue(lean.url, "vigil_stream_slow_consumer_closes_total")).toBe(1);

  await resumeAfterDrop;
  const closed = await stalled.closed;
  expect(closed.code).toBe(STREAM_CLOSE_CODES.slowConsumer);
  expect(stalled.errors.map((error) => error.code)).toEqual(["SLOW_CONSUMER"]);
  const lastSeen = stalled.seqs.at(-1) ?? 0;
  expect(stalled.seqs).toEqual(Array.from({ length: lastSeen }, (_, i) => i + 1));
  expect(lastSeen).toBeLessThan(50_000);
  // ... and resumes with since: exactly the rest.
  const resumed = await openStream(lean.url, { token: key, keep: "seq", query: { since: lastSeen } });
  await resumed.waitFor(() => resumed.ready !== null, 60_000);
  expect(resumed.seqs.length).toBe(50_000 - lastSeen);
  expect(resumed.seqs[0]).toBe(lastSeen + 1);
  expect(resumed.seqs.at(-1)).toBe(50_000);
  for (const client of [...readers, resumed]) client.close();
}, 180_000);

test("a dropped LISTEN connection is re-established and the events committed meanwhile are delivered", async () => {
  const { tenant, key } = await pipeline.createTenantWithKey();
  const client = await openStream(streamer.url, { token: key, keep: "seq" });
  await client.waitFor(() => client.ready !== null);
  await postEvents(api.url, key, 100);
  await client.waitFor(() => client.seqs.length >= 100);
  const terminated = await pipeline.database.admin`
    select pg_terminate_backend(pid) as ok from pg_stat_activity
    where datname = current_database() and application_name = 'vigil-streamer' and query ilike 'listen%'`;
  expect(terminated.length).toBeGreaterThan(0);
  await postEvents(api.url, key, 100, { start: 100 });
  await waitForStored(pipeline.database.admin, tenant.id, 200);
  await client.waitFor(() => client.seqs.length >= 200);
  await new Promise((resolve) => setTimeout(resolve, 200));
  expect(client.seqs).toEqual(Array.from({ length: 200 }, (_, i) => i + 1));
  expect(streamer.output()).toMatch(/stream listener connected[\s\S]*stream listener connected/);
  expect((await fetch(`${streamer.url}/readyz`)).status).toBe(200);

  // Metrics: connections, events sent, store-to-send lag.
  expect(await metricValue(streamer.url, "vigil_stream_connections")).toBeGreaterThanOrEqual(1);
  expect(await metricValue(streamer.url, "vigil_stream_events_sent_total")).toBeGreaterThanOrEqual(200);
  expect(await metricValue(streamer.url, "vigil_stream_lag_seconds_count")).toBeGreaterThanOrEqual(200);
  client.close();
});
