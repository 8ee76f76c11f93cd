// Child process of the stream benchmark: holds the subscribers, so their decoding does not compete
// with the benchmark runner (which also hosts the SQS emulator) in one event loop.
// Protocol (IPC): parent sends {urls, key, count, sampled}; subscriber i connects to urls[i % n]
// (one or more streamer processes); child answers {type:"ready"} once every subscriber got `ready`;
// parent sends {type:"collect", total, deadlineMs}; child answers with the counts (also per
// streamer) and the sampled subscribers' receive times, then exits.
//
// The subscribers speak WebSocket through a minimal client (the upgrade written and read by hand on
// a raw socket, then a frame reader that only finds frame boundaries and the event's seq) rather than a full library: 500
// subscribers × 2,000 events/s is a million messages a second on the same two cores as the
// streamer, and a general-purpose client's per-message cost (UTF-8 validation, a string per
// message, events) would measure the load generator instead of the streamer. Every subscriber
// still checks that its seqs arrive exactly in order (no gap, no duplicate).
import { randomBytes } from "node:crypto";
import { connect, type Socket } from "node:net";
import { STREAM_SUBPROTOCOL } from "@vigil/shared/stream/stream-protocol";
import { streamUrl } from "../services/streamer/test/stream-client.ts";
import { sleep } from "./measure.ts";

interface Subscriber {
  socket?: Socket;
  received: number;
  lastSeq: number;
  outOfOrder: number;
  ready: boolean;
  slow: boolean;
  receipts?: Array<[number, number]>;
}

const OPCODE_TEXT = 0x1;
const OPCODE_CLOSE = 0x8;
const OPCODE_PING = 0x9;
const OPCODE_PONG = 0xa;
// `{"type":"` is 9 bytes; the type's first two letters tell event / error / ready apart.
const TYPE_OFFSET = 9;
const SEQ_KEY = Buffer.from('"seq":');

/** The event's seq: the first "seq" of an event message is the event's own (ids come before it, states after). */
function seqOf(payload: Buffer): number {
  let at = payload.indexOf(SEQ_KEY) + SEQ_KEY.length;
  let seq = 0;
  for (let digit = payload[at]! - 48; digit >= 0 && digit <= 9; digit = payload[++at]! - 48)
    seq = seq * 10 + digit;
  return seq;
}

function onMessage(subscriber: Subscriber, payload: Buffer, receivedAt: number): void {
  const first = payload[TYPE_OFFSET];
  const second = payload[TYPE_OFFSET + 1];
  if (first === 0x65 /* e */ && second === 0x76 /* v */) {
    const seq = seqOf(payload);
    if (seq !== subscriber.lastSeq + 1) subscriber.outOfOrder++;
    subscriber.lastSeq = seq;
    subscriber.received++;
    subscriber.receipts?.push([seq, receivedAt]);
  } else if (first === 0x72 /* r */) {
    subscriber.ready = true;
  } else if (payload.includes("SLOW_CONSUMER")) {
    subscriber.slow = true;
  }
}

/** Client frames must be masked (RFC 6455 §5.3); a zero mask is a valid mask. */
function pong(socket: Socket, payload: Buffer): void {
  const header = Buffer.from([0x80 | OPCODE_PONG, 0x80 | payload.length, 0, 0, 0, 0]);
  socket.write(Buffer.concat([header, payload]));
}

/** Total size (header + payload) of the frame at `offset`, or -1 while its header is incomplete. */
function frameSize(data: Buffer, offset: number): number {
  if (data.length - offset < 2) return -1;
  const length = data[offset + 1]! & 0x7f;
  if (length < 126) return 2 + length;
  if (length === 126) return data.length - offset < 4 ? -1 : 4 + data.readUInt16BE(offset + 2);
  return data.length - offset < 10 ? -1 : 10 + Number(data.readBigUInt64BE(offset + 2));
}

/**
 * Reads server frames (unmasked, unfragmented: what the streamer sends) across TCP chunk
 * boundaries. Only a frame split by a boundary is copied (its two parts joined); the rest of each
 * chunk is read in place, so the client does not copy every byte it receives once more.
 */
function frameReader(subscriber: Subscriber, socket: Socket) {
  let pending: Buffer | undefined;
  const handle = (frame: Buffer, receivedAt: number) => {
    const opcode = frame[0]! & 0x0f;
    const length = frame[1]! & 0x7f;
    const header = length < 126 ? 2 : length === 126 ? 4 : 10;
    const payload = frame.subarray(header);
    if (opcode === OPCODE_TEXT) onMessage(subscriber, payload, receivedAt);
    else if (opcode === OPCODE_PING) pong(socket, payload);
    else if (opcode === OPCODE_CLOSE) socket.end();
  };
  return (chunk: Buffer) => {
    const receivedAt = Date.now();
    let offset = 0;
    if (pending) {
      // Complete the split frame: enough of the chunk for its header first, then for its payload.
      const joined = Buffer.concat([pending, chunk.subarray(0, 10)]);
      const size = frameSize(joined, 0);
      if (size < 0 || pending.length + chunk.length < size) {
        pending = Buffer.concat([pending, chunk]);
        return;
      }
      offset = size - pending.length;
      handle(Buffer.concat([pending, chunk.subarray(0, offset)]), receivedAt);
      pending = undefined;
    }
    for (;;) {
      const size = frameSize(chunk, offset);
      if (size < 0 || chunk.length - offset < size) break;
      handle(chunk.subarray(offset, offset + size), receivedAt);
      offset += size;
    }
    if (offset < chunk.length) pending = Buffer.from(chunk.subarray(offset));
  };
}

