// The worker feeding the search index, end to end with the real api, SQS emulator, worker process
// and PostgreSQL, and a recording fake OpenSearch (no cluster can run here): what reaches the index
// is exactly the stored rows, index failures never touch PostgreSQL, and reindex rebuilds from it.
import { execFile } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { tenantScope } from "@vigil/shared/query/tenant-scope";
import { createOpenSearchClient } from "@vigil/shared/search/opensearch/opensearch-client";
import { reindexTenant } from "@vigil/shared/search/opensearch/reindex-tenant";
import {
  createTestPipeline,
  eventually,
  type RunningService,
  requestJson,
  type TestPipeline,
} from "@vigil/testkit";
import { bulkLines, bulkResponse, FakeOpenSearch } from "@vigil/testkit/fake-opensearch";
import { afterAll, beforeAll, beforeEach, expect, test } from "vitest";

const PREFIX = "vigil-feed";
const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");

let fake: FakeOpenSearch;
let pipeline: TestPipeline;
let api: RunningService;
let worker: RunningService;

beforeAll(async () => {
  fake = await new FakeOpenSearch().start();
  pipeline = await createTestPipeline();
  api = await pipeline.start("api");
  worker = await pipeline.start("worker", { OPENSEARCH_URL: fake.url, OPENSEARCH_INDEX_PREFIX: PREFIX });
});
afterAll(async () => {
  await pipeline?.close();
  await fake?.stop();
});
beforeEach(() => fake.responders.splice(0));

function documentsOf(tenantId: string) {
  return fake
    .bulkRequests()
    .flatMap((request) => bulkLines(request))
    .filter((line, index, lines) => !("index" in line) && lines[index - 1]?.index?.routing === tenantId);
}

test("at start the worker installs the index template; each committed batch is indexed as the stored rows", async () => {
  await eventually(async () =>
    fake.requests.some((request) => request.path === `/_index_template/${PREFIX}`),
  );
  const { tenant, key } = await pipeline.createTenantWithKey();
  const posted = await requestJson(`${api.url}/api/v1/logs/bulk`, {
    key,
    body: [1, 2, 3].map((n) => ({
      action_type: "CREATE",
      resource_type: "invoice",
      resource_id: `inv-${n}`,
      metadata: { note: `hello ${n}`, password: "hunter2" },
    })),
  });
  expect(posted.status).toBe(202);
  const documents = await eventually(async () => {
    const found = documentsOf(tenant.id);
    return found.length === 3 ? found : null;
  });
  for (const document of documents) {
    const stored = await requestJson(`${api.url}/api/v1/logs/${document.id}`, { key });
    const { search_text, ...event } = document;
    expect(event).toEqual(stored.body);
    expect(search_text).toContain(stored.body.resource_id);
    expect(search_text).not.toContain("hunter2");
  }
  expect(documents.map((document) => document.seq).sort()).toEqual([1, 2, 3]);
  const actions = fake
    .bulkRequests()
    .flatMap((request) => bulkLines(request))
    .filter((line) => line.index?.routing === tenant.id);
  expect(actions.map((line) => line.index._id).sort()).toEqual(
    documents.map((document) => `${tenant.id}:${document.id}`).sort(),
  );
});

test("rejected documents are counted and logged, never fail the commit: the event is stored and the worker keeps going", async () => {
  const { tenant, key } = await pipeline.createTenantWithKey();
  fake.responders.push((request) =>
    request.path.startsWith("/_bulk") ? bulkResponse(request, () => 400) : undefined,
  );
  const posted = await requestJson(`${api.url}/api/v1/logs?wait=true`, {
    key,
    body: { action_type: "DELETE", resource_type: "doc", resource_id: "d-1" },
  });
  expect(posted.status).toBe(201);
  const metrics = await eventually(async () => {
    const text = await (await fetch(`${worker.url}/metrics`)).text();
    return /vigil_search_index_failures_total\{[^}]*reason="rejected"[^}]*\} [1-9]/.test(text) ? text : null;
  });
  expect(metrics).toMatch(/vigil_search_index_failures_total/);
  expect(documentsOf(tenant.id)).toHaveLength(1); // sent once, refused; PostgreSQL still has it:
  expect((await requestJson(`${api.url}/api/v1/logs/${posted.body.id}`, { key })).status).toBe(200);
  expect(worker.process.exitCode).toBeNull();
});

