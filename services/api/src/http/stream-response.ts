// Node Readable → web ReadableStream for a streamed response, pull-based: the next chunk is read
// only when the HTTP layer asks for it (it waits for the socket to drain), so a slow client slows
// the database's COPY instead of growing memory; a client that goes away cancels the source, and
// one that stops reading for `stallTimeoutMs` has the source destroyed too (for an export: COPY
// cancelled, transaction rolled back, connection back in the pool) and its response aborted.
import type { Readable } from "node:stream";

export class StalledClientError extends Error {
  constructor(ms: number) {
    super(`the client read nothing for ${ms} ms`);
    this.name = "StalledClientError";
  }
}

export function pullStream(
  source: Readable,
  onEnd: (error?: unknown) => void,
  options: { stallTimeoutMs?: number; onStall?: () => void } = {},
): ReadableStream<Uint8Array> {
  const iterator = source[Symbol.asyncIterator]() as AsyncIterator<Buffer | string>;
  const encoder = new TextEncoder();
  let ended = false;
  let stallTimer: NodeJS.Timeout | undefined;
  const end = (error?: unknown) => {
    clearTimeout(stallTimer);
    if (ended) return;
    ended = true;
    onEnd(error);
  };
  const release = async () => {
    source.destroy();
    await iterator.return?.().catch(() => undefined);
  };
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        clearTimeout(stallTimer);
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
            if (options.stallTimeoutMs) {
              const ms = options.stallTimeoutMs;
              // Cleared by the next pull, which comes only when the client has taken this chunk.
              stallTimer = setTimeout(() => {
                const error = new StalledClientError(ms);
                controller.error(error);
                end(error);
                void release();
                options.onStall?.();
              }, ms);
              stallTimer.unref();
            }
          }
        } catch (error) {
          controller.error(error);
          end(error);
        }
      },
      async cancel(reason) {
        await release();
        end(reason ?? new Error("client went away"));
      },
    },
    { highWaterMark: 1 },
  );
}
