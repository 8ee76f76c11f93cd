// Guarantee 5 — back-pressure, not false acks: queue down → 503 and nothing stored twice after;
// database down → the worker backs off and keeps messages on the queue, then stores them once;
// a message that keeps failing reaches the dead-letter queue and can be replayed.
import { execFile } from "node:child_process";
import { randomUUID } from "node:crypto";
import { chmodSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { gzipSync } from "node:zlib";
import { SendMessageCommand } from "@aws-sdk/client-sqs";
import { startEmbeddedPostgres } from "@vigil/devstack/embedded-postgres";
import { createEventQueues, startSqsEmulator } from "@vigil/devstack/queues";
import { createTenant } from "@vigil/shared/tenants/tenants";
import {
  createTestPipeline,
  eventually,
  freePort,
  prepareTemplateDatabase,
  queuedEvent,
  REPO_ROOT,
  requestJson,
  sampleEvent,
  type TestPipeline,
} from "@vigil/testkit";
import { afterAll, describe, expect, test } from "vitest";

const run = promisify(execFile);
const cleanups: Array<() => Promise<void>> = [];
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
});

async function countEvents(pipeline: TestPipeline, tenantId: string): Promise<number> {
  const [row] = await pipeline.database.admin<
    { n: number }[]
  >`select count(*)::int as n from events where tenant_id = ${tenantId}`;
  return row!.n;
}

describe("queue unavailable", () => {
  test("ingest answers 503 while the queue is down, and a retry afterwards is stored once", async () => {
    const port = await freePort();
    let sqs = await startSqsEmulator(port);
    const pipeline = await createTestPipeline({ sqsEndpoint: sqs.endpoint });
    cleanups.push(
      () => pipeline.close(),
      () => sqs.stop(),
    );
    const api = await pipeline.start("api");
    await pipeline.start("worker");
    const { tenant, key } = await pipeline.createTenantWithKey();

    expect(
      (await requestJson(`${api.url}/api/v1/logs?wait=true`, { key, body: sampleEvent(1) })).status,
    ).toBe(201);
    expect((await requestJson(`${api.url}/readyz`)).status).toBe(200);

    await sqs.stop();
    const event = sampleEvent(2, { id: randomUUID() });
    const refused = await requestJson(`${api.url}/api/v1/logs`, { key, body: event });
    expect(refused.status).toBe(503);
    expect(refused.body.code).toBe("QUEUE_UNAVAILABLE");
    expect(refused.headers.get("retry-after")).toBe("5");
    const refusedBulk = await requestJson(`${api.url}/api/v1/logs/bulk`, {
      key,
      body: [sampleEvent(3), sampleEvent(4)],
    });
    expect(refusedBulk.status).toBe(503);
    expect((await requestJson(`${api.url}/readyz`)).status).toBe(503);

    // The emulator keeps no state across restarts, as a freshly provisioned queue would.
    sqs = await startSqsEmulator(port);
    await createEventQueues(sqs.endpoint, new URL(pipeline.queues.queueUrl).pathname.split("/").pop()!, {
      visibilityTimeoutSeconds: 30,
    });
    const retried = await requestJson(`${api.url}/api/v1/logs?wait=true`, { key, body: event });
    expect(retried.status).toBe(201);
    const again = await requestJson(`${api.url}/api/v1/logs?wait=true`, { key, body: event });
    expect(again.status).toBe(201);
    expect(again.body.seq).toBe(retried.body.seq);
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect(await countEvents(pipeline, tenant.id)).toBe(2);
  });
});

describe("poison messages and the dead-letter queue", () => {
  test("a message that keeps failing lands in the DLQ without blocking its neighbours, and replay stores it once after the fix", async () => {
    const pipeline = await createTestPipeline({ maxReceiveCount: 2, visibilityTimeoutSeconds: 1 });
    cleanups.push(() => pipeline.close());
    await pipeline.start("worker", { WORKER_POLLERS: "1" });
    const { tenant, key } = await pipeline.createTenantWithKey();
    void key;
    // An event for a tenant that does not exist yet fails in the database (foreign key) every time.
    const missingTenant = randomUUID();
    const event = (tenantId: string, resourceId: string) =>
      queuedEvent(tenantId, { resource_id: resourceId });
    const sendRaw = (body: string) =>
      pipeline.queue.client.send(
        new SendMessageCommand({ QueueUrl: pipeline.queues.queueUrl, MessageBody: body }),
      );
    // v1 bodies, as queued by an api from before compressed messages: still stored, or dead-lettered
    // and replayed like any other.
    const v1Body = (tenantId: string, resourceId: string) =>
      JSON.stringify({ v: 1, tenant_id: tenantId, events: [event(tenantId, resourceId)] });
    const v2Body = (eventsGzip: Buffer) =>
      JSON.stringify({ v: 2, tenant_id: tenant.id, events_gzip: eventsGzip.toString("base64") });
    await pipeline.queue.publishEvents([event(missingTenant, "poison"), event(tenant.id, "good-1")]);
    await sendRaw(v1Body(missingTenant, "poison-v1"));
    await sendRaw("not json at all");
    await sendRaw(v2Body(Buffer.from("corrupt: not gzip at all")));
    // A decompression bomb: ~64 MiB of zeros in ~64 KiB; the worker stops inflating at its limit.
    await sendRaw(v2Body(gzipSync(Buffer.alloc(64 * 1024 * 1024), { level: 9 })));
    await sendRaw(v1Body(tenant.id, "good-v1"));
    await pipeline.queue.publishEvents([event(tenant.id, "good-2")]);

    await eventually(async () => (await countEvents(pipeline, tenant.id)) === 3, 30_000);
    await eventually(
      async () => (await pipeline.queue.depth(pipeline.queues.dlqUrl)).visible === 5,
      30_000,
      250,
    );
    expect(await pipeline.queue.depth()).toEqual({ visible: 0, inFlight: 0 });

    // Fix the cause, then replay through the real CLI command.
    await createTenant(pipeline.database.admin, { id: missingTenant, name: `late-${missingTenant}` });
    const env = {
      ...process.env,
      ...pipeline.env(),
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true",
    };
    const replay = await run(
      process.execPath,
      ["--import", "tsx", "packages/cli/src/main.ts", "dlq", "replay"],
      { cwd: REPO_ROOT, env },
    );
    expect(replay.stdout).toContain("replayed 5 message(s)");
    await eventually(async () => (await countEvents(pipeline, missingTenant)) === 2, 30_000);
    // The garbage messages are still garbage: they go back to the DLQ, never into the table.
    await eventually(
      async () => (await pipeline.queue.depth(pipeline.queues.dlqUrl)).visible === 3,
      30_000,
      250,
    );
    expect(await countEvents(pipeline, missingTenant)).toBe(2);
    expect(await countEvents(pipeline, tenant.id)).toBe(3);
  });
});

