// The publish linger (QUEUE_PUBLISH_LINGER_MS) in isolation: 32 closed-loop publishers of one event
// each, arriving 0–3 ms apart (as requests through the api do), against an in-process fauxqs, with
// the linger off and on in turn. Reports events per SendMessageBatch and the CPU per publish of this
// process (queue client and emulator together). `npx tsx bench/publish-linger.ts [seconds]`.
import { randomUUID } from "node:crypto";
import { createEventQueues, startSqsEmulator } from "@vigil/devstack/queues";
import { EventQueue } from "@vigil/shared/queue/event-queue";
import { queuedEvent } from "@vigil/testkit/events";

const seconds = Number(process.argv[2] ?? 3);
const sqs = await startSqsEmulator(0);
const tenant = randomUUID();
try {
  for (const lingerMs of [0, 3, 0, 3]) {
    const { queueUrl } = await createEventQueues(sqs.endpoint, `linger-${randomUUID().slice(0, 8)}`);
    const queue = new EventQueue({ queueUrl, region: "us-east-1", endpoint: sqs.endpoint, lingerMs });
    let calls = 0;
    queue.client.middlewareStack.add(
      (next) => async (args) => {
        if ((args.input as { Entries?: unknown }).Entries) calls++;
        return next(args);
      },
      { step: "initialize" },
    );
    let published = 0;
    const until = performance.now() + seconds * 1000;
    const cpu = process.cpuUsage();
    await Promise.all(
      Array.from({ length: 32 }, async () => {
        while (performance.now() < until) {
          await new Promise((resolve) => setTimeout(resolve, Math.random() * 3));
          await queue.publishEvents([queuedEvent(tenant)]);
          published++;
        }
      }),
    );
    const used = process.cpuUsage(cpu);
    process.stdout.write(
      `linger ${lingerMs} ms: ${Math.round(published / seconds)} publishes/s, ${(published / calls).toFixed(1)} events per SendMessageBatch, ${((used.user + used.system) / published).toFixed(0)} µs CPU per publish\n`,
    );
    queue.close();
  }
} finally {
  await sqs.stop();
}
