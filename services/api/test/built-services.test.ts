// The bundles `pnpm build` writes (what the Docker image and the benchmark run with plain node):
// built from the current sources, the api and worker carry an event end to end and export it, and
// the streamer starts.
import { buildServices } from "@vigil/devstack/build-services";
import { createTestPipeline, eventually, requestJson, type TestPipeline } from "@vigil/testkit";
import { afterAll, beforeAll, expect, test } from "vitest";

let pipeline: TestPipeline;
beforeAll(async () => {
  await buildServices();
  pipeline = await createTestPipeline({ serviceRuntime: "built" });
}, 120_000);
afterAll(async () => pipeline?.close());

test("the built api and worker store an event; the built api exports it as CSV and NDJSON", async () => {
  const api = await pipeline.start("api");
  await pipeline.start("worker");
  expect(api.process.spawnargs.at(-1)).toMatch(/services\/api\/dist\/main\.mjs$/);
  const { key } = await pipeline.createTenantWithKey();
  const posted = await requestJson(`${api.url}/api/v1/logs`, {
    key,
    body: { action_type: "UPDATE", resource_type: "invoice", resource_id: "inv-1", user_id: "=cmd" },
  });
  expect(posted.status).toBe(202);
  await eventually(async () => {
    const got = await requestJson(`${api.url}/api/v1/logs/${posted.body.id}`, { key });
    return got.status === 200 ? got.body : null;
  });
  const csv = await fetch(`${api.url}/api/v1/logs/export?format=csv`, { headers: { "X-API-Key": key } });
  expect(csv.status).toBe(200);
  const lines = (await csv.text()).split("\n");
  expect(lines[0]).toMatch(/^seq,id,tenant_id,/);
  expect(lines[1]).toContain(`,${posted.body.id},`);
  expect(lines[1]).toContain(",'=cmd,");
  const ndjson = await fetch(`${api.url}/api/v1/logs/export?format=ndjson`, {
    headers: { "X-API-Key": key },
  });
  const [first] = (await ndjson.text())
    .trim()
    .split("\n")
    .map((line) => JSON.parse(line));
  expect(first).toMatchObject({ seq: 1, id: posted.body.id, user_id: "=cmd" });
}, 60_000);

test("the built streamer starts and answers its health check", async () => {
  const streamer = await pipeline.start("streamer");
  expect((await fetch(`${streamer.url}/healthz`)).status).toBe(200);
}, 30_000);
