// Child process of the stream benchmark: holds the subscribers, so their JSON decoding does not
// compete with the benchmark runner (which also hosts the SQS emulator) in one event loop.
// Protocol (IPC): parent sends {url, key, count, sampled}; child answers {type:"ready"} once every
// subscriber got `ready`; parent sends {type:"collect", total, deadlineMs}; child answers with the
// counts and the sampled subscribers' receive times, then exits.
import { STREAM_SUBPROTOCOL } from "@vigil/shared/stream/stream-protocol";
import WebSocket from "ws";
import { streamUrl } from "../services/streamer/test/stream-client.ts";

interface Subscriber {
  ws: WebSocket;
  received: number;
  ready: boolean;
  slow: boolean;
  receipts?: Array<[number, number]>;
}

// The first "seq" of an event message is the event's own (ids and tenant come before it; states after).
const SEQ = /"seq":(\d+)/;

function open(url: string, key: string, sampled: boolean): Subscriber {
  const ws = new WebSocket(streamUrl(url), [STREAM_SUBPROTOCOL, `bearer.${key}`]);
  const subscriber: Subscriber = {
    ws,
    received: 0,
    ready: false,
    slow: false,
    ...(sampled ? { receipts: [] } : {}),
  };
  ws.on("message", (data) => {
    const text = data.toString();
    if (text.startsWith('{"type":"event"')) {
      subscriber.received++;
      if (subscriber.receipts) subscriber.receipts.push([Number(SEQ.exec(text)?.[1]), Date.now()]);
    } else if (text.includes('"type":"ready"')) subscriber.ready = true;
    else if (text.includes("SLOW_CONSUMER")) subscriber.slow = true;
  });
  ws.on("error", () => undefined);
  return subscriber;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

process.once("message", async (start: { url: string; key: string; count: number; sampled: number }) => {
  const subscribers: Subscriber[] = [];
  for (let offset = 0; offset < start.count; offset += 50) {
    for (let index = offset; index < Math.min(start.count, offset + 50); index++) {
      subscribers.push(open(start.url, start.key, index < start.sampled));
    }
    await sleep(50);
  }
  const readyBy = Date.now() + 60_000;
  while (subscribers.some((subscriber) => !subscriber.ready) && Date.now() < readyBy) await sleep(50);
  process.send?.({ type: "ready" });
  process.once("message", async (collect: { total: number; deadlineMs: number }) => {
    while (Date.now() < collect.deadlineMs && subscribers.some((s) => s.received < collect.total && !s.slow))
      await sleep(100);
    process.send?.({
      type: "result",
      complete: subscribers.filter((s) => s.received === collect.total).length,
      delivered: subscribers.reduce((sum, s) => sum + s.received, 0),
      slowCloses: subscribers.filter((s) => s.slow).length,
      receipts: subscribers.flatMap((s) => s.receipts ?? []),
    });
    for (const subscriber of subscribers) subscriber.ws.terminate();
    setTimeout(() => process.exit(0), 100);
  });
});
