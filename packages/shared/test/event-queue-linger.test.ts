// The publish linger (QUEUE_PUBLISH_LINGER_MS) against the real SQS protocol (fauxqs): while a
// send is under way, publishes arriving over a few milliseconds share one SendMessageBatch; an idle
// queue and a full bulk are not delayed; every publisher is answered only after its events are on
// the queue.
import { randomUUID } from "node:crypto";
import { createEventQueues, startSqsEmulator } from "@vigil/devstack/queues";
import { queuedEvent } from "@vigil/testkit";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { decodeEventMessage } from "../src/queue/event-message.ts";
import { EventQueue } from "../src/queue/event-queue.ts";

const TENANT = "0190a0a0-0000-7000-8000-0000000000cc";
const LINGER_MS = 150;

let sqs: Awaited<ReturnType<typeof startSqsEmulator>>;
beforeAll(async () => {
  sqs = await startSqsEmulator(0);
});
afterAll(async () => {
  await sqs?.stop();
});

/**
 * A queue of its own, with a count of SendMessageBatch calls (observed, not replaced); the first
 * call is held `firstCallDelayMs` on its way out, as a slow network would, so later publishes find
 * a send under way.
 */
async function lingeringQueue(lingerMs: number, firstCallDelayMs = 0) {
  const { queueUrl } = await createEventQueues(sqs.endpoint, `linger-${randomUUID().slice(0, 8)}`);
  const queue = new EventQueue({ queueUrl, region: "us-east-1", endpoint: sqs.endpoint, lingerMs });
  const counter = { calls: 0 };
  queue.client.middlewareStack.add(
    (next) => async (args) => {
      if ((args.input as { Entries?: unknown }).Entries && ++counter.calls === 1)
        await sleep(firstCallDelayMs);
      return next(args);
    },
    { step: "initialize" },
  );
  return { queue, counter };
}

async function queuedIds(queue: EventQueue): Promise<string[]> {
  const ids: string[] = [];
  for (let empty = 0; empty < 2; ) {
    const messages = await queue.receive(10, 0, 30);
    if (messages.length === 0) empty++;
    for (const message of messages) ids.push(...decodeEventMessage(message.Body!).events.map((e) => e.id));
  }
  return ids.sort();
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe("publish linger", () => {
  test("publishes spread over a few ms while a send is under way share one call, and each is on the queue when answered", async () => {
    const { queue, counter } = await lingeringQueue(LINGER_MS, 100);
    try {
      const events = Array.from({ length: 11 }, () => queuedEvent(TENANT));
      const published: Promise<unknown>[] = [queue.publishEvents([events[0]!])];
      for (const event of events.slice(1)) {
        await sleep(3);
        published.push(queue.publishEvents([event]));
      }
      await Promise.all(published);
      // The first leaves at once (idle queue); the ten that came while it was in flight wait together.
      expect(counter.calls).toBe(2);
      expect(await queuedIds(queue)).toEqual(events.map((event) => event.id).sort());
    } finally {
      queue.close();
    }
  });

  test("without linger the same traffic takes a call per publish or close to it", async () => {
    const { queue, counter } = await lingeringQueue(0, 100);
    try {
      const published: Promise<unknown>[] = [];
      for (let index = 0; index < 11; index++) {
        published.push(queue.publishEvents([queuedEvent(TENANT)]));
        await sleep(3);
      }
      await Promise.all(published);
      expect(counter.calls).toBeGreaterThan(3);
    } finally {
      queue.close();
    }
  });

  test("an idle queue is not delayed, and a bulk leaves at once even while a send is under way", async () => {
    const { queue } = await lingeringQueue(2000, 100);
    try {
      let started = performance.now();
      await queue.publishEvents([queuedEvent(TENANT)]);
      expect(performance.now() - started).toBeLessThan(1000);

      const first = queue.publishEvents([queuedEvent(TENANT)]);
      await sleep(0);
      started = performance.now();
      await queue.publishEvents(Array.from({ length: 300 }, () => queuedEvent(TENANT)));
      expect(performance.now() - started).toBeLessThan(1000);
      await first;
    } finally {
      queue.close();
    }
  });
});
