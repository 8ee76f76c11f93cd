// How one batch of events leaves for each kind of destination. Every send either resolves (the
// destination took the whole batch: 2xx, or the object is written) or throws a DeliveryError that
// says whether a retry can help. Batches are identified by their seq range, so a retried batch
// carries the same events (webhook receivers dedupe by event id; S3 keys are the range itself).
import { createHmac } from "node:crypto";
import { request as httpRequest, type IncomingMessage } from "node:http";
import { request as httpsRequest } from "node:https";
import { isIP } from "node:net";
import { gzipSync } from "node:zlib";
import { PutObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import type { StoredEvent } from "../events/event-schema.ts";
import type { LogStreamTarget } from "./log-stream-schema.ts";
import { guardedLookup, isForbiddenAddress } from "./target-guard.ts";

export class DeliveryError extends Error {
  constructor(
    message: string,
    /** A 4xx other than 408/429 will fail the same way again: the stream goes straight to failing. */
    readonly retryable: boolean,
    /** Seconds the destination asked to wait (Retry-After), if it said. */
    readonly retryAfterSeconds?: number,
  ) {
    super(message);
    this.name = "DeliveryError";
  }
}

/**
 * What one request may carry, per destination: Datadog's intake takes at most 1,000 entries and
 * 5 MB a request (4.5 MB leaves room for the wrapping); webhooks and HEC are kept to 4 MiB so a
 * receiver's body limit is not the reason a stream fails. S3 objects are bounded by the batch size.
 */
const REQUEST_LIMITS: Record<LogStreamTarget["destination"], { events: number; bytes: number }> = {
  webhook: { events: Number.POSITIVE_INFINITY, bytes: 4 * 1024 * 1024 },
  splunk_hec: { events: Number.POSITIVE_INFINITY, bytes: 4 * 1024 * 1024 },
  datadog: { events: 1000, bytes: 4_500_000 },
  s3: { events: Number.POSITIVE_INFINITY, bytes: Number.POSITIVE_INFINITY },
};

/** How many of `events` (from the first) fit one request to `destination`; at least one. */
export function eventsPerRequest(destination: LogStreamTarget["destination"], events: StoredEvent[]): number {
  const limit = REQUEST_LIMITS[destination];
  let bytes = 0;
  for (let n = 0; n < events.length; n++) {
    // The event's JSON plus a margin for the destination's wrapping (Datadog also quotes it once more).
    bytes += Buffer.byteLength(JSON.stringify(events[n])) * (destination === "datadog" ? 2 : 1) + 256;
    if (n > 0 && (n >= limit.events || bytes > limit.bytes)) return n;
  }
  return events.length;
}

export interface DeliveryBatch {
  streamId: string;
  tenantId: string;
  events: StoredEvent[];
}

export interface DeliveryContext {
  /** Current and (during a rotation) previous webhook signing secrets. */
  signingSecrets: string[];
  allowPrivateTargets: boolean;
  timeoutMs: number;
  s3: (region: string | undefined) => S3Client;
}

/** `Vigil-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "t.body">[,v1=…]`, one v1 per secret. */
export function webhookSignature(body: string, secrets: string[], timestamp: number): string {
  const signatures = secrets.map((secret) =>
    createHmac("sha256", secret).update(`${timestamp}.${body}`).digest("hex"),
  );
  return [`t=${timestamp}`, ...signatures.map((signature) => `v1=${signature}`)].join(",");
}

/**
 * What a receiver does: parse the header, refuse a timestamp older than `toleranceSeconds`
 * (replay), and compare each v1 against its own secret in constant time.
 */
export function verifyWebhookSignature(
  header: string,
  body: string,
  secret: string,
  nowSeconds: number,
  toleranceSeconds = 300,
): boolean {
  const parts = header.split(",").map((part) => part.split("=", 2) as [string, string]);
  const timestamp = Number(parts.find(([key]) => key === "t")?.[1]);
  if (!Number.isInteger(timestamp) || Math.abs(nowSeconds - timestamp) > toleranceSeconds) return false;
  const expected = Buffer.from(createHmac("sha256", secret).update(`${timestamp}.${body}`).digest("hex"));
  return parts.some(([key, value]) => {
    if (key !== "v1" || value.length !== expected.length) return false;
    let difference = 0;
    for (let i = 0; i < expected.length; i++) difference |= expected[i]! ^ value.charCodeAt(i);
    return difference === 0;
  });
}

interface HttpSend {
  url: string;
  headers: Record<string, string>;
  body: string | Buffer;
}

function retryAfterSeconds(response: IncomingMessage): number | undefined {
  const value = response.headers["retry-after"];
  const seconds = Number(value);
  if (value && Number.isFinite(seconds) && seconds >= 0) return Math.min(seconds, 3600);
  const date = value ? Date.parse(value) : Number.NaN;
  return Number.isFinite(date) ? Math.max(0, Math.min((date - Date.now()) / 1000, 3600)) : undefined;
}

/**
 * One POST; resolves on 2xx, throws a DeliveryError otherwise. Redirects are not followed. The
 * timeout bounds the whole exchange, not only idle gaps: a receiver trickling its answer a byte at
 * a time would otherwise hold the stream past its lease, and another replica would send beside it.
 */
function post(send: HttpSend, context: DeliveryContext): Promise<void> {
  const url = new URL(send.url);
  const request = url.protocol === "https:" ? httpsRequest : httpRequest;
  // An IP literal is connected to without a lookup, so the guarded lookup never sees it.
  const literal = url.hostname.replace(/^\[|\]$/g, "");
  if (!context.allowPrivateTargets && isIP(literal) && isForbiddenAddress(literal))
    return Promise.reject(new DeliveryError(`refused to connect to ${literal}`, false));
  return new Promise((resolve, reject) => {
    const deadline = setTimeout(
      () => req.destroy(new DeliveryError(`no answer within ${context.timeoutMs} ms`, true)),
      context.timeoutMs,
    );
    const req = request(
      url,
      {
        method: "POST",
        headers: {
          ...send.headers,
          "Content-Length": Buffer.byteLength(send.body),
          "User-Agent": "vigil-log-streams/1",
        },
        lookup: guardedLookup(context.allowPrivateTargets),
        timeout: context.timeoutMs,
      },
      (response) => {
        // The body is not needed: drain it so the socket is released (the deadline still cuts a
        // body that never ends).
        response.resume();
        response.once("end", () => clearTimeout(deadline));
        const status = response.statusCode ?? 0;
        if (status >= 200 && status < 300) return resolve();
        const retryable =
          status >= 500 || status === 408 || status === 429 || (status >= 300 && status < 400);
        reject(new DeliveryError(`HTTP ${status}`, retryable, retryAfterSeconds(response)));
      },
    );
    req.on("timeout", () => req.destroy(new DeliveryError(`no answer within ${context.timeoutMs} ms`, true)));
    req.on("error", (error) => {
      clearTimeout(deadline);
      reject(error instanceof DeliveryError ? error : new DeliveryError(error.message.slice(0, 200), true));
    });
    req.end(send.body);
  });
}

/** Splunk HEC's event time: epoch seconds with milliseconds. */
const epochSeconds = (iso: string) => Date.parse(iso) / 1000;

export async function deliverBatch(
  target: LogStreamTarget,
  batch: DeliveryBatch,
  context: DeliveryContext,
): Promise<void> {
  const { events } = batch;
  switch (target.destination) {
    case "webhook": {
      const body = JSON.stringify({
        stream_id: batch.streamId,
        tenant_id: batch.tenantId,
        from_seq: events[0]?.seq,
        to_seq: events.at(-1)?.seq,
        events,
      });
      return post(
        {
          url: target.url,
          headers: {
            "Content-Type": "application/json",
            "Vigil-Signature": webhookSignature(body, context.signingSecrets, Math.floor(Date.now() / 1000)),
            "Vigil-Stream-Id": batch.streamId,
          },
          body,
        },
        context,
      );
    }
    case "splunk_hec": {
      // HEC takes concatenated event objects in one request.
      const body = events
        .map((event) =>
          JSON.stringify({
            time: epochSeconds(event.occurred_at),
            source: target.source ?? "vigil",
            sourcetype: "vigil:audit",
            ...(target.index ? { index: target.index } : {}),
            event,
          }),
        )
        .join("\n");
      return post(
        {
          url: new URL("/services/collector/event", target.url).toString(),
          headers: {
            "Content-Type": "application/json",
            Authorization: `Splunk ${target.token}`,
            // Required by collectors with indexer acknowledgement on (a GUID; ignored otherwise).
            "X-Splunk-Request-Channel": batch.streamId,
          },
          body,
        },
        context,
      );
    }
    case "datadog": {
      const body = JSON.stringify(
        events.map((event) => ({
          ddsource: "vigil",
          service: target.service,
          ...(target.tags ? { ddtags: target.tags } : {}),
          message: JSON.stringify(event),
          status:
            event.severity === "INFO"
              ? "info"
              : event.severity === "WARNING"
                ? "warn"
                : event.severity.toLowerCase(),
          timestamp: Date.parse(event.occurred_at),
          vigil: { tenant_id: event.tenant_id, seq: event.seq, id: event.id },
        })),
      );
      return post(
        {
          url: new URL("/api/v2/logs", target.url).toString(),
          headers: { "Content-Type": "application/json", "DD-API-KEY": target.api_key },
          body,
        },
        context,
      );
    }
    case "s3": {
      const first = events[0];
      const last = events.at(-1);
      if (!first || !last) return;
      // One object per batch, named by its seq range: a retried batch overwrites its own object.
      // By the day Vigil received the batch's first event: occurred_at is the client's word and may
      // lie anywhere in the past; received_at follows seq.
      const day = first.received_at.slice(0, 10).replaceAll("-", "/");
      const key = `${target.prefix}${target.prefix && !target.prefix.endsWith("/") ? "/" : ""}${batch.tenantId}/${day}/${String(first.seq).padStart(20, "0")}-${String(last.seq).padStart(20, "0")}.ndjson.gz`;
      try {
        // Bounded like an HTTP send: an S3 endpoint that never answers must not hold the stream.
        await context.s3(target.region).send(
          new PutObjectCommand({
            Bucket: target.bucket,
            Key: key,
            Body: gzipSync(`${events.map((event) => JSON.stringify(event)).join("\n")}\n`),
            ContentType: "application/x-ndjson",
            ContentEncoding: "gzip",
            ServerSideEncryption: "AES256",
          }),
          { abortSignal: AbortSignal.timeout(context.timeoutMs) },
        );
      } catch (error) {
        const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode ?? 0;
        throw new DeliveryError(
          `S3 ${(error as Error).name}: ${(error as Error).message}`.slice(0, 200),
          status === 0 || status >= 500 || status === 429,
        );
      }
    }
  }
}
