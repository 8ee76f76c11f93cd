// The search index provably in step (spec §12, issue 15 item 4), request-level with the real api,
// SQS emulator, worker processes and PostgreSQL, and the stateful fake OpenSearch: events committed
// while no worker indexed them, a batch the index refused, and documents deleted from the cluster
// behind Vigil's back are all restored by the worker's repair loop without a manual command; the
// watermark reaches the head and is what GET /api/v1/search/status and `Vigil-Index-Seq` report.
import { createLogger } from "@vigil/shared/logging/logger";
import { SearchIndexRepairer } from "@vigil/shared/search/opensearch/index-repair";
import { seqRuns } from "@vigil/shared/search/opensearch/index-watermark";
import { openSearchTarget } from "@vigil/shared/search/opensearch/opensearch-client";
import {
  createTestPipeline,
  eventually,
  type RunningService,
  requestJson,
  type TestPipeline,
} from "@vigil/testkit";
import { bulkLines, bulkResponse, FakeOpenSearch } from "@vigil/testkit/fake-opensearch";
import { afterAll, beforeAll, expect, test } from "vitest";
import { adminToken } from "../../api/test/auth-fixtures.ts";

const PREFIX = "vigil-mark";

let fake: FakeOpenSearch;
let pipeline: TestPipeline;
let api: RunningService;
let worker: RunningService | undefined;

const indexEnv = () => ({ OPENSEARCH_URL: fake.url, OPENSEARCH_INDEX_PREFIX: PREFIX });

beforeAll(async () => {
  fake = await new FakeOpenSearch({ stateful: true }).start();
  pipeline = await createTestPipeline();
  api = await pipeline.start("api", { ...indexEnv(), SEARCH_BACKEND: "opensearch" });
});
afterAll(async () => {
  await worker?.stop();
  await pipeline?.close();
  await fake?.stop();
});

async function post(key: string, count: number, from = 1) {
  const response = await requestJson(`${api.url}/api/v1/logs/bulk`, {
    key,
    body: Array.from({ length: count }, (_, n) => ({
      action_type: "CREATE",
      resource_type: "invoice",
      resource_id: `inv-${from + n}`,
    })),
  });
  expect(response.status).toBe(202);
}

const status = async (key: string) => (await requestJson(`${api.url}/api/v1/search/status`, { key })).body;
const indexedSeqs = (tenantId: string) =>
  [...fake.documents.values()]
    .filter((document) => document.routing === tenantId)
    .map((document) => document.source.seq as number)
    .sort((a, b) => a - b);
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, n) => from + n);

test("events committed while no worker indexed them are indexed by the repair loop; the watermark reaches the head", async () => {
  const { tenant, key } = await pipeline.createTenantWithKey();
  // A worker without the index commits them (as a worker killed between commit and indexing leaves them).
  const plain = await pipeline.start("worker");
  await post(key, 12);
  await eventually(async () => (await status(key)).head_seq === 12);
  await plain.stop();
  expect(await status(key)).toMatchObject({
    tenant_id: tenant.id,
    indexed_seq: 0,
    head_seq: 12,
    lag_seq: 12,
  });
  expect((await status(key)).lag_seconds).toBeGreaterThanOrEqual(0);
  expect(indexedSeqs(tenant.id)).toEqual([]);

  worker = await pipeline.start("worker", {
    ...indexEnv(),
    SEARCH_REPAIR_INTERVAL_SECONDS: "1",
    SEARCH_REPAIR_GRACE_SECONDS: "1",
  });
  const caughtUp = await eventually(async () => {
    const current = await status(key);
    return current.indexed_seq === 12 ? current : null;
  });
  expect(caughtUp).toMatchObject({ indexed_seq: 12, head_seq: 12, lag_seq: 0, lag_seconds: 0 });
  expect(indexedSeqs(tenant.id)).toEqual(range(1, 12));
  const metrics = await eventually(async () => {
    const text = await (await fetch(`${worker!.url}/metrics`)).text();
    return /vigil_search_index_repaired_total\{[^}]*cause="gap"[^}]*\} 12/.test(text) ? text : null;
  });
  expect(metrics).toMatch(/vigil_search_index_lag_seq\{[^}]*\} 0/);
  expect(metrics).toMatch(/vigil_search_index_lag_seconds\{[^}]*\} 0/);

  // New events go through the after-commit feed and move the watermark with them.
  await post(key, 3, 13);
  await eventually(async () => (await status(key)).indexed_seq === 15);
  expect(indexedSeqs(tenant.id)).toEqual(range(1, 15));
});

