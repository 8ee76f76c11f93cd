import { encodeTextFrames } from "@vigil/shared/stream/websocket-frames";
import { describe, expect, it } from "vitest";
import * as ws from "ws";

// ws exports its frame parser at run time, but @types/ws does not declare it.
interface FrameParser {
  on(event: "message", listener: (data: Buffer, isBinary: boolean) => void): void;
  on(event: "error", listener: (error: Error) => void): void;
  write(chunk: Buffer): void;
}
const Receiver = (ws as unknown as { Receiver: new (options: object) => FrameParser }).Receiver;

/** Decodes with the ws library's own client-side parser, so the frames are checked by an independent implementation. */
function decode(frames: Buffer): string[] {
  const messages: string[] = [];
  const receiver = new Receiver({ isServer: false, maxPayload: 0 });
  receiver.on("message", (data, isBinary) => {
    expect(isBinary).toBe(false);
    messages.push(data.toString());
  });
  receiver.on("error", (error) => {
    throw error;
  });
  receiver.write(frames);
  return messages;
}

describe("encodeTextFrames", () => {
  it("encodes each length class of RFC 6455 (7-bit, 16-bit and 64-bit lengths) in order", () => {
    const sizes = [0, 1, 125, 126, 127, 65_535, 65_536, 200_000];
    const messages = sizes.map((size, index) => `${index}`.padEnd(size, "x").slice(0, size));
    const frames = encodeTextFrames(messages.map((message) => Buffer.from(message)));
    expect(decode(frames)).toEqual(messages);
  });

  it("keeps multi-byte UTF-8 intact and counts bytes, not characters", () => {
    const message = `{"type":"event","data":{"action":"${"é✓😀".repeat(40)}"}}`;
    expect(Buffer.byteLength(message)).toBeGreaterThan(125);
    expect(message.length).toBeLessThan(Buffer.byteLength(message));
    expect(decode(encodeTextFrames([Buffer.from(message)]))).toEqual([message]);
  });

  it("encodes nothing to an empty buffer", () => {
    expect(encodeTextFrames([]).length).toBe(0);
  });
});
