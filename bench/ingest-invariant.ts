// `npx tsx bench/ingest-invariant.ts [--events=10000] [--seed=N]`: the ingest door's invariant at
// full size. Generates client bodies (valid, invalid and adversarial: packages/shared/test/property),
// runs each through what the api does (body limits, depth scan, JSON.parse, prepareEvents), every
// accepted event through the queue codec with the worker's limits and storeEvents into its own
// embedded PostgreSQL, then checks each accepted event is stored exactly once (a redelivery of
// everything stores nothing) and the verifier recomputes every stored hash. Exit code 1 on any
// violation. The vitest property test runs the same with 10,000 bodies through the codec and a
// sample through the store.
import { parseArgs } from "node:util";
import type { NormalizedEvent } from "@vigil/shared/events/event-schema";
import { sensitiveKeyMatcher } from "@vigil/shared/events/redaction";
import { storeEvents } from "@vigil/shared/ingest/store-events";
import { verifyTenantLog } from "@vigil/shared/integrity/verify-tenant-log";
import { tenantScope } from "@vigil/shared/query/tenant-scope";
import { createTenant } from "@vigil/shared/tenants/tenants";
import { sampleEventItems } from "../packages/shared/test/property/event-arbitraries.ts";
import {
  acceptAtTheDoor,
  storableProblems,
  throughTheCodec,
} from "../packages/shared/test/property/ingest-door.ts";
import { startBenchStack } from "./bench-stack.ts";

const { values: args } = parseArgs({
  options: { events: { type: "string", default: "10000" }, seed: { type: "string", default: "20261207" } },
  strict: true,
});
const total = Number(args.events);
const seed = Number(args.seed);
const CHUNK = 500;
const STORE_BATCH = 50;

const log = (line: string) =>
  process.stdout.write(`[invariant ${new Date().toISOString().slice(11, 19)}] ${line}\n`);
// The default list of VIGIL_REDACT_KEYS, as the api runs with it.
const isSensitiveKey = sensitiveKeyMatcher(
  "password,passwd,pwd,passphrase,secret,token,api_key,apikey,authorization,auth,credentials,cookie,cookies,set-cookie,private_key,client_secret,credit_card,card_number,cvv,ssn".split(
    ",",
  ),
);

async function main(): Promise<number> {
  const stack = await startBenchStack(log);
  try {
    const db = stack.pipeline.database.db;
    const tenantId = (await createTenant(stack.admin, { name: "invariant", retention_days: 3650 })).id;
    const now = new Date();
    const startedAt = performance.now();
    const failures: string[] = [];
    const refusals = new Map<string, number>();
    const firstPayload = new Map<string, string>();
    let accepted = 0;
    let stored = 0;
    let redelivered = 0;
    let collapsed = 0;
    for (let offset = 0; offset < total; offset += CHUNK) {
      const items = sampleEventItems({ now, tenantId }, Math.min(CHUNK, total - offset), seed + offset);
      const events: NormalizedEvent[] = [];
      for (const item of items) {
        try {
          const outcome = await acceptAtTheDoor(item, { tenantId, isSensitiveKey, now });
          if (outcome.kind === "refused") {
            const key = `${outcome.status} ${outcome.fields[0]}`;
            refusals.set(key, (refusals.get(key) ?? 0) + 1);
            continue;
          }
          const problems = storableProblems(outcome.event);
          if (problems.length > 0) failures.push(`accepted but not storable: ${problems.join("; ")}`);
          if (outcome.event.redacted.some((path) => path.endsWith(".*"))) collapsed++;
          if (!firstPayload.has(outcome.event.id))
            firstPayload.set(outcome.event.id, outcome.event.payload_hash);
          events.push(outcome.event);
        } catch (error) {
          failures.push(`a 500 at the door: ${(error as Error).message}`);
        }
      }
      accepted += events.length;
      for (let start = 0; start < events.length; start += STORE_BATCH) {
        const decoded = await throughTheCodec(tenantId, events.slice(start, start + STORE_BATCH));
        if (JSON.stringify(decoded) !== JSON.stringify(events.slice(start, start + STORE_BATCH)))
          failures.push("the codec changed an event");
        stored += (await storeEvents(db, decoded)).stored;
      }
      // SQS redelivers: the whole chunk again stores nothing.
      redelivered += (await storeEvents(db, await throughTheCodec(tenantId, events))).stored;
      log(`${offset + items.length}/${total} generated, ${accepted} accepted, ${stored} stored`);
    }
    const [counts] = await stack.admin<{ rows: number; ids: number }[]>`
      select count(*)::int as rows, count(distinct id)::int as ids from events where tenant_id = ${tenantId}`;
    if (stored !== firstPayload.size) failures.push(`stored ${stored}, expected ${firstPayload.size}`);
    if (redelivered !== 0) failures.push(`a redelivery stored ${redelivered} events again`);
    if (counts!.rows !== firstPayload.size || counts!.ids !== firstPayload.size)
      failures.push(`rows ${counts!.rows}, distinct ids ${counts!.ids}, expected ${firstPayload.size}`);
    const report = await verifyTenantLog(db, tenantScope(tenantId));
    const hashProblems = report.problems.filter((problem) => !problem.problem.startsWith("checkpoint"));
    if (report.checked !== firstPayload.size || hashProblems.length > 0)
      failures.push(`verifier: checked ${report.checked}, ${JSON.stringify(hashProblems.slice(0, 3))}`);

    const seconds = ((performance.now() - startedAt) / 1000).toFixed(1);
    log(
      `${total} bodies in ${seconds} s: ${accepted} accepted (${collapsed} with a collapsed redacted list), ` +
        `${total - accepted} refused with a 4xx naming a field; ${stored} stored once ` +
        `(${accepted - firstPayload.size} repeated client ids), redelivery stored ${redelivered}, ` +
        `verifier recomputed ${report.checked} hashes`,
    );
    const topRefusals = [...refusals].sort((a, b) => b[1] - a[1]).slice(0, 12);
    log(
      `refusals by status and first field: ${topRefusals.map(([key, count]) => `${key} ×${count}`).join(", ")}`,
    );
    for (const failure of failures.slice(0, 20)) log(`VIOLATION ${failure}`);
    log(failures.length === 0 ? "invariant holds" : `${failures.length} violations`);
    return failures.length === 0 ? 0 : 1;
  } finally {
    await stack.stop();
  }
}

main().then(
  (code) => process.exit(code),
  (error) => {
    console.error(error);
    process.exit(2);
  },
);
