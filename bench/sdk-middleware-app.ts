// One app process for sdk-bench.ts's middleware comparison: a Hono invoices route, with no audit
// middleware ("none"), or audited to a Vigil that is down ("down") or answers after 5 s ("slow").
// Prints `ready <port>` on stdout; stops on SIGTERM. Usage: tsx sdk-middleware-app.ts <mode> [slowUrl]
import type { AddressInfo } from "node:net";
import { serve } from "@hono/node-server";
import { Hono } from "hono";
import { vigilAudit } from "../packages/sdk/src/hono.ts";
import { VigilClient } from "../packages/sdk/src/index.ts";

const [mode = "none", slowUrl = ""] = process.argv.slice(2);
const client =
  mode === "down"
    ? new VigilClient({ baseUrl: "http://127.0.0.1:9", apiKey: "vgl_bench" })
    : mode === "slow"
      ? new VigilClient({ baseUrl: slowUrl, apiKey: "vgl_bench", requestTimeoutMs: 60_000 })
      : undefined;
const app = new Hono();
if (client) app.use("*", vigilAudit({ client }));
app.post("/invoices/:id", async (c) => c.json({ id: c.req.param("id"), body: await c.req.json() }, 201));
const server = serve({ fetch: app.fetch, port: 0, hostname: "127.0.0.1" }, () => {
  process.stdout.write(`ready ${(server.address() as AddressInfo).port}\n`);
});
process.once("SIGTERM", () => {
  const counters = client?.counters();
  process.stdout.write(`counters ${JSON.stringify(counters ?? null)}\n`);
  server.close();
  process.exit(0);
});