test("a worker killed (SIGKILL) after commit while its batch was still on the way to the index: the next worker's repair loop fills the gap", async () => {
  const { tenant, key } = await pipeline.createTenantWithKey();
  let attempts = 0;
  // The cluster answers 503 for this tenant's bulk: the feed retries with backoff, the batch in its hands.
  const unavailable = (request: { path: string; body: string }) => {
    if (!request.path.startsWith("/_bulk") || !request.body.includes(tenant.id)) return;
    attempts++;
    return { status: 503, body: { error: { type: "unavailable_shards_exception" }, status: 503 } };
  };
  fake.responders.push(unavailable);
  await post(key, 6);
  // Committed and the message deleted from the queue: nothing will redeliver it.
  await eventually(async () => {
    const depth = await pipeline.queue.depth();
    return (await status(key)).head_seq === 6 && attempts > 0 && depth.visible + depth.inFlight === 0;
  });
  await worker!.kill();
  fake.responders.splice(fake.responders.indexOf(unavailable), 1);
  expect(indexedSeqs(tenant.id)).toEqual([]);
  expect((await status(key)).indexed_seq).toBe(0);

  worker = await pipeline.start("worker", {
    ...indexEnv(),
    SEARCH_REPAIR_INTERVAL_SECONDS: "1",
    SEARCH_REPAIR_GRACE_SECONDS: "1",
  });
  await eventually(async () => (await status(key)).indexed_seq === 6);
  expect(indexedSeqs(tenant.id)).toEqual(range(1, 6));
  expect(await status(key)).toMatchObject({ head_seq: 6, lag_seq: 0, lag_seconds: 0 });
  // The counter moves when the round ends (after its reconciliation), a moment after the watermark.
  const metrics = await eventually(async () => {
    const text = await (await fetch(`${worker!.url}/metrics`)).text();
    return /vigil_search_index_repaired_total\{[^}]*cause="gap"[^}]*\} [1-9]/.test(text) && text;
  });
  expect(metrics).toMatch(/vigil_search_index_repaired_total\{[^}]*cause="gap"[^}]*\} 6\n/);
});

test("a batch the index refused leaves a gap; later batches wait above it until the repair loop fills it", async () => {
  const { tenant, key } = await pipeline.createTenantWithKey();
  let refused = 0;
  // The first bulk that carries this tenant is refused (a non-retryable item error): the feed skips it.
  fake.responders.push((request) => {
    if (!request.path.startsWith("/_bulk") || refused > 0 || !request.body.includes(tenant.id)) return;
    refused++;
    return bulkResponse(request, () => 400);
  });
  await post(key, 5);
  await eventually(async () => refused === 1);
  await post(key, 5, 6);
  await eventually(async () => (await status(key)).indexed_seq === 10);
  expect(indexedSeqs(tenant.id)).toEqual(range(1, 10));
  const refusedBulk = fake.bulkRequests().find((request) => request.body.includes(tenant.id));
  expect(bulkLines(refusedBulk!).length).toBeGreaterThan(0);
});

test("documents deleted behind Vigil's back are re-indexed by reconciliation; searches carry the watermark", async () => {
  const { tenant, key } = await pipeline.createTenantWithKey();
  await post(key, 30);
  await eventually(async () => (await status(key)).indexed_seq === 30);

  const removed = fake.deleteDocuments(
    (document) => document.routing === tenant.id && [3, 4, 17, 29].includes(document.source.seq as number),
  );
  expect(removed).toBe(4);
  expect(indexedSeqs(tenant.id)).toHaveLength(26);
  await eventually(async () => indexedSeqs(tenant.id).length === 30);
  expect(indexedSeqs(tenant.id)).toEqual(range(1, 30));
  expect((await status(key)).indexed_seq).toBe(30);

  const search = await requestJson(`${api.url}/api/v1/logs?sort=seq&limit=50`, { key });
  expect(search.status).toBe(200);
  expect(search.headers.get("vigil-index-seq")).toBe("30");
  expect(search.body.data.map((event: { seq: number }) => event.seq)).toEqual(range(1, 30));
});

