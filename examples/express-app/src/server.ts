// A small invoices API instrumented with Vigil: one line (`app.use(vigilAudit({ client }))`) records
// every request as an audit event; handlers add the before/after state through `req.audit`. Run it
// against `pnpm start` (see README.md). Configuration: VIGIL_URL, VIGIL_API_KEY, PORT.
import { VigilClient } from "@vigil/sdk";
import { vigilAudit } from "@vigil/sdk/express";
import express from "express";
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

const app = express();
// Demo authentication: the caller names itself in X-User. A real app verifies a session or JWT here
// (express-jwt sets req.auth.sub, passport sets req.user.id — both are what the middleware reads).
app.use((req, _res, next) => {
  const user = req.get("x-user");
  if (user) (req as unknown as { user: { id: string } }).user = { id: user };
  next();
});
app.use(express.json());
app.use(
  vigilAudit({ client: vigil, trustProxy: settings.trustProxy, skip: (req) => req.path === "/healthz" }),
);

app.get("/healthz", (_req, res) => void res.send("ok"));
app.get("/invoices", (_req, res) => void res.json([...invoices.values()]));
app.post("/invoices", (req, res) => {
  const invoice: Invoice = {
    id: String(nextId++),
    customer: req.body.customer,
    amount: req.body.amount,
    status: "draft",
  };
  invoices.set(invoice.id, invoice);
  req.audit.set({ resource_type: "invoices", resource_id: invoice.id, after_state: { ...invoice } });
  res.status(201).json(invoice);
});
app.get("/invoices/:id", (req, res) => {
  const invoice = invoices.get(req.params.id);
  if (!invoice) return void res.status(404).json({ error: "not found" });
  res.json(invoice);
});
app.patch("/invoices/:id", (req, res) => {
  const invoice = invoices.get(req.params.id);
  if (!invoice) return void res.status(404).json({ error: "not found" });
  const before = { ...invoice };
  Object.assign(invoice, req.body);
  req.audit.set({ action: "invoice.update", before_state: before, after_state: { ...invoice } });
  res.json(invoice);
});
app.delete("/invoices/:id", (req, res) => {
  const invoice = invoices.get(req.params.id);
  if (!invoice) return void res.status(404).json({ error: "not found" });
  invoices.delete(invoice.id);
  req.audit.set({ before_state: { ...invoice }, severity: "WARNING" });
  res.status(204).end();
});

const server = app.listen(settings.port, "127.0.0.1", () => {
  console.log(`example Express app on http://127.0.0.1:${settings.port} — auditing to ${settings.vigilUrl}`);
  console.log(
    `try: curl -s -X POST http://127.0.0.1:${settings.port}/invoices -H 'X-User: alice' -H 'Content-Type: application/json' -d '{"customer":"acme","amount":120,"card_number":"4111111111111111"}'`,
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
