// The audit middleware in real Hono and Express apps, sending to the real pipeline: one event per
// request with actor, route template, status, duration and request id, and no secret (query token,
// Authorization, Cookie, password, card number) anywhere in the tenant's export.
import type { AddressInfo } from "node:net";
import { serve } from "@hono/node-server";
import { createTestPipeline, eventually, type RunningService, type TestPipeline } from "@vigil/testkit";
import express from "express";
import { Hono } from "hono";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { vigilAudit as expressAudit } from "../src/express.ts";
import { vigilAudit as honoAudit, type VigilAuditVariables } from "../src/hono.ts";
import { type StoredEvent, VigilClient } from "../src/index.ts";
import type { AuditMiddlewareOptions } from "../src/request-audit.ts";

const SECRETS = [
  "abc-query-token",
  "Bearer-auth-s3cret",
  "c00kie-s3cret",
  "hunter2-password",
  "4111111111111111",
];

interface App {
  url: string;
  close: () => Promise<void>;
}

type Recorder = AuditMiddlewareOptions<unknown>["client"];
type Extra = Omit<AuditMiddlewareOptions<never>, "client">;

function honoApp(client: Recorder, extra: Extra = {}): Promise<App> {
  const app = new Hono<{ Variables: VigilAuditVariables & { user: { id: string } } }>();
  app.use("*", async (c, next) => {
    c.set("user", { id: "alice" }); // what an auth middleware would have verified
    await next();
  });
  app.use("*", honoAudit({ client, ...(extra as object) }));
  app.post("/invoices/:id", async (c) => {
    const body = await c.req.json();
    c.get("audit").set({ after_state: { status: "approved", amount: body.amount } });
    return c.json({ ok: true, id: c.req.param("id") }, 201);
  });
  app.get("/invoices/:id", (c) => c.json({ id: c.req.param("id") }));
  app.get("/boom", () => {
    throw new Error("handler failed with a secret: hunter2-password");
  });
  app.onError((_error, c) => c.json({ error: "internal" }, 500));
  app.get("/missing/:id", (c) => c.json({}, 404));
  app.delete("/invoices/:id", (c) => c.body(null, 204));
  app.get("/healthz", (c) => c.text("ok"));
  app.post("/quiet/:id", (c) => {
    c.get("audit").skip();
    return c.json({});
  });
  return new Promise((resolve) => {
    const server = serve({ fetch: app.fetch, port: 0, hostname: "127.0.0.1" }, (info) =>
      resolve({
        url: `http://127.0.0.1:${info.port}`,
        close: () => new Promise((done) => server.close(() => done())),
      }),
    );
  });
}

function expressApp(client: Recorder, extra: Extra = {}): Promise<App> {
  const app = express();
  app.use((req, _res, next) => {
    (req as unknown as { user: { id: string } }).user = { id: "alice" };
    next();
  });
  app.use(express.json());
  app.use(expressAudit({ client, ...(extra as object) }));
  app.post("/invoices/:id", (req, res) => {
    req.audit.set({ after_state: { status: "approved", amount: req.body.amount } });
    res.status(201).json({ ok: true, id: req.params.id });
  });
  app.get("/invoices/:id", (req, res) => {
    res.json({ id: req.params.id });
  });
  app.get("/boom", () => {
    throw new Error("handler failed with a secret: hunter2-password");
  });
  app.get("/missing/:id", (_req, res) => void res.status(404).json({}));
  app.use((_error: Error, _req: express.Request, res: express.Response, _next: express.NextFunction) => {
    res.status(500).json({ error: "internal" });
  });
  app.delete("/invoices/:id", (_req, res) => void res.status(204).end());
  app.get("/healthz", (_req, res) => void res.send("ok"));
  app.post("/quiet/:id", (req, res) => {
    req.audit.skip();
    res.json({});
  });
  return new Promise((resolve) => {
    const server = app.listen(0, "127.0.0.1", () =>
      resolve({
        url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
        close: () => new Promise((done) => server.close(() => done())),
      }),
    );
  });
}

async function postInvoice(app: App) {
  return fetch(`${app.url}/invoices/42?token=abc-query-token`, {
    method: "POST",
    headers: {
      Authorization: "Bearer Bearer-auth-s3cret",
      Cookie: "session=c00kie-s3cret",
      "Content-Type": "application/json",
      "User-Agent": "middleware-test/1.0",
      "X-Request-Id": "req-invoice-42",
    },
    body: JSON.stringify({
      amount: 120,
      password: "hunter2-password",
      payment: { card_number: "4111111111111111", nested: [{ cvv: "123" }] },
    }),
  });
}

async function exportAll(client: VigilClient): Promise<string> {
  const stream = await client.export({ format: "ndjson" });
  return new Response(stream).text();
}