test("reindexTenant rebuilds one tenant's documents from PostgreSQL, only that tenant, optionally by time range", async () => {
  const { tenant, key } = await pipeline.createTenantWithKey();
  const other = await pipeline.createTenantWithKey();
  const times = ["2026-01-10T00:00:00Z", "2026-02-10T00:00:00Z", "2026-02-20T00:00:00Z"];
  for (const [index, occurred_at] of times.entries()) {
    const body = { action_type: "VIEW", resource_type: "report", resource_id: `r-${index}`, occurred_at };
    expect((await requestJson(`${api.url}/api/v1/logs?wait=true`, { key, body })).status).toBe(201);
  }
  expect(
    (
      await requestJson(`${api.url}/api/v1/logs?wait=true`, {
        key: other.key,
        body: { action_type: "VIEW", resource_type: "x", resource_id: "y" },
      })
    ).status,
  ).toBe(201);
  const target = { client: createOpenSearchClient(fake.url), indexPrefix: PREFIX };
  try {
    fake.requests.length = 0;
    const report = await reindexTenant(
      pipeline.database.db,
      target,
      tenantScope(tenant.id),
      {},
      { pageSize: 2 },
    );
    expect(report).toMatchObject({ tenant_id: tenant.id, read: 3, indexed: 3, failed: 0, last_seq: 3 });
    // (The worker may still be indexing the other tenant's event meanwhile: only this tenant's bulks count.)
    const bulks = fake
      .bulkRequests()
      .filter((request) => bulkLines(request)[0]?.index?.routing === tenant.id);
    expect(bulks).toHaveLength(2); // pages of 2
    const lines = bulks.flatMap((request) => bulkLines(request));
    expect(lines.filter((line) => line.index).map((line) => line.index._index)).toEqual([
      `${PREFIX}-2026.01`,
      `${PREFIX}-2026.02`,
      `${PREFIX}-2026.02`,
    ]);
    expect(
      lines.every((line) => (line.index ? line.index.routing === tenant.id : line.tenant_id === tenant.id)),
    ).toBe(true);

    fake.requests.length = 0;
    const ranged = await reindexTenant(pipeline.database.db, target, tenantScope(tenant.id), {
      from: "2026-02-01T00:00:00Z",
      to: "2026-02-15T00:00:00Z",
    });
    expect(ranged).toMatchObject({ read: 1, indexed: 1 });
    expect(bulkLines(fake.bulkRequests()[0]!)[1]).toMatchObject({ resource_id: "r-1", seq: 2 });
  } finally {
    await target.client.close();
  }
});

test("`vigil opensearch reindex` runs the same verb; bad arguments are usage errors", async () => {
  // Asynchronous on purpose: the fake cluster answers from this process's event loop.
  const cli = (args: string[], env: Record<string, string>) =>
    new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
      const child = execFile(
        process.execPath,
        [
          "--import",
          path.join(REPO_ROOT, "node_modules/tsx/dist/esm/index.mjs"),
          path.join(REPO_ROOT, "packages/cli/src/main.ts"),
          ...args,
        ],
        {
          cwd: REPO_ROOT,
          env: { PATH: process.env.PATH ?? "", ...pipeline.env(), ...env },
          encoding: "utf8",
          timeout: 60_000,
        },
        (_error, stdout, stderr) => resolve({ status: child.exitCode, stdout, stderr }),
      );
    });
  const missing = await cli(["opensearch", "reindex"], { OPENSEARCH_URL: fake.url });
  expect(missing.status).toBe(64);
  expect(missing.stderr).toContain("--tenant is required");
  const ok = await cli(["opensearch", "reindex", "--tenant", "0196a4b2-0000-7000-8000-000000000001"], {
    OPENSEARCH_URL: fake.url,
    OPENSEARCH_INDEX_PREFIX: PREFIX,
  });
  expect(ok.stderr + ok.stdout).not.toMatch(/vigil: /);
  expect(ok.status).toBe(0);
  expect(JSON.parse(ok.stdout)).toMatchObject({
    tenant_id: "0196a4b2-0000-7000-8000-000000000001",
    read: 0,
    failed: 0,
  });
});