test("documents deleted behind Vigil's back and a worker SIGKILLed between commit and indexing: the next worker's repair loop restores the index to the head, no command", async () => {
  const { tenant, key } = await pipeline.createTenantWithKey();
  worker ??= await pipeline.start("worker", indexEnv());
  await post(key, 20);
  await eventually(async () => (await status(key)).indexed_seq === 20);
  await worker.stop();

  // A worker that SIGKILLs itself right after its next commit: the events are stored, the
  // after-commit feed never runs, and the message is not deleted yet.
  const doomed = await pipeline.start("worker", {
    ...indexEnv(),
    SEARCH_REPAIR_INTERVAL_SECONDS: "3600",
    VIGIL_FAULT_KILL_AFTER_COMMIT_EVERY: "1",
  });
  await post(key, 7, 21);
  expect(await doomed.exited).toBeNull(); // killed by a signal
  worker = undefined;
  const afterKill = await status(key);
  expect(afterKill.head_seq).toBeGreaterThan(20);
  expect(afterKill.indexed_seq).toBe(20);

  // Meanwhile documents vanish from the cluster behind Vigil's back, below the watermark.
  const vanished = [2, 9, 10, 20];
  expect(
    fake.deleteDocuments(
      (document) => document.routing === tenant.id && vanished.includes(document.source.seq as number),
    ),
  ).toBe(4);
  expect(indexedSeqs(tenant.id)).toEqual(range(1, 20).filter((seq) => !vanished.includes(seq)));

  // The next worker is started with nothing but its configuration: no reindex command.
  worker = await pipeline.start("worker", {
    ...indexEnv(),
    SEARCH_REPAIR_INTERVAL_SECONDS: "1",
    SEARCH_REPAIR_GRACE_SECONDS: "1",
  });
  await eventually(
    async () => indexedSeqs(tenant.id).length === 27 && (await status(key)).indexed_seq === 27,
    45_000,
    200,
  );
  expect(indexedSeqs(tenant.id)).toEqual(range(1, 27));
  expect(await status(key)).toMatchObject({ head_seq: 27, lag_seq: 0 });
  const metrics = await eventually(async () => {
    const text = await (await fetch(`${worker!.url}/metrics`)).text();
    const reconciled = Number(
      /vigil_search_index_repaired_total\{[^}]*cause="reconcile"[^}]*\} (\d+)/.exec(text)?.[1],
    );
    return reconciled >= vanished.length && text;
  });
  // The events the killed worker committed came back as a gap (their messages are invisible on the
  // queue for 30 s, so no redelivery fed them), the deleted documents by reconciliation.
  const gapRepaired = Number(
    /vigil_search_index_repaired_total\{[^}]*cause="gap"[^}]*\} (\d+)/.exec(metrics)?.[1],
  );
  expect(gapRepaired).toBeGreaterThanOrEqual(afterKill.head_seq - 20);
  const search = await requestJson(`${api.url}/api/v1/logs?sort=seq&limit=50`, { key });
  expect(search.headers.get("vigil-index-seq")).toBe("27");
  expect(search.body.data.map((event: { seq: number }) => event.seq)).toEqual(range(1, 27));
}, 90_000);

test("the status endpoint stays in the caller's tenant and names a bad tenant_id", async () => {
  const { key } = await pipeline.createTenantWithKey();
  const other = await pipeline.createTenantWithKey();
  const mismatch = await requestJson(`${api.url}/api/v1/search/status?tenant_id=${other.tenant.id}`, { key });
  expect(mismatch.status).toBe(403);
  const bad = await requestJson(`${api.url}/api/v1/search/status?tenant_id=nope`, { key });
  expect(bad.status).toBe(400);
  expect(JSON.stringify(bad.body)).toContain("tenant_id");
  expect(await status(key)).toMatchObject({ indexed_seq: 0, head_seq: 0, lag_seq: 0, lag_seconds: 0 });

  // Platform admins name the tenant.
  const admin = await adminToken(api.url);
  const unnamed = await requestJson(`${api.url}/api/v1/search/status`, { token: admin });
  expect(unnamed.status).toBe(400);
  expect(JSON.stringify(unnamed.body)).toContain("tenant_id");
  const named = await requestJson(`${api.url}/api/v1/search/status?tenant_id=${other.tenant.id}`, {
    token: admin,
  });
  expect(named.status).toBe(200);
  expect(named.body).toMatchObject({
    tenant_id: other.tenant.id,
    backend: "opensearch",
    index_enabled: true,
  });
});