describe("database restart", () => {
  test("the worker backs off while PostgreSQL is down, keeps the messages on the queue, and stores each once after", async () => {
    // A cluster of our own, so stopping it does not disturb other test files.
    const dataRoot = mkdtempSync(path.join(tmpdir(), "vigil-pg-restart-"));
    chmodSync(dataRoot, 0o755);
    const port = await freePort();
    const password = "restart-test";
    let postgres = await startEmbeddedPostgres({
      dataDir: path.join(dataRoot, "pg"),
      port,
      password,
      settings: { fsync: "off" },
    });
    cleanups.push(async () => {
      await postgres.stop();
      rmSync(dataRoot, { recursive: true, force: true });
    });
    await prepareTemplateDatabase(postgres.superuserUrl());
    const pipeline = await createTestPipeline({
      postgres: { port, password },
      visibilityTimeoutSeconds: 2,
      maxReceiveCount: 1000,
    });
    cleanups.push(() => pipeline.close());
    const api = await pipeline.start("api");
    const worker = await pipeline.start("worker");
    const { tenant, key } = await pipeline.createTenantWithKey();
    // Never used before the outage, so no api replica has it cached.
    const { key: coldKey } = await pipeline.createTenantWithKey();

    const first = await requestJson(`${api.url}/api/v1/logs/bulk`, {
      key,
      body: Array.from({ length: 500 }, (_, i) => sampleEvent(i)),
    });
    expect(first.status).toBe(202);
    await eventually(async () => (await countEvents(pipeline, tenant.id)) === 500);

    // Events accepted just before the database goes away are on the queue, not yet stored.
    await worker.stop();
    const second = await requestJson(`${api.url}/api/v1/logs/bulk`, {
      key,
      body: Array.from({ length: 500 }, (_, i) => sampleEvent(500 + i)),
    });
    expect(second.status).toBe(202);
    await postgres.stop();
    const restartedWorker = await pipeline.start("worker");
    // With the database down, a key the api has not cached cannot be authenticated: 503, not a
    // false ack. A key it checked moments ago may still be served from its cache (until the TTL):
    // then the event is queued like any other and must be stored once after the restart.
    const cold = await requestJson(`${api.url}/api/v1/logs`, { key: coldKey, body: sampleEvent(9998) });
    expect(cold.status).toBe(503);
    expect(cold.body.code).toBe("DATABASE_UNAVAILABLE");
    const whileDown = await requestJson(`${api.url}/api/v1/logs`, { key, body: sampleEvent(9999) });
    if (whileDown.status === 503) expect(whileDown.body.code).toBe("DATABASE_UNAVAILABLE");
    else expect(whileDown.status).toBe(202);
    const expectedRows = whileDown.status === 202 ? 1001 : 1000;
    await new Promise((resolve) => setTimeout(resolve, 4000));
    const depth = await pipeline.queue.depth();
    expect(depth.visible + depth.inFlight).toBeGreaterThan(0);
    expect(restartedWorker.output()).toContain("database unavailable; messages stay on the queue");

    postgres = await startEmbeddedPostgres({
      dataDir: path.join(dataRoot, "pg"),
      port,
      password,
      settings: { fsync: "off" },
    });
    await eventually(
      async () => {
        try {
          return (await countEvents(pipeline, tenant.id)) === expectedRows;
        } catch {
          return false;
        }
      },
      60_000,
      250,
    );
    await new Promise((resolve) => setTimeout(resolve, 2500));
    const [stats] = await pipeline.database.admin<{ n: number; distinct_seq: number; max_seq: number }[]>`
      select count(*)::int as n, count(distinct seq)::int as distinct_seq, max(seq)::int as max_seq from events where tenant_id = ${tenant.id}`;
    expect(stats).toEqual({ n: expectedRows, distinct_seq: expectedRows, max_seq: expectedRows });
    expect((await requestJson(`${api.url}/api/v1/logs`, { key, body: sampleEvent(10_000) })).status).toBe(
      202,
    );
  }, 120_000);
});
