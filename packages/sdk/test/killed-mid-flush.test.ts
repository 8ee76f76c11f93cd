// An app killed (SIGKILL) while its client is flushing, against the real api and worker: what it had
// sent is stored in whole batches, once each, and nothing else; what was still in its memory is
// gone (the documented limit of an in-process queue). An app that keeps the ids (an outbox) and logs
// the same events again after the restart gets each stored exactly once: the ids are the
// idempotency keys.
import { type ChildProcess, spawn } from "node:child_process";
import path from "node:path";
import { type TestPipeline, TSX_LOADER } from "@vigil/testkit";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import type { FaultProxy } from "./support/fault-proxy.ts";
import { type ProxiedPipeline, startProxiedPipeline } from "./support/proxied-pipeline.ts";
import { waitForStored } from "./support/stored-events.ts";

const CHILD = path.join(import.meta.dirname, "support/log-then-flush.ts");
const EVENTS = 2_000;
const BATCH = 100;

interface Child {
  process: ChildProcess;
  output: () => string;
  exited: Promise<number | null | string>;
}

function startChild(baseUrl: string, key: string, previous?: string): Child {
  const child = spawn(process.execPath, ["--import", TSX_LOADER, CHILD, baseUrl, key, String(EVENTS)], {
    stdio: ["pipe", "pipe", "pipe"],
  });
  let output = "";
  child.stdout!.on("data", (chunk) => (output += chunk));
  child.stderr!.on("data", (chunk) => (output += chunk));
  child.stdin!.end(previous ?? "");
  const exited = new Promise<number | null | string>((resolve) =>
    child.on("exit", (code, signal) => resolve(signal ?? code)),
  );
  return { process: child, output: () => output, exited };
}

describe("an app killed mid-flush", () => {
  let pipeline: TestPipeline;
  let proxy: FaultProxy;

  let running: ProxiedPipeline | undefined;

  beforeAll(async () => {
    running = await startProxiedPipeline();
    ({ pipeline, proxy } = running);
  });
  afterAll(() => running?.close());

  test("stores whole batches once each; logging the same ids again after the restart stores each event once", async () => {
    const { tenant, key } = await pipeline.createTenantWithKey();
    let child: Child | undefined;
    // The 6th bulk request reaches the proxy whole: the app is killed then, and that request goes on
    // to the api (a request that left before the crash is still delivered). Others may be in flight.
    proxy.plan = (request) => {
      if (request.number === 6) child?.process.kill("SIGKILL");
      return "forward";
    };
    child = startChild(proxy.url, key);
    expect(await child.exited).toBe("SIGKILL");
    const logged = /^logged (.*)$/m.exec(child.output())?.[1];
    expect(logged).toBeDefined();
    expect((JSON.parse(logged!) as { ids: string[] }).ids).toHaveLength(EVENTS);
    expect(child.output()).not.toContain("flushed");

    const received = proxy.requests.filter((request) => request.path === "/api/v1/logs/bulk");
    const sentIds = new Set(received.flatMap((request) => JSON.parse(request.body).map((e: any) => e.id)));
    expect(received.length).toBeGreaterThanOrEqual(6);
    expect(sentIds.size).toBe(received.length * BATCH);
    const afterCrash = await waitForStored(pipeline, tenant.id, sentIds.size);
    expect(afterCrash).toMatchObject({ rows: sentIds.size, distinctIds: sentIds.size });
    expect(afterCrash.rows).toBeLessThan(EVENTS);
    const storedIds = await pipeline.database.admin<{ id: string }[]>`
      select id from events where tenant_id = ${tenant.id}`;
    for (const { id } of storedIds) expect(sentIds.has(id)).toBe(true);

    // The restarted app logs all 2,000 again as they were (same ids and timestamps: what an outbox
    // keeps). The same id with other content would be refused as a conflict, and counted as failed.
    proxy.plan = () => "forward";
    const restarted = startChild(proxy.url, key, logged);
    expect(await restarted.exited).toBe(0);
    expect(restarted.output()).toContain(`flushed {"sent":${EVENTS},"dropped":0,"pending":0,"failed":0}`);
    const final = await waitForStored(pipeline, tenant.id, EVENTS);
    expect(final).toEqual({ rows: EVENTS, distinctIds: EVENTS, minSeq: 1, maxSeq: EVENTS });
  }, 60_000);
});