describe.each([
  ["Hono", honoApp],
  ["Express", expressApp],
] as const)("%s audit middleware against the real pipeline", (_name, startApp) => {
  let pipeline: TestPipeline;
  let api: RunningService;

  beforeAll(async () => {
    pipeline = await createTestPipeline();
    [api] = await Promise.all([pipeline.start("api"), pipeline.start("worker")]);
  });
  afterAll(async () => pipeline?.close());

  test("POST /invoices/42?token=… with Authorization, Cookie and secrets in the body: one event, no secret stored", async () => {
    const { tenant, key } = await pipeline.createTenantWithKey();
    const client = new VigilClient({ baseUrl: api.url, apiKey: key, flushIntervalMs: 50 });
    const app = await startApp(client);
    try {
      const response = await postInvoice(app);
      expect(response.status).toBe(201);
      expect((await fetch(`${app.url}/invoices/42`)).status).toBe(200);
      expect((await fetch(`${app.url}/boom?token=abc-query-token`)).status).toBe(500);
      expect((await fetch(`${app.url}/nowhere/abc-query-token`)).status).toBe(404);
    } finally {
      await app.close();
    }
    await eventually(async () => client.counters().accepted === 4 || undefined, 5_000, 20);
    expect(await client.shutdown({ timeoutMs: 10_000 })).toEqual({
      sent: 4,
      dropped: 0,
      pending: 0,
      failed: 0,
    });

    const events = await eventually(async () => {
      const page = await client.searchPage({ sort: "seq" });
      return page.data.length === 4 ? page.data : undefined;
    });
    const byRoute = new Map(
      events.map((event) => [`${event.action_type} ${(event.metadata as any).http.route}`, event]),
    );
    const created = byRoute.get("CREATE /invoices/:id") as StoredEvent;
    expect(created).toMatchObject({
      action_type: "CREATE",
      resource_type: "invoices",
      resource_id: "42",
      user_id: "alice",
      outcome: "success",
      severity: "INFO",
      user_agent: "middleware-test/1.0",
      after_state: { status: "approved", amount: 120 },
    });
    expect(created.metadata).toMatchObject({
      http: { method: "POST", route: "/invoices/:id", status: 201, request_id: "req-invoice-42" },
      body: {
        amount: 120,
        password: "[REDACTED]",
        payment: { card_number: "[REDACTED]", nested: [{ cvv: "[REDACTED]" }] },
      },
    });
    const http = (created.metadata as any).http;
    expect(http.duration_ms).toBeGreaterThanOrEqual(0);
    expect(Object.keys(http.headers).sort()).toEqual([
      "accept",
      "content-length",
      "content-type",
      "user-agent",
      "x-request-id",
    ]);
    expect(created.redacted).toEqual(
      expect.arrayContaining(["metadata.body.password", "metadata.body.payment.card_number"]),
    );
    expect(byRoute.get("VIEW /invoices/:id")).toMatchObject({ outcome: "success", resource_id: "42" });
    expect(byRoute.get("VIEW /boom")).toMatchObject({ outcome: "failure", severity: "ERROR" });
    expect(byRoute.get("VIEW (unmatched)")).toMatchObject({
      outcome: "failure",
      severity: "WARNING",
      resource_type: "route",
    });

    const exported = await exportAll(client);
    // Vigil records each export in the tenant's own log; that record may land inside the export.
    const appEvents = exported
      .trim()
      .split("\n")
      .filter((line) => JSON.parse(line).action !== "vigil.events.export");
    expect(appEvents).toHaveLength(4);
    for (const secret of SECRETS) expect(exported).not.toContain(secret);
    expect(exported).not.toMatch(/token=/);
    void tenant;
  });

  test("with Vigil unreachable every app request still succeeds and the drops are counted", async () => {
    const drops: string[] = [];
    const client = new VigilClient({
      baseUrl: "http://127.0.0.1:9", // nothing listens on the discard port
      apiKey: "vgl_unreachable",
      maxQueueEvents: 20,
      retry: { baseDelayMs: 10, maxDelayMs: 50, maxAttempts: 1_000 },
      onDrop: (info) => drops.push(info.reason),
    });
    const app = await startApp(client);
    try {
      const statuses = await Promise.all(
        Array.from({ length: 50 }, () => postInvoice(app).then((response) => response.status)),
      );
      expect(statuses.every((status) => status === 201)).toBe(true);
    } finally {
      await app.close();
    }
    await eventually(
      async () => client.counters().accepted + client.counters().dropped === 50 || undefined,
      5_000,
      20,
    );
    expect(client.counters()).toMatchObject({ accepted: 20, dropped: 30 });
    expect(drops.filter((reason) => reason === "queue_full")).toHaveLength(30);
    expect(await client.shutdown({ timeoutMs: 200 })).toMatchObject({ sent: 0, pending: 20 });
  });

  test("reads are sampled, writes and failures never are; audit.skip() and skip() leave a request out", async () => {
    const logged: Array<{ action_type: string; outcome?: string | null; resource_id: string }> = [];
    const recorder: Recorder = {
      log: (event) => {
        logged.push(event);
        return { id: "recorded", accepted: true };
      },
    };
    const app = await startApp(recorder, {
      sampleReads: 0,
      skip: (context: any) => (context.req?.path ?? context.path) === "/healthz",
    });
    try {
      for (let index = 0; index < 5; index++) await fetch(`${app.url}/invoices/${index}`);
      await fetch(`${app.url}/missing/1`);
      await fetch(`${app.url}/invoices/7`, { method: "DELETE" });
      await fetch(`${app.url}/healthz`);
      await fetch(`${app.url}/quiet/1`, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: "{}",
      });
    } finally {
      await app.close();
    }
    await eventually(async () => logged.length >= 2 || undefined, 2_000, 10);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(logged.map((event) => [event.action_type, event.outcome, event.resource_id])).toEqual([
      ["VIEW", "failure", "1"],
      ["DELETE", "success", "7"],
    ]);
  });
});
