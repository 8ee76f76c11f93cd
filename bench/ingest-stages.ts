// Per-stage CPU of the ingest path on one thread, without the network: the api's prepareEvents and
// queue packing, the worker's decode and hashing, for bulks of 1,000 sample events. A quick check
// between full `pnpm bench` runs: `npx tsx bench/ingest-stages.ts [rounds]`.
import { randomUUID } from "node:crypto";
import { DEFAULT_REDACT_KEYS } from "@vigil/shared/events/event-constants";
import { GENESIS_CHAIN_HASH } from "@vigil/shared/events/event-hash";
import { prepareEvents } from "@vigil/shared/events/prepare-events";
import { sensitiveKeyMatcher } from "@vigil/shared/events/redaction";
import { hashedRows } from "@vigil/shared/ingest/store-events";
import { decodeEventMessage, encodeEventMessages } from "@vigil/shared/queue/event-message";
import { sampleEvent } from "@vigil/testkit/events";

const rounds = Number(process.argv[2] ?? 30);
const tenantId = randomUUID();
const body = JSON.stringify(Array.from({ length: 1000 }, (_, index) => sampleEvent(index)));
const isSensitiveKey = sensitiveKeyMatcher(DEFAULT_REDACT_KEYS);
const stages: Record<string, number[]> = {};
const time = async <T>(name: string, work: () => T | Promise<T>): Promise<T> => {
  const started = process.cpuUsage();
  const result = await work();
  const used = process.cpuUsage(started);
  (stages[name] ??= []).push((used.user + used.system) / 1000);
  return result;
};
for (let round = 0; round < rounds; round++) {
  const items = await time("api: JSON.parse body", () => JSON.parse(body) as unknown[]);
  const events = await time("api: prepareEvents", () =>
    prepareEvents(items, { tenantId, isSensitiveKey }, async () => null, { bulk: true }),
  );
  const bodies = await time("api: encode messages", () => encodeEventMessages(tenantId, events, 1024 * 1000));
  const decoded = await time("worker: decode messages", () =>
    bodies.flatMap((b) => decodeEventMessage(b).events),
  );
  const rows = await time("worker: hashes", () => hashedRows(decoded, 0, GENESIS_CHAIN_HASH));
  await time("worker: rows JSON", () => JSON.stringify(rows));
}
for (const [name, values] of Object.entries(stages)) {
  const sorted = values.slice(Math.floor(rounds / 3)).sort((a, b) => a - b);
  console.log(
    `${name.padEnd(28)} ${sorted[Math.floor(sorted.length / 2)]!.toFixed(2)} ms CPU per 1,000 events (median)`,
  );
}