/**
 * One read buffer for every subscriber socket (net's `onread`): each read is consumed before the
 * next one starts (one thread), and only a frame split across reads is copied out. A fresh buffer
 * per read, what a 'data' listener gets, would allocate the whole ~650 MB/s the client receives at
 * 2,000 events/s × 500 subscribers, and its garbage collection would be measured as stream latency.
 */
const READ_BUFFER = Buffer.allocUnsafe(256 * 1024);
const HEADER_END = Buffer.from("\r\n\r\n");

/** A subscriber on a raw TCP socket: the upgrade request written by hand, the 101 answer read by hand. */
function open(url: string, key: string, sampled: boolean): Subscriber {
  const subscriber: Subscriber = {
    received: 0,
    lastSeq: 0,
    outOfOrder: 0,
    ready: false,
    slow: false,
    ...(sampled ? { receipts: [] } : {}),
  };
  const target = new URL(streamUrl(url).replace(/^ws/, "http"));
  let handshake: Buffer | undefined = Buffer.alloc(0);
  let read: ((chunk: Buffer) => void) | undefined;
  const socket = connect({
    host: target.hostname,
    port: Number(target.port),
    noDelay: true,
    onread: {
      buffer: READ_BUFFER,
      // Returns true: keep reading (false would pause the socket).
      callback: (bytes: number) => {
        const chunk = READ_BUFFER.subarray(0, bytes);
        if (read) {
          read(chunk);
          return true;
        }
        // Until the end of the 101 answer: its header, then whatever frames follow it.
        handshake = Buffer.concat([handshake!, chunk]);
        const end = handshake.indexOf(HEADER_END);
        if (end < 0) return true;
        if (!handshake.subarray(0, 13).toString().startsWith("HTTP/1.1 101")) {
          process.stderr.write(`stream subscriber refused: ${handshake.subarray(0, 12).toString()}\n`);
          socket.destroy();
          return true;
        }
        const rest = handshake.subarray(end + HEADER_END.length);
        handshake = undefined;
        read = frameReader(subscriber, socket);
        if (rest.length > 0) read(rest);
        return true;
      },
    },
  });
  subscriber.socket = socket;
  socket.on("error", () => undefined);
  socket.on("connect", () => {
    socket.write(
      [
        `GET ${target.pathname}${target.search} HTTP/1.1`,
        `Host: ${target.host}`,
        "Connection: Upgrade",
        "Upgrade: websocket",
        "Sec-WebSocket-Version: 13",
        `Sec-WebSocket-Key: ${randomBytes(16).toString("base64")}`,
        `Sec-WebSocket-Protocol: ${STREAM_SUBPROTOCOL}, bearer.${key}`,
        "",
        "",
      ].join("\r\n"),
    );
  });
  return subscriber;
}

process.once("message", async (start: { urls: string[]; key: string; count: number; sampled: number }) => {
  const subscribers: Subscriber[] = [];
  const streamerOf = (index: number) => index % start.urls.length;
  for (let offset = 0; offset < start.count; offset += 50) {
    for (let index = offset; index < Math.min(start.count, offset + 50); index++) {
      subscribers.push(open(start.urls[streamerOf(index)]!, start.key, index < start.sampled));
    }
    await sleep(50);
  }
  const readyBy = Date.now() + 60_000;
  while (subscribers.some((subscriber) => !subscriber.ready) && Date.now() < readyBy) await sleep(50);
  process.send?.({ type: "ready" });
  process.once("message", async (collect: { total: number; deadlineMs: number }) => {
    while (Date.now() < collect.deadlineMs && subscribers.some((s) => s.received < collect.total && !s.slow))
      await sleep(100);
    for (const subscriber of subscribers) subscriber.socket?.destroy();
    const result = {
      type: "result",
      complete: subscribers.filter((s) => s.received === collect.total && s.outOfOrder === 0).length,
      delivered: subscribers.reduce((sum, s) => sum + s.received, 0),
      deliveredPerStreamer: start.urls.map((_, streamer) =>
        subscribers.reduce((sum, s, index) => sum + (streamerOf(index) === streamer ? s.received : 0), 0),
      ),
      outOfOrder: subscribers.reduce((sum, s) => sum + s.outOfOrder, 0),
      slowCloses: subscribers.filter((s) => s.slow).length,
      receipts: subscribers.flatMap((s) => s.receipts ?? []),
    };
    // Exits only once the result (megabytes: every sampled receipt) has been written to the channel:
    // a fixed delay lost it on a loaded machine, and the parent saw the exit instead.
    process.send?.(result, () => process.exit(0));
  });
});
