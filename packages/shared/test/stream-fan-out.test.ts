// Live fan-out of one feed batch: subscribers with equal filters share one evaluation and one frame
// buffer, an unfiltered one takes the batch's own frames, and a subscriber whose position lies
// inside the batch still gets only what is after it. Pure: no database, the sink records writes.
import { describe, expect, test } from "vitest";
import type { StoredEvent } from "../src/events/event-schema.ts";
import { compileStreamFilter, type StreamFilter } from "../src/stream/event-filter-match.ts";
import type { StreamGrant } from "../src/stream/stream-request.ts";
import { StreamSubscription, type SubscriptionEnvironment } from "../src/stream/stream-subscription.ts";
import { type TenantFeed, toFeedBatch } from "../src/stream/tenant-feed.ts";

const TENANT = "00000000-0000-7000-8000-0000000000aa";
const ACTION_TYPES = ["CREATE", "UPDATE", "DELETE", "VIEW"] as const;

function storedEvent(seq: number): StoredEvent {
  return {
    seq,
    id: `00000000-0000-7000-8000-${String(seq).padStart(12, "0")}`,
    tenant_id: TENANT,
    action_type: ACTION_TYPES[seq % 4],
    severity: seq % 3 === 0 ? "ERROR" : "INFO",
    user_id: `user-${seq % 2}`,
    occurred_at: new Date(Date.UTC(2026, 0, 1, 0, 0, seq)).toISOString(),
  } as unknown as StoredEvent;
}

/** Seqs of the event messages in a buffer of server text frames. */
function seqsOf(frames: Buffer): number[] {
  const seqs: number[] = [];
  for (let offset = 0; offset < frames.length; ) {
    let length = frames[offset + 1]! & 0x7f;
    let header = 2;
    if (length === 126) {
      length = frames.readUInt16BE(offset + 2);
      header = 4;
    }
    const message = JSON.parse(frames.subarray(offset + header, offset + header + length).toString());
    seqs.push(message.data.seq);
    offset += header + length;
  }
  return seqs;
}

/** A live subscriber at `position` (the feed is there already, so it goes live without a read). */
async function liveSubscriber(filter: StreamFilter, position: number) {
  const writes: Buffer[] = [];
  const env: SubscriptionEnvironment = {
    db: undefined as never,
    logger: undefined as never,
    maxBufferedBytes: 1 << 20,
    backfillBatchSize: 100,
    onSent: () => {},
    onSlowConsumer: () => {},
    onClosed: () => {},
  };
  const grant = {
    scope: { tenantId: TENANT },
    filter,
    since: position,
    authorizedAt: Date.now(),
  } as unknown as StreamGrant;
  const subscription = new StreamSubscription(
    grant,
    compileStreamFilter(filter),
    { sendFrames: (frames) => writes.push(frames), bufferedBytes: () => 0, close: () => {} },
    env,
  );
  await subscription.run({ ready: Promise.resolve(), deliveredSeq: position } as unknown as TenantFeed);
  expect(subscription.isLive).toBe(true);
  writes.length = 0; // the ready message
  return { subscription, writes };
}

describe("compileStreamFilter key", () => {
  test("equal filters get equal keys whatever their field and list order; an empty filter matches everything", () => {
    const a = compileStreamFilter({ action_type: ["UPDATE", "CREATE"], severity: ["ERROR"], user_id: "u" });
    const b = compileStreamFilter({
      user_id: "u",
      severity: ["ERROR"],
      action_type: ["CREATE", "UPDATE", "CREATE"],
    });
    expect(a.key).toBe(b.key);
    expect(a.matchesEverything).toBe(false);
    expect(compileStreamFilter({ action_type: ["UPDATE"], severity: ["ERROR"], user_id: "u" }).key).not.toBe(
      a.key,
    );
    expect(
      compileStreamFilter({ user_id: "v", severity: ["ERROR"], action_type: ["CREATE", "UPDATE"] }).key,
    ).not.toBe(a.key);
    expect(compileStreamFilter({}).matchesEverything).toBe(true);
    expect(compileStreamFilter({ action_type: [] }).matchesEverything).toBe(true);
    expect(compileStreamFilter({ user_id: "" }).matchesEverything).toBe(false);
  });
});

describe("fan-out of one feed batch", () => {
  test("equal filters share one frame buffer; a position inside the batch gets only what follows it", async () => {
    const batch = toFeedBatch(
      Array.from({ length: 10 }, (_, index) => ({ event: storedEvent(11 + index), storedAt: Date.now() })),
    );
    const everything = await liveSubscriber({}, 10);
    const first = await liveSubscriber(
      { action_type: ["UPDATE", "CREATE"], severity: ["ERROR", "INFO"] },
      10,
    );
    const second = await liveSubscriber(
      { severity: ["INFO", "ERROR"], action_type: ["CREATE", "UPDATE"] },
      10,
    );
    const other = await liveSubscriber({ user_id: "user-1" }, 10);
    const inside = await liveSubscriber(
      { action_type: ["CREATE", "UPDATE"], severity: ["ERROR", "INFO"] },
      15,
    );
    const none = await liveSubscriber({ user_id: "nobody" }, 10);

    const sent = [everything, first, second, other, inside, none].map(({ subscription }) =>
      subscription.deliver(batch),
    );

    const createOrUpdate = (seq: number) => seq % 4 === 0 || seq % 4 === 1;
    const seqs = Array.from({ length: 10 }, (_, index) => 11 + index);
    expect(everything.writes).toEqual([batch.allFrames()]);
    expect(seqsOf(everything.writes[0]!)).toEqual(seqs);
    expect(seqsOf(first.writes[0]!)).toEqual(seqs.filter(createOrUpdate));
    expect(second.writes[0]).toBe(first.writes[0]); // the same buffer, framed once
    expect(seqsOf(other.writes[0]!)).toEqual(seqs.filter((seq) => seq % 2 === 1));
    expect(seqsOf(inside.writes[0]!)).toEqual(seqs.filter((seq) => seq > 15 && createOrUpdate(seq)));
    expect(none.writes).toEqual([]);
    expect(sent).toEqual([10, 5, 5, 5, 3, 0]);

    // The next batch starts after every position: the inside subscriber shares the buffer again.
    const next = toFeedBatch([{ event: storedEvent(21), storedAt: Date.now() }]);
    first.subscription.deliver(next);
    inside.subscription.deliver(next);
    expect(seqsOf(first.writes[1]!)).toEqual([21]);
    expect(inside.writes[1]).toBe(first.writes[1]);
  });
});
