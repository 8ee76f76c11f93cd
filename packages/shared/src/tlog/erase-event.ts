// Erasure next to an immutable log (GDPR art. 17, spec §13): an event's personal-data fields and
// its salt are removed; its seq, id, hash, chain link and Merkle leaf stay, so every proof still
// verifies and the event reads back as erased. The erasure is itself an event of the log (who,
// when, why, which fields — never the erased values), queued BEFORE the row changes: if the queue
// is down nothing is erased, and `pnpm vigil verify` flags any erased row no such event names.
import { z } from "zod";
import { type AuditRecorder, recordAuditEvent } from "../audit/record-audit-event.ts";
import type { Database } from "../db/database.ts";
import { VigilError } from "../errors/vigil-error.ts";
import { isStorable, UNSTORABLE_MESSAGE } from "../events/storable-text.ts";
import { readEventsByIds } from "../query/read-events-by-ids.ts";
import type { TenantScope } from "../query/tenant-scope.ts";
import type { EventIndexTarget } from "../search/opensearch/event-index.ts";
import { indexStoredEvents } from "../search/opensearch/index-events.ts";

export const ERASURE_ACTION = "vigil.events.erase";
export const ERASURE_RESOURCE_TYPE = "vigil.event";

/** The fields an erasure may remove (spec §13); all of them unless the request names some. */
export const ERASABLE_FIELDS = [
  "user_id",
  "session_id",
  "ip_address",
  "user_agent",
  "before_state",
  "after_state",
  "metadata",
] as const;

export const erasureRequestSchema = z.strictObject({
  reason: z
    .string()
    .trim()
    .min(1, "must not be empty")
    .max(1000, "must be at most 1000 characters")
    .refine(isStorable, UNSTORABLE_MESSAGE),
  fields: z
    .array(z.enum(ERASABLE_FIELDS, `each must be one of ${ERASABLE_FIELDS.join(", ")}`))
    .min(1, "must name at least one field")
    .optional(),
});

export type ErasureRequest = z.infer<typeof erasureRequestSchema>;

export interface ErasureMarker {
  at: string;
  by: string;
  fields: string[];
}

export interface ErasureResult {
  id: string;
  seq: number;
  erased: ErasureMarker;
  /** Id of the event that records the erasure in the tenant's log. */
  erasure_event_id: string;
}

export interface ErasureContext {
  db: Database;
  recorder: AuditRecorder;
  /** Who asked (`user:…`, `key:…`), as recorded in the log and in the row's marker. */
  actor: string;
  /** The OpenSearch index, when one is fed: the erased document is overwritten there too. */
  searchIndex?: EventIndexTarget;
}

export async function eraseEvent(
  context: ErasureContext,
  scope: TenantScope,
  id: string,
  request: ErasureRequest,
): Promise<ErasureResult> {
  const fields = [...new Set(request.fields ?? ERASABLE_FIELDS)].sort();
  const [current] = await context.db.withTenant(
    scope.tenantId,
    (tx) => tx<{ seq: number; erased: ErasureMarker | null }[]>`
      select e.seq, e.erased from event_ids i
      join events e on e.tenant_id = i.tenant_id and e.occurred_at = i.occurred_at and e.seq = i.seq
      where i.tenant_id = ${scope.tenantId} and i.id = ${id}::uuid`,
  );
  if (!current) throw new VigilError("NOT_FOUND", "no event with that id");
  if (current.erased) throw new VigilError("CONFLICT", `event already erased at ${current.erased.at}`);

  const erasureEventId = await recordAuditEvent(context.recorder, scope.tenantId, {
    action_type: "DELETE",
    action: ERASURE_ACTION,
    resource_type: ERASURE_RESOURCE_TYPE,
    resource_id: id,
    user_id: context.actor,
    metadata: { seq: current.seq, fields, reason: request.reason },
  });

  const [row] = await context.db.withTenant(
    scope.tenantId,
    (tx) => tx<{ seq: number; erased: ErasureMarker }[]>`
      select seq, erased from vigil_erase_event(${id}::uuid, ${fields}::text[], ${context.actor})`,
  );
  // Erased concurrently by another request in between: the row is erased either way.
  if (!row) throw new VigilError("CONFLICT", "event already erased");

  if (context.searchIndex) {
    const erased = await readEventsByIds(context.db, scope, [id]);
    const outcome = await indexStoredEvents(context.searchIndex, erased);
    if (outcome.failed.length > 0) {
      // The row is erased; the index copy is fixed by `pnpm vigil opensearch reindex`.
      throw new VigilError(
        "SEARCH_UNAVAILABLE",
        "the event was erased, but its search-index copy could not be overwritten; run `pnpm vigil opensearch reindex`",
      );
    }
  }
  return { id, seq: row.seq, erased: row.erased, erasure_event_id: erasureEventId };
}
