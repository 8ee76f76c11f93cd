// Event traffic for the streamer tests: varied, deterministic events posted in bulk to the real api,
// and the expected per-filter result read back from PostgreSQL (so the stream's in-memory filter is
// checked against the SQL one).

import type { TestDatabase } from "@vigil/testkit/database";
import { requestJson } from "@vigil/testkit/http-client";

type Sql = TestDatabase["admin"];

const ACTION_TYPES = ["CREATE", "UPDATE", "DELETE", "VIEW"] as const;
const SEVERITIES = ["INFO", "WARNING", "ERROR", "CRITICAL"] as const;
const RESOURCE_TYPES = ["invoice", "user", "project"] as const;

export function makeEvent(i: number, padding = 0) {
  return {
    action_type: ACTION_TYPES[i % 4],
    severity: SEVERITIES[(i >> 2) % 4],
    resource_type: RESOURCE_TYPES[i % 3],
    resource_id: `r-${i}`,
    user_id: `user-${i % 7}`,
    outcome: i % 5 === 0 ? "failure" : "success",
    metadata: padding > 0 ? { i, note: "x".repeat(padding) } : { i },
  };
}

/** Posts `count` events in bulk requests of up to 1000, `parallel` requests at a time. */
export async function postEvents(
  apiUrl: string,
  key: string,
  count: number,
  options: { start?: number; parallel?: number; padding?: number } = {},
) {
  const start = options.start ?? 0;
  const batches: number[][] = [];
  for (let offset = 0; offset < count; offset += 1000) {
    batches.push(Array.from({ length: Math.min(1000, count - offset) }, (_, j) => start + offset + j));
  }
  const parallel = options.parallel ?? 2;
  let next = 0;
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      while (next < batches.length) {
        const batch = batches[next++]!;
        const response = await requestJson(`${apiUrl}/api/v1/logs/bulk`, {
          key,
          body: batch.map((i) => makeEvent(i, options.padding)),
        });
        if (response.status !== 202)
          throw new Error(`bulk post failed: ${response.status} ${JSON.stringify(response.body)}`);
      }
    }),
  );
}

export async function storedCount(admin: Sql, tenantId: string): Promise<number> {
  const [row] = await admin<
    { last_seq: number }[]
  >`select last_seq from tenant_sequences where tenant_id = ${tenantId}`;
  return Number(row?.last_seq ?? 0);
}

export async function waitForStored(
  admin: Sql,
  tenantId: string,
  count: number,
  timeoutMs = 120_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while ((await storedCount(admin, tenantId)) < count) {
    if (Date.now() > deadline) throw new Error(`tenant ${tenantId} did not reach ${count} stored events`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
