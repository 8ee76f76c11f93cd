// Erasure against the real PostgreSQL and queue: only the named personal-data fields and the salt
// go (from the table, and from the search index, whose copy is overwritten); what records the
// erasure never carries the erased values; the narrow SECURITY DEFINER function is the only way
// the service role can change an event, and it stays inside the transaction's tenant.
import { randomBytes, randomUUID } from "node:crypto";
import { sensitiveKeyMatcher } from "@vigil/shared/events/redaction";
import { storeEvents } from "@vigil/shared/ingest/store-events";
import { tenantScope } from "@vigil/shared/query/tenant-scope";
import { decodeEventMessage } from "@vigil/shared/queue/event-message";
import { openSearchTarget } from "@vigil/shared/search/opensearch/opensearch-client";
import { eraseEvent } from "@vigil/shared/tlog/erase-event";
import { createTestPipeline, queuedEvent, type TestPipeline } from "@vigil/testkit";
import { bulkLines, FakeOpenSearch } from "@vigil/testkit/fake-opensearch";
import { afterAll, beforeAll, expect, test } from "vitest";

let pipeline: TestPipeline;
let fake: FakeOpenSearch;

beforeAll(async () => {
  pipeline = await createTestPipeline();
  fake = await new FakeOpenSearch().start();
});
afterAll(async () => {
  await fake?.stop();
  await pipeline?.close();
});

const SECRET_USER = "jane.doe@example.com";

async function storedEvent(tenantId: string) {
  const event = queuedEvent(tenantId, {
    id: randomUUID(),
    user_id: SECRET_USER,
    session_id: "sess-42",
    ip_address: "192.0.2.7",
    metadata: { email: SECRET_USER },
    payload_hash: randomBytes(32).toString("hex"),
  });
  await storeEvents(pipeline.database.db, [event]);
  return event;
}

test("only the named fields and the salt are removed, in the table and the search index; the record names fields, not values", async () => {
  const { tenant } = await pipeline.createTenantWithKey();
  const event = await storedEvent(tenant.id);
  const [before] = await pipeline.database
    .admin`select hash, chain_hash, seq from events where id = ${event.id}`;
  const result = await eraseEvent(
    {
      db: pipeline.database.db,
      recorder: { queue: pipeline.queue, isSensitiveKey: sensitiveKeyMatcher([]) },
      actor: "user:dpo",
      searchIndex: openSearchTarget(fake.url, "vigil-test"),
    },
    tenantScope(tenant.id),
    event.id,
    { reason: "GDPR art. 17 request #9", fields: ["user_id", "metadata", "user_id"] },
  );
  expect(result.erased).toMatchObject({ by: "user:dpo", fields: ["metadata", "user_id"] });

  const [after] = await pipeline.database.admin`
    select user_id, session_id, ip_address, metadata, salt, erased, hash, chain_hash, seq, search_vector::text as search
    from events where id = ${event.id}`;
  expect(after).toMatchObject({
    user_id: null,
    metadata: null,
    salt: null,
    session_id: "sess-42",
    ip_address: "192.0.2.7",
    hash: before!.hash,
    chain_hash: before!.chain_hash,
    seq: before!.seq,
  });
  expect(after!.search).not.toContain("jane");

  const [bulk] = fake.bulkRequests();
  expect(bulk!.body).not.toContain(SECRET_USER);
  const [, document] = bulkLines(bulk!);
  expect(document).toMatchObject({ id: event.id, user_id: null, metadata: null, session_id: "sess-42" });

  const messages = await pipeline.queue.receive(10, 1, 30);
  const queued = messages.flatMap((message) => decodeEventMessage(message.Body!).events);
  const record = queued.find((candidate) => candidate.id === result.erasure_event_id);
  expect(record).toMatchObject({ action: "vigil.events.erase", resource_id: event.id, user_id: "user:dpo" });
  expect(JSON.stringify(queued)).not.toContain(SECRET_USER);
});

test("the service role changes events only through vigil_erase_event, within its own tenant and field list", async () => {
  const { tenant } = await pipeline.createTenantWithKey();
  const { tenant: other } = await pipeline.createTenantWithKey();
  const event = await storedEvent(tenant.id);
  const db = pipeline.database.db;
  await expect(
    db.withTenant(tenant.id, (tx) => tx`update events set user_id = null where id = ${event.id}`),
  ).rejects.toThrow(/permission denied/);
  await expect(
    db.withoutTenant(
      (tx) => tx`select * from vigil_erase_event(${event.id}::uuid, ${["user_id"]}::text[], 'x')`,
    ),
  ).rejects.toThrow(/tenant-scoped/);
  await expect(
    db.withTenant(
      tenant.id,
      (tx) => tx`select * from vigil_erase_event(${event.id}::uuid, ${["hash"]}::text[], 'x')`,
    ),
  ).rejects.toThrow(/erasable fields/);
  const foreign = await db.withTenant(
    other.id,
    (tx) => tx`select * from vigil_erase_event(${event.id}::uuid, ${["user_id"]}::text[], 'x')`,
  );
  expect(foreign).toEqual([]);
  const context = {
    db,
    recorder: { queue: pipeline.queue, isSensitiveKey: sensitiveKeyMatcher([]) },
    actor: "user:x",
  };
  await expect(eraseEvent(context, tenantScope(other.id), event.id, { reason: "x" })).rejects.toMatchObject({
    code: "NOT_FOUND",
  });
  const [row] = await pipeline.database.admin`select user_id, erased from events where id = ${event.id}`;
  expect(row).toEqual({ user_id: SECRET_USER, erased: null });
});
