// The two example apps, each started by the one command its README gives
// (`npx -y pnpm@10 --filter @vigil/example-<name> start`: build @vigil/sdk, then run the app) against
// the real api and worker: a write with secrets in the body and a token in the query string, an
// update, a failing read and a skipped health check become exactly three events with the route
// template, the actor, the outcome and nothing secret; SIGTERM to the app's process group (by the
// PID this test started) sends what is queued before it exits.
import { type ChildProcess, spawn } from "node:child_process";
import {
  createTestPipeline,
  eventually,
  freePort,
  REPO_ROOT,
  type RunningService,
  type TestPipeline,
} from "@vigil/testkit";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { type StoredEvent, VigilClient } from "../src/index.ts";

const SECRETS = [
  "abc-query-token",
  "Bearer-auth-s3cret",
  "c00kie-s3cret",
  "hunter2-password",
  "4111111111111111",
];

interface RunningExample {
  url: string;
  child: ChildProcess;
  /** Resolves once the child has exited and every holder of its stdout and stderr has closed them. */
  closed: Promise<void>;
  output: () => string;
  key: string;
}

/** Starts the README's command in its own process group (so the whole pnpm → tsx → node chain can be signalled). */
async function startExample(pipeline: TestPipeline, apiUrl: string, name: string): Promise<RunningExample> {
  const { key } = await pipeline.createTenantWithKey();
  const port = await freePort();
  const child = spawn("npx", ["-y", "pnpm@10", "--filter", `@vigil/example-${name}`, "start"], {
    cwd: REPO_ROOT,
    detached: true,
    stdio: ["ignore", "pipe", "pipe"],
    env: {
      PATH: process.env.PATH ?? "",
      HOME: process.env.HOME ?? "",
      VIGIL_URL: apiUrl,
      VIGIL_API_KEY: key,
      PORT: String(port),
    },
  });
  const closed = new Promise<void>((resolve) => child.once("close", () => resolve()));
  let output = "";
  child.stdout!.on("data", (chunk) => (output += chunk));
  child.stderr!.on("data", (chunk) => (output += chunk));
  const url = `http://127.0.0.1:${port}`;
  await eventually(
    async () => output.includes(`on ${url}`) || child.exitCode !== null || undefined,
    90_000,
    100,
  );
  if (!output.includes(`on ${url}`)) throw new Error(`${name} did not start:\n${output}`);
  return { url, child, closed, output: () => output, key };
}

function groupAlive(pid: number): boolean {
  try {
    process.kill(-pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * SIGTERM to the process group this test created; waits until no process of it is left and its
 * output pipes are closed (every line the app wrote has been read).
 */
async function stopExample(example: RunningExample): Promise<void> {
  const pid = example.child.pid!;
  if (groupAlive(pid)) process.kill(-pid, "SIGTERM");
  await eventually(async () => !groupAlive(pid) || undefined, 20_000, 50);
  await example.closed;
}

async function exerciseExample(example: RunningExample) {
  const created = await fetch(`${example.url}/invoices?token=abc-query-token`, {
    method: "POST",
    headers: {
      "X-User": "alice",
      Authorization: "Bearer Bearer-auth-s3cret",
      Cookie: "session=c00kie-s3cret",
      "Content-Type": "application/json",
    },
    body: JSON.stringify({
      customer: "acme",
      amount: 120,
      card_number: "4111111111111111",
      owner: { password: "hunter2-password" },
    }),
  });
  expect(created.status).toBe(201);
  const invoice = (await created.json()) as { id: string };
  const updated = await fetch(`${example.url}/invoices/${invoice.id}?token=abc-query-token`, {
    method: "PATCH",
    headers: { "X-User": "bob", "Content-Type": "application/json" },
    body: JSON.stringify({ status: "approved" }),
  });
  expect(updated.status).toBe(200);
  expect((await fetch(`${example.url}/invoices/999`, { headers: { "X-User": "carol" } })).status).toBe(404);
  expect((await fetch(`${example.url}/healthz`)).status).toBe(200);
  return invoice.id;
}

describe("the example apps, started by their README command against the real pipeline", () => {
  let pipeline: TestPipeline;
  let api: RunningService;
  const examples = new Map<string, RunningExample>();

  beforeAll(async () => {
    pipeline = await createTestPipeline();
    [api] = await Promise.all([pipeline.start("api"), pipeline.start("worker")]);
    // Both at once: their builds of @vigil/sdk overlap, which the build allows (it renames files into dist/).
    const started = await Promise.all(
      ["hono-app", "express-app"].map(
        async (name) => [name, await startExample(pipeline, api.url, name)] as const,
      ),
    );
    for (const [name, example] of started) examples.set(name, example);
  }, 180_000);

  afterAll(async () => {
    for (const example of examples.values()) await stopExample(example).catch(() => {});
    await pipeline?.close();
  });

  test.each([
    "hono-app",
    "express-app",
  ])("%s: three events with route template, actor and outcome; no secret stored; SIGTERM flushes", async (name) => {
    const example = examples.get(name)!;
    const invoiceId = await exerciseExample(example);
    await stopExample(example);
    expect(example.output(), example.output()).toContain(
      'vigil: {"sent":3,"dropped":0,"pending":0,"failed":0}',
    );

    const reader = new VigilClient({ baseUrl: api.url, apiKey: example.key });
    // Vigil records each export in the tenant's own log: only the app's events are counted.
    const appEvent = (event: { action?: string | null }) => event.action !== "vigil.events.export";
    const events = await eventually(async () => {
      const found = (await reader.searchPage({ sort: "seq" })).data.filter(appEvent);
      return found.length >= 3 ? found : undefined;
    }, 30_000);
    expect(events).toHaveLength(3);
    const byRoute = new Map(
      events.map((event) => [`${event.action_type} ${(event.metadata as any).http.route}`, event]),
    );
    expect([...byRoute.keys()].sort()).toEqual([
      "CREATE /invoices",
      "UPDATE /invoices/:id",
      "VIEW /invoices/:id",
    ]);

    const create = byRoute.get("CREATE /invoices") as StoredEvent;
    expect(create).toMatchObject({
      user_id: "alice",
      resource_type: "invoices",
      resource_id: invoiceId,
      outcome: "success",
      severity: "INFO",
      after_state: { customer: "acme", amount: 120, status: "draft" },
    });
    expect(create.metadata).toMatchObject({
      http: { method: "POST", route: "/invoices", status: 201 },
      body: { customer: "acme", card_number: "[REDACTED]", owner: { password: "[REDACTED]" } },
    });
    const headers = Object.keys((create.metadata as any).http.headers).map((header) => header.toLowerCase());
    expect(headers).not.toContain("authorization");
    expect(headers).not.toContain("cookie");

    expect(byRoute.get("UPDATE /invoices/:id")).toMatchObject({
      user_id: "bob",
      action: "invoice.update",
      resource_id: invoiceId,
      outcome: "success",
      before_state: { status: "draft" },
      after_state: { status: "approved" },
    });
    expect(byRoute.get("VIEW /invoices/:id")).toMatchObject({
      user_id: "carol",
      resource_id: "999",
      outcome: "failure",
      severity: "WARNING",
      metadata: { http: { status: 404 } },
    });

    const exported = await new Response(await reader.export({ format: "ndjson" })).text();
    for (const secret of SECRETS) expect(exported).not.toContain(secret);
    const exportedApp = exported
      .trim()
      .split("\n")
      .filter((line) => appEvent(JSON.parse(line)));
    expect(exportedApp).toHaveLength(3);
    expect(exportedApp.join("\n")).not.toMatch(/token=|\?/);
  }, 60_000);
});