test("hostile search/status query params end in a 4xx naming tenant_id; a forged credential is 401; a repeated tenant_id never reaches another tenant", async () => {
  const { key, tenant } = await pipeline.createTenantWithKey();
  const other = await pipeline.createTenantWithKey();
  const hostile = [
    "%00",
    "1e400",
    `${tenant.id}%00`,
    `${tenant.id}x`,
    "a".repeat(10_000),
    "%7B%22%24ne%22%3A1%7D",
  ];
  for (const value of hostile) {
    const response = await requestJson(`${api.url}/api/v1/search/status?tenant_id=${value}`, { key });
    expect(response.status, value.slice(0, 40)).toBe(400);
    expect(JSON.stringify(response.body)).toContain("tenant_id");
    // The watermark middleware of GET /api/v1/logs reads nothing for such an id and sets no header.
    const logs = await fetch(`${api.url}/api/v1/logs?tenant_id=${value}`, { headers: { "X-API-Key": key } });
    expect(logs.status, value.slice(0, 40)).toBe(400);
    expect(logs.headers.get("vigil-index-seq")).toBeNull();
  }
  // The own id in capitals is the same tenant.
  const upper = await requestJson(`${api.url}/api/v1/search/status?tenant_id=${tenant.id.toUpperCase()}`, {
    key,
  });
  expect(upper.status).toBe(200);
  expect(upper.body.tenant_id).toBe(tenant.id);
  // tenant_id given twice: whichever one is read, the answer is the caller's own tenant or a refusal.
  for (const query of [
    `tenant_id=${tenant.id}&tenant_id=${other.tenant.id}`,
    `tenant_id=${other.tenant.id}&tenant_id=${tenant.id}`,
  ]) {
    const response = await requestJson(`${api.url}/api/v1/search/status?${query}`, { key });
    if (response.status === 200) expect(response.body.tenant_id).toBe(tenant.id);
    else expect(response.status).toBe(403);
  }
  // Forged credentials.
  const forgedKey = await requestJson(`${api.url}/api/v1/search/status`, { key: `${key.slice(0, -4)}AAAA` });
  expect(forgedKey.status).toBe(401);
  const forgedToken = await requestJson(`${api.url}/api/v1/search/status`, {
    token: "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.",
  });
  expect(forgedToken.status).toBe(401);
});

test("reconciliation checks one bounded window per round and wraps around; one repairer at a time", async () => {
  expect(seqRuns([8, 1, 2, 3, 7, 3])).toEqual([
    { from_seq: 1, to_seq: 3 },
    { from_seq: 7, to_seq: 8 },
  ]);
  const { tenant, key } = await pipeline.createTenantWithKey();
  await post(key, 30);
  await eventually(async () => (await status(key)).indexed_seq === 30);
  // The worker's loop stops; an in-process repairer with small windows takes over.
  await worker?.stop();
  worker = undefined;
  fake.deleteDocuments((document) => document.routing === tenant.id && document.source.seq === 25);
  const repairer = new SearchIndexRepairer(
    pipeline.database.db,
    openSearchTarget(fake.url, PREFIX),
    createLogger("worker", "silent"),
    { graceMs: 0, reconcileWindow: 10, leafSize: 4 },
  );
  const reconciled: number[] = [];
  // Tenants of earlier tests are checked too; three rounds cover this tenant's 1..10, 11..20, 21..30.
  for (let round = 0; round < 3; round++) {
    const requestsBefore = fake.requests.length;
    const result = await repairer.runRound();
    expect(result.ran).toBe(true);
    reconciled.push(indexedSeqs(tenant.id).includes(25) ? 1 : 0);
    // Counting starts only after a refresh (a real cluster shows just-indexed documents after one).
    const paths = fake.requests.slice(requestsBefore).map((request) => request.path.split("?")[0]);
    expect(paths.indexOf(`/${PREFIX}-*/_refresh`)).toBeGreaterThanOrEqual(0);
    expect(paths.indexOf(`/${PREFIX}-*/_refresh`)).toBeLessThan(
      paths.findIndex((path) => path?.endsWith("/_count")),
    );
  }
  expect(reconciled).toEqual([0, 0, 1]);
  expect(indexedSeqs(tenant.id)).toEqual(range(1, 30));

  // While another session holds the repair lock, a round does nothing.
  const holder = await pipeline.database.db.sql.reserve();
  try {
    await holder`select pg_advisory_lock(${(0x76_69_67_6c_73_72_63_68n).toString()}::bigint)`;
    expect((await repairer.runRound()).ran).toBe(false);
  } finally {
    await holder`select pg_advisory_unlock_all()`;
    holder.release();
  }
});
