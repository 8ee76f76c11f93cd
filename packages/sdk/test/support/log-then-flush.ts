// A child process for the crash test: logs `count` events, prints what makes them reproducible (the
// ids log() gave them and the base of their timestamps) as one JSON line, then flushes. The test
// SIGKILLs it mid-flush. Given that line on stdin it logs the very same events again, as an app
// with an outbox would after a restart.
// Usage: node --import tsx log-then-flush.ts <baseUrl> <apiKey> <count>  (stdin: a previous line or "")
import { readFileSync } from "node:fs";
import { VigilClient } from "../../src/index.ts";

const [baseUrl, apiKey, count] = process.argv.slice(2);
const stdin = readFileSync(0, "utf8").trim();
const previous = stdin ? (JSON.parse(stdin) as { ids: string[]; startedAt: number }) : undefined;
const startedAt = previous?.startedAt ?? Date.now();
const client = new VigilClient({ baseUrl: baseUrl!, apiKey, batchSize: 100, maxConcurrentRequests: 2 });
const ids: string[] = [];
for (let index = 0; index < Number(count); index++) {
  const result = client.log({
    id: previous?.ids[index],
    occurred_at: new Date(startedAt + index).toISOString(),
    action_type: "UPDATE",
    resource_type: "invoice",
    resource_id: `inv-${index}`,
    metadata: { index, password: "never-stored" },
  });
  if (!result.accepted) throw new Error(`not accepted: ${result.reason}`);
  ids.push(result.id);
}
process.stdout.write(`logged ${JSON.stringify({ ids, startedAt })}\n`);
const result = await client.flush();
process.stdout.write(`flushed ${JSON.stringify(result)}\n`);
