// What the api does with one posted event, step by step with the same code and limits (request
// body size and depth, JSON.parse, prepareEvents), and what the queue does with an accepted one
// (encode as the api publishes, decode with the worker's limits). Used by the property test and
// bench/ingest-invariant.ts; free of vitest.
import { VigilError } from "../../src/errors/vigil-error.ts";
import { computeEventHash } from "../../src/events/event-hash.ts";
import { EVENT_LIMITS, type NormalizedEvent, normalizedEventSchema } from "../../src/events/event-schema.ts";
import { findNestingOverflow } from "../../src/events/json-bounds.ts";
import { type IngestContext, prepareEvents } from "../../src/events/prepare-events.ts";
import { looksLikeSecret, REDACTED_LIST_LIMITS } from "../../src/events/redaction.ts";
import {
  decodeEventMessage,
  encodeEventMessages,
  SQS_MAX_MESSAGE_BYTES,
} from "../../src/queue/event-message.ts";
import { toBodyText } from "./event-arbitraries.ts";

export type DoorOutcome =
  | { kind: "accepted"; event: NormalizedEvent }
  | { kind: "refused"; status: number; fields: string[] };

/** As services/api/src/routes/event-routes.ts reads a single event's body. */
const SINGLE_BODY_LIMIT = EVENT_LIMITS.maxEventBytes + 16 * 1024;
const SINGLE_BODY_DEPTH = EVENT_LIMITS.maxJsonDepth + 1;
const RETENTION_DAYS = 365;

/**
 * The api's answer to `item` posted alone. Throws (a 500 in the api) on anything but a 4xx
 * VigilError that names at least one field.
 */
export async function acceptAtTheDoor(item: unknown, context: IngestContext): Promise<DoorOutcome> {
  const text = toBodyText(item);
  if (Buffer.byteLength(text) > SINGLE_BODY_LIMIT)
    return { kind: "refused", status: 413, fields: ["(body)"] };
  if (findNestingOverflow(text, SINGLE_BODY_DEPTH) >= 0)
    return { kind: "refused", status: 422, fields: ["(depth)"] };
  const now = context.now ?? new Date();
  const oldest = new Date(now.getTime() - RETENTION_DAYS * 86_400_000);
  try {
    const [event] = await prepareEvents([JSON.parse(text)], context, async () => oldest, { bulk: false });
    return { kind: "accepted", event: event! };
  } catch (error) {
    if (!(error instanceof VigilError)) throw error;
    if (error.status < 400 || error.status >= 500 || !error.errors?.length)
      throw new Error(`a refusal that is not a 4xx naming a field: ${error.status} ${error.code}`);
    return {
      kind: "refused",
      status: error.status,
      fields: error.errors.map((fieldError) => fieldError.path),
    };
  }
}

/** Why an accepted event could not be carried or stored as it is, if anything. */
export function storableProblems(event: NormalizedEvent): string[] {
  const problems: string[] = [];
  if (!normalizedEventSchema.safeParse(event).success) problems.push("not a valid queued event");
  if (Buffer.byteLength(JSON.stringify(event)) > EVENT_LIMITS.maxEventBytes)
    problems.push("event over 256 KiB");
  for (const field of ["before_state", "after_state", "metadata"] as const) {
    const state = event[field];
    if (state && Buffer.byteLength(JSON.stringify(state)) > EVENT_LIMITS.maxStateBytes)
      problems.push(`${field} over 64 KiB as stored`);
    if (someString(state, looksLikeSecret)) problems.push(`${field} holds a secret-shaped value`);
  }
  const redactedChars = event.redacted.reduce((sum, path) => sum + path.length, 0);
  if (event.redacted.length > REDACTED_LIST_LIMITS.maxPaths || redactedChars > REDACTED_LIST_LIMITS.maxChars)
    problems.push("redacted list over its bound");
  try {
    computeEventHash({ ...event, seq: 1 });
  } catch {
    problems.push("the hash cannot be computed");
  }
  return problems;
}

/** Throws listing the problems when the event is not storable as it is. */
export function expectStorable(event: NormalizedEvent): void {
  const problems = storableProblems(event);
  if (problems.length > 0) throw new Error(`accepted but not storable: ${problems.join("; ")}`);
}

/** Encodes as the api publishes (SQS's size limit), decodes as the worker does; returns the decoded events. */
export async function throughTheCodec(
  tenantId: string,
  events: NormalizedEvent[],
): Promise<NormalizedEvent[]> {
  const bodies = await encodeEventMessages(tenantId, events, SQS_MAX_MESSAGE_BYTES - 1024);
  for (const body of bodies)
    if (Buffer.byteLength(body) > SQS_MAX_MESSAGE_BYTES) throw new Error("a message body over the SQS limit");
  return bodies.flatMap((body) => decodeEventMessage(body).events);
}

function someString(value: unknown, predicate: (text: string) => boolean): boolean {
  const pending: unknown[] = [value];
  while (pending.length > 0) {
    const next = pending.pop();
    if (typeof next === "string") {
      if (predicate(next)) return true;
    } else if (next !== null && typeof next === "object") {
      pending.push(...Object.values(next));
    }
  }
  return false;
}
