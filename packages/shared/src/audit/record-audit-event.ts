// Vigil's own audit trail: admin writes, logins, exports and cleanups become ordinary events,
// validated, redacted and queued exactly like client events, so they get a seq and a hash too.
import type { EventInput } from "../events/event-schema.ts";
import { prepareEvents } from "../events/prepare-events.ts";
import type { KeyMatcher } from "../events/redaction.ts";
import type { EventQueue } from "../queue/event-queue.ts";

export interface AuditRecorder {
  queue: EventQueue;
  isSensitiveKey: KeyMatcher;
}

/** Queues one event in `tenantId`'s log and returns its id. Throws 503 if the queue is down. */
export async function recordAuditEvent(
  recorder: AuditRecorder,
  tenantId: string,
  event: Omit<EventInput, "tenant_id">,
): Promise<string> {
  const [prepared] = await prepareEvents(
    [event],
    { tenantId, isSensitiveKey: recorder.isSensitiveKey },
    async () => null,
    { bulk: false },
  );
  await recorder.queue.publishEvents([prepared!]);
  return prepared!.id;
}
