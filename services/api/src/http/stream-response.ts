// Node Readable → web ReadableStream for a streamed response, pull-based: the next chunk is read
// only when the HTTP layer asks for it (it waits for the socket to drain), so a slow client slows
// the database cursor instead of growing memory; a client that goes away cancels the source.
import type { Readable } from "node:stream";

export function pullStream(source: Readable, onEnd: (error?: unknown) => void): ReadableStream<Uint8Array> {
  const iterator = source[Symbol.asyncIterator]() as AsyncIterator<Buffer | string>;
  const encoder = new TextEncoder();
  let ended = false;
  const end = (error?: unknown) => {
    if (ended) return;
    ended = true;
    onEnd(error);
  };
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        try {
          const { value, done } = await iterator.next();
          if (done) {
            controller.close();
            end();
          } else {
            controller.enqueue(
              typeof value === "string"
                ? encoder.encode(value)
                : new Uint8Array(value.buffer, value.byteOffset, value.byteLength),
            );
          }
        } catch (error) {
          controller.error(error);
          end(error);
        }
      },
      async cancel(reason) {
        source.destroy();
        await iterator.return?.().catch(() => undefined);
        end(reason ?? new Error("client went away"));
      },
    },
    { highWaterMark: 1 },
  );
}
