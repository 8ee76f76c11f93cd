// A small invoices API instrumented with Vigil: one line (`app.use("*", vigilAudit({ client }))`)
// records every request as an audit event; handlers add the before/after state. Run it against
// `pnpm start` (see README.md). Configuration: VIGIL_URL, VIGIL_API_KEY, PORT.
import { serve } from "@hono/node-server";
import { VigilClient } from "@vigil/sdk";
import { type VigilAuditVariables, vigilAudit } from "@vigil/sdk/hono";
import { Hono } from "hono";
import { settings } from "./config.ts";

if (!settings.apiKey) {
  console.error("VIGIL_API_KEY is required (an ingest key; see README.md)");
  process.exit(64);
}

const vigil = new VigilClient({
  baseUrl: settings.vigilUrl,
  apiKey: settings.apiKey,
  onDrop: (drop) => console.warn(`vigil: ${drop.ids.length} event(s) not stored (${drop.reason})`),
});

interface Invoice {
  id: string;
  customer: string;
  amount: number;
  status: "draft" | "approved" | "paid";
}
const invoices = new Map<string, Invoice>();
let nextId = 1;

const app = new Hono<{ Variables: VigilAuditVariables & { user?: { id: string } } }>();

// Demo authentication: the caller names itself in X-User. A real app verifies a session or JWT here;
// the audit middleware takes the actor from what this step verified (c.get("user").id or the JWT sub).
app.use("*", async (c, next) => {
  const user = c.req.header("x-user");
  if (user) c.set("user", { id: user });
  await next();
});
app.use("*", vigilAudit({ client: vigil, sampleReads: 1, skip: (c) => c.req.path === "/healthz" }));

app.get("/healthz", (c) => c.text("ok"));
app.get("/invoices", (c) => c.json([...invoices.values()]));
app.post("/invoices", async (c) => {
  const body = await c.req.json<{ customer: string; amount: number }>();
  const invoice: Invoice = {
    id: String(nextId++),
    customer: body.customer,
    amount: body.amount,
    status: "draft",
  };
  invoices.set(invoice.id, invoice);
  // A create has no route parameter: name the new resource for the audit event.
  c.get("audit").set({ resource_type: "invoices", resource_id: invoice.id, after_state: { ...invoice } });
  return c.json(invoice, 201);
});
app.get("/invoices/:id", (c) => {
  const invoice = invoices.get(c.req.param("id"));
  return invoice ? c.json(invoice) : c.json({ error: "not found" }, 404);
});
app.patch("/invoices/:id", async (c) => {
  const invoice = invoices.get(c.req.param("id"));
  if (!invoice) return c.json({ error: "not found" }, 404);
  const before = { ...invoice };
  Object.assign(invoice, await c.req.json<Partial<Invoice>>());
  c.get("audit").set({ action: "invoice.update", before_state: before, after_state: { ...invoice } });
  return c.json(invoice);
});
app.delete("/invoices/:id", (c) => {
  const invoice = invoices.get(c.req.param("id"));
  if (!invoice) return c.json({ error: "not found" }, 404);
  invoices.delete(invoice.id);
  c.get("audit").set({ before_state: { ...invoice }, severity: "WARNING" });
  return c.body(null, 204);
});

const server = serve({ fetch: app.fetch, port: settings.port, hostname: "127.0.0.1" }, (info) => {
  console.log(`example Hono app on http://127.0.0.1:${info.port} — auditing to ${settings.vigilUrl}`);
  console.log(
    `try: curl -s -X POST http://127.0.0.1:${info.port}/invoices -H 'X-User: alice' -H 'Content-Type: application/json' -d '{"customer":"acme","amount":120,"card_number":"4111111111111111"}'`,
  );
});

// Stop taking requests, then send what is queued (at most 5 s) before exiting. A repeated signal
// (Ctrl-C reaches the whole process group, pnpm included) changes nothing. The start script runs
// `node --import tsx`, not the `tsx` wrapper: that wrapper SIGKILLs a child that does not report a
// signal within 30 ms, which under load cut the flush short.
let stopping = false;
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, () => {
    if (stopping) return;
    stopping = true;
    server.close();
    void vigil.shutdown({ timeoutMs: 5_000 }).then((result) => {
      console.log(`vigil: ${JSON.stringify(result)}`);
      process.exit(0);
    });
  });
}
