// Log-stream delivery up close, in-process against real receivers on 127.0.0.1, the S3 API of the
// fauxqs emulator and the test's own PostgreSQL: the exact request of each destination (Splunk
// HEC, Datadog logs intake, S3 NDJSON.gz objects by day, signed webhooks), every send bounded in
// time (a receiver trickling its answer, an S3 endpoint that never answers), redirects not
// followed, private addresses refused at connect time, and one stream never sent by two deliverers
// at once even when a step outlives the lease.
import { randomBytes, randomUUID } from "node:crypto";
import { createServer as createHttpServer, type IncomingMessage, type Server } from "node:http";
import { createServer as createTcpServer, type Server as TcpServer } from "node:net";
import { gunzipSync } from "node:zlib";
import { CreateBucketCommand, GetObjectCommand, HeadObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { sealText } from "@vigil/shared/crypto/sealed-text";
import type { NormalizedEvent, StoredEvent } from "@vigil/shared/events/event-schema";
import { storeEvents } from "@vigil/shared/ingest/store-events";
import { LogStreamDeliverer } from "@vigil/shared/log-streams/deliver-log-streams";
import {
  type DeliveryContext,
  DeliveryError,
  deliverBatch,
  eventsPerRequest,
  verifyWebhookSignature,
} from "@vigil/shared/log-streams/destinations";
import { SEALING_PURPOSE } from "@vigil/shared/log-streams/manage-log-streams";
import { createLogger } from "@vigil/shared/logging/logger";
import { s3Client } from "@vigil/shared/tlog/checkpoint-anchors";
import { createTestPipeline, eventually, queuedEvent, type TestPipeline } from "@vigil/testkit";
import { afterAll, beforeAll, describe, expect, test } from "vitest";

interface Received {
  method: string;
  path: string;
  headers: IncomingMessage["headers"];
  body: string;
  at: number;
}

const servers: Array<Server | TcpServer> = [];

async function listen<T extends Server | TcpServer>(server: T): Promise<{ server: T; url: string }> {
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as { port: number }).port}` };
}

/** An HTTP receiver recording each request; `answer` sets the status (and may add headers). */
async function receiver(
  answer: (request: Received, res: import("node:http").ServerResponse) => number = () => 200,
) {
  const received: Received[] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  const { url } = await listen(
    createHttpServer((req, res) => {
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      res.once("close", () => inFlight--);
      const chunks: Buffer[] = [];
      req.on("data", (chunk) => chunks.push(chunk));
      req.on("end", () => {
        const request = {
          method: req.method ?? "",
          path: req.url ?? "",
          headers: req.headers,
          body: Buffer.concat(chunks).toString(),
          at: Date.now(),
        };
        received.push(request);
        const status = answer(request, res);
        // A short pause keeps overlapping sends (if any) visibly overlapping.
        setTimeout(() => res.writeHead(status).end(), 20);
      });
    }),
  );
  return { url, received, maxInFlight: () => maxInFlight };
}

function storedEvent(seq: number, overrides: Partial<StoredEvent> = {}): StoredEvent {
  const { payload_hash: _, ...event } = queuedEvent("0190a0a0-0000-7000-8000-000000000001", {
    occurred_at: "2019-03-01T10:00:00.250Z",
    received_at: "2026-12-07T10:00:00.500Z",
    action_type: "UPDATE",
    action: "invoice.approve",
    resource_type: "invoice",
    resource_id: `inv-${seq}`,
    user_id: "alice",
    metadata: { n: seq },
  });
  return { ...event, seq, hash: "ab".repeat(32), ...overrides };
}

let pipeline: TestPipeline;
let s3: S3Client;

beforeAll(async () => {
  pipeline = await createTestPipeline();
  s3 = s3Client("us-east-1", pipeline.sqsEndpoint);
});
afterAll(async () => {
  for (const server of servers) {
    (server as Server).closeAllConnections?.();
    server.close();
  }
  s3?.destroy();
  await pipeline?.close();
});

const context = (overrides: Partial<DeliveryContext> = {}): DeliveryContext => ({
  signingSecrets: ["whsec_test"],
  allowPrivateTargets: true,
  timeoutMs: 1000,
  s3: () => s3,
  ...overrides,
});

describe("request formats", () => {
  const batch = {
    streamId: "0190a0a0-0000-7000-8000-0000000000aa",
    tenantId: "0190a0a0-0000-7000-8000-000000000001",
    events: [
      storedEvent(7, { severity: "INFO" }),
      storedEvent(8, { severity: "WARNING" }),
      storedEvent(9, { severity: "CRITICAL" }),
    ],
  };

  test("Splunk HEC: POST /services/collector/event, Authorization: Splunk <token>, one event object per line", async () => {
    const splunk = await receiver();
    await deliverBatch(
      { destination: "splunk_hec", url: `${splunk.url}/ignored/path`, token: "hec-1", index: "audit" },
      batch,
      context(),
    );
    const [request] = splunk.received;
    expect(request).toMatchObject({ method: "POST", path: "/services/collector/event" });
    expect(request!.headers.authorization).toBe("Splunk hec-1");
    expect(request!.headers["x-splunk-request-channel"]).toBe(batch.streamId);
    expect(request!.headers["content-type"]).toBe("application/json");
    const lines = request!.body.split("\n").map((line) => JSON.parse(line));
    expect(lines).toEqual(
      batch.events.map((event) => ({
        time: Date.parse(event.occurred_at) / 1000,
        source: "vigil",
        sourcetype: "vigil:audit",
        index: "audit",
        event,
      })),
    );
    expect(lines[0].time).toBe(1551434400.25);
  });

  test("Datadog: POST /api/v2/logs with DD-API-KEY, a JSON array of log entries with Datadog statuses", async () => {
    const datadog = await receiver(() => 202);
    await deliverBatch(
      { destination: "datadog", url: datadog.url, api_key: "dd-1", service: "billing", tags: "env:prod" },
      batch,
      context(),
    );
    const [request] = datadog.received;
    expect(request).toMatchObject({ method: "POST", path: "/api/v2/logs" });
    expect(request!.headers["dd-api-key"]).toBe("dd-1");
    expect(request!.headers["content-type"]).toBe("application/json");
    const entries = JSON.parse(request!.body);
    expect(entries.map((entry: { status: string }) => entry.status)).toEqual(["info", "warn", "critical"]);
    expect(entries[0]).toEqual({
      ddsource: "vigil",
      service: "billing",
      ddtags: "env:prod",
      message: JSON.stringify(batch.events[0]),
      status: "info",
      timestamp: Date.parse(batch.events[0]!.occurred_at),
      vigil: { tenant_id: batch.tenantId, seq: 7, id: batch.events[0]!.id },
    });
  });

  test("S3: one NDJSON.gz object per batch, keyed by the day Vigil received it and the seq range", async () => {
    const bucket = `vigil-fmt-${randomBytes(4).toString("hex")}`;
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
    await deliverBatch({ destination: "s3", bucket, prefix: "audit" }, batch, context());
    // Keyed by received_at (Vigil's clock), not the client's back-dated occurred_at (2019).
    const key = `audit/${batch.tenantId}/2026/12/07/${"7".padStart(20, "0")}-${"9".padStart(20, "0")}.ndjson.gz`;
    const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
    expect(head.ContentType).toBe("application/x-ndjson");
    const object = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    const text = gunzipSync(Buffer.from(await object.Body!.transformToByteArray())).toString();
    expect(text).toBe(`${batch.events.map((event) => JSON.stringify(event)).join("\n")}\n`);
    // A retried batch overwrites its own object rather than adding a second one.
    await deliverBatch({ destination: "s3", bucket, prefix: "audit" }, batch, context());
    expect((await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key }))).ContentLength).toBe(
      head.ContentLength,
    );
  });

  test("webhook: JSON batch with its seq range, signed over timestamp.body by every secret in force", async () => {
    const hook = await receiver();
    await deliverBatch(
      { destination: "webhook", url: `${hook.url}/in` },
      batch,
      context({ signingSecrets: ["whsec_new", "whsec_old"] }),
    );
    const [request] = hook.received;
    expect(request!.path).toBe("/in");
    expect(JSON.parse(request!.body)).toEqual({
      stream_id: batch.streamId,
      tenant_id: batch.tenantId,
      from_seq: 7,
      to_seq: 9,
      events: batch.events,
    });
    const header = String(request!.headers["vigil-signature"]);
    expect(header).toMatch(/^t=\d+,v1=[0-9a-f]{64},v1=[0-9a-f]{64}$/);
    const now = Math.floor(Date.now() / 1000);
    expect(verifyWebhookSignature(header, request!.body, "whsec_new", now)).toBe(true);
    expect(verifyWebhookSignature(header, request!.body, "whsec_old", now)).toBe(true);
    expect(verifyWebhookSignature(header, `${request!.body} `, "whsec_new", now)).toBe(false);
    // A replayed request (old timestamp) is refused by the receiver-side check.
    expect(verifyWebhookSignature(header, request!.body, "whsec_new", now + 301)).toBe(false);
  });

  test("a request never exceeds the destination's limits: Datadog 1,000 entries and 5 MB, others 4 MiB", () => {
    const small = Array.from({ length: 2500 }, (_, n) => storedEvent(n + 1));
    expect(eventsPerRequest("datadog", small)).toBe(1000);
    expect(eventsPerRequest("webhook", small)).toBe(2500);
    const large = Array.from({ length: 100 }, (_, n) =>
      storedEvent(n + 1, { metadata: { blob: "x".repeat(60_000) } }),
    );
    const bodyBytes = (destination: "webhook" | "datadog") => {
      const fits = eventsPerRequest(destination, large);
      const events = large.slice(0, fits);
      return Buffer.byteLength(
        JSON.stringify(
          destination === "webhook"
            ? { events }
            : events.map((event) => ({ message: JSON.stringify(event) })),
        ),
      );
    };
    expect(eventsPerRequest("webhook", large)).toBeLessThan(100);
    expect(bodyBytes("webhook")).toBeLessThanOrEqual(4 * 1024 * 1024);
    expect(bodyBytes("webhook")).toBeGreaterThan(3.5 * 1024 * 1024);
    expect(bodyBytes("datadog")).toBeLessThanOrEqual(5_000_000);
    expect(eventsPerRequest("s3", large)).toBe(100);
    // One event always goes, whatever its size.
    expect(eventsPerRequest("datadog", [storedEvent(1, { metadata: { blob: "x".repeat(5_000_000) } })])).toBe(
      1,
    );
  });
});

describe("every send is bounded and stays on public addresses", () => {
  test("a receiver trickling its answer a byte at a time is cut at the request timeout", async () => {
    const { url } = await listen(
      createTcpServer((socket) => {
        socket.on("data", () => undefined);
        socket.write("HTTP/1.1 200 OK\r\n");
        const drip = setInterval(() => socket.write("X"), 100);
        socket.on("close", () => clearInterval(drip));
        socket.on("error", () => undefined);
      }),
    );
    const started = Date.now();
    const sent = deliverBatch(
      { destination: "webhook", url },
      { streamId: "s", tenantId: "t", events: [storedEvent(1)] },
      context({ timeoutMs: 500 }),
    );
    await expect(sent).rejects.toThrow(/no answer within 500 ms/);
    expect(Date.now() - started).toBeLessThan(2000);
  });

  test("a receiver that accepts the connection and never reads the body is cut at the request timeout", async () => {
    const { url } = await listen(
      createTcpServer((socket) => {
        socket.pause(); // never reads: the kernel buffers fill and the sender's writes stall
        socket.on("error", () => undefined);
      }),
    );
    // ~3 MB of events, more than the socket buffers hold, so the request is still being written.
    const events = Array.from({ length: 30 }, (_, n) =>
      storedEvent(n + 1, { metadata: { pad: randomBytes(50_000).toString("hex") } }),
    );
    const started = Date.now();
    const sent = deliverBatch(
      { destination: "webhook", url },
      { streamId: "s", tenantId: "t", events },
      context({ timeoutMs: 500 }),
    );
    await expect(sent).rejects.toThrow(/no answer within 500 ms/);
    expect(Date.now() - started).toBeLessThan(2000);
  });

  test("an S3 endpoint that accepts the connection and never answers is cut at the request timeout", async () => {
    const { url } = await listen(
      createTcpServer((socket) => {
        socket.on("data", () => undefined);
        socket.on("error", () => undefined);
      }),
    );
    // The deliverer's own client setup: one attempt per send.
    const silent = s3Client("us-east-1", url, { maxAttempts: 1 });
    const started = Date.now();
    try {
      const sent = deliverBatch(
        { destination: "s3", bucket: "never-answers", prefix: "" },
        { streamId: "s", tenantId: "t", events: [storedEvent(1)] },
        context({ timeoutMs: 500, s3: () => silent }),
      );
      const error = await sent.catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(DeliveryError);
      expect((error as DeliveryError).retryable).toBe(true);
      expect(Date.now() - started).toBeLessThan(3000);
    } finally {
      silent.destroy();
    }
  });

  test("a redirect is a failed delivery, never followed (to the metadata address or anywhere)", async () => {
    const inner = await receiver();
    const redirecting = await receiver((_request, res) => {
      res.setHeader("Location", `${inner.url}/latest/meta-data/`);
      return 302;
    });
    const error = await deliverBatch(
      { destination: "webhook", url: redirecting.url },
      { streamId: "s", tenantId: "t", events: [storedEvent(1)] },
      context(),
    ).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(DeliveryError);
    expect((error as DeliveryError).message).toBe("HTTP 302");
    expect(inner.received).toEqual([]);
  });

  test("in production, a name resolving to loopback and an IP literal on loopback are refused at connect time", async () => {
    const hook = await receiver();
    const port = new URL(hook.url).port;
    for (const url of [`http://localhost:${port}/`, `http://127.0.0.1:${port}/`, `http://[::1]:${port}/`]) {
      const error = await deliverBatch(
        { destination: "webhook", url },
        { streamId: "s", tenantId: "t", events: [storedEvent(1)] },
        context({ allowPrivateTargets: false }),
      ).catch((caught: unknown) => caught);
      expect(error, url).toBeInstanceOf(DeliveryError);
      expect((error as DeliveryError).message, url).toMatch(/refused to connect to (127\.0\.0\.1|::1)/);
    }
    expect(hook.received).toEqual([]);
  });
});

function newDeliverer(options: { batchSize: number; requestTimeoutMs: number }): LogStreamDeliverer {
  return new LogStreamDeliverer(
    pipeline.database.db,
    {
      sealingSecret: undefined,
      allowPrivateTargets: true,
      pollIntervalMs: 50,
      deadAfterSeconds: 3600,
      maxConcurrentStreams: 4,
      backoffBaseMs: 10,
      backoffMaxMs: 50,
      awsRegion: "us-east-1",
      ...options,
    },
    createLogger("worker", "silent"),
  );
}

async function storeFor(tenantId: string, count: number, overrides: (n: number) => Partial<NormalizedEvent>) {
  const events = Array.from({ length: count }, (_, n) =>
    queuedEvent(tenantId, {
      id: randomUUID(),
      payload_hash: randomBytes(32).toString("hex"),
      ...overrides(n),
    }),
  );
  for (let start = 0; start < count; start += 500)
    await storeEvents(pipeline.database.db, events.slice(start, start + 500));
  return events;
}

describe("batches a destination can take", () => {
  test("a read larger than Datadog takes is sent as requests of at most 1,000 entries; filters skip events and the cursor passes them", async () => {
    const { tenant } = await pipeline.createTenantWithKey();
    // 2,400 events, every other one an ERROR; the stream wants only the ERRORs (1,200).
    const stored = await storeFor(tenant.id, 2400, (n) => ({ severity: n % 2 ? "ERROR" : "INFO" }));
    const datadog = await receiver(() => 202);
    const streamId = randomUUID();
    await pipeline.database.admin`
      insert into log_streams (id, tenant_id, name, destination, target, secrets, filters)
      values (${streamId}, ${tenant.id}, 'dd', 'datadog',
        ${pipeline.database.admin.json({ url: datadog.url, service: "vigil" })},
        ${pipeline.database.admin.json({ credential: sealText("dd-key", undefined, SEALING_PURPOSE) })},
        ${pipeline.database.admin.json({ severity: ["ERROR"] })})`;
    const deliverer = newDeliverer({ batchSize: 5000, requestTimeoutMs: 5000 });
    deliverer.start();
    try {
      await eventually(async () => {
        const [row] = await pipeline.database.admin<{ committed_seq: string }[]>`
          select committed_seq from log_streams where id = ${streamId}`;
        return Number(row?.committed_seq) === 2400;
      }, 20_000);
    } finally {
      await deliverer.stop();
    }
    const requests = datadog.received.map(
      (request) => JSON.parse(request.body) as Array<{ vigil: { seq: number; id: string } }>,
    );
    expect(requests.map((entries) => entries.length)).toEqual([1000, 200]);
    expect(datadog.received.every((request) => request.headers["dd-api-key"] === "dd-key")).toBe(true);
    const sent = requests.flat().map((entry) => entry.vigil);
    expect(sent.map((entry) => entry.seq)).toEqual(Array.from({ length: 1200 }, (_, n) => 2 * n + 2));
    expect(sent.map((entry) => entry.id)).toEqual(stored.filter((_, n) => n % 2).map((event) => event.id));
  }, 30_000);
});

describe("tenant's pause", () => {
  test("a pause set while a batch is on its way stays, whether the batch succeeds or fails; re-enabled, delivery resumes from the cursor", async () => {
    const { tenant } = await pipeline.createTenantWithKey();
    await storeFor(tenant.id, 20, () => ({}));
    // Requests wait here until the test answers them.
    const waiting: Array<{ path: string; body: string; answer: (status: number) => void }> = [];
    const { url } = await listen(
      createHttpServer((req, res) => {
        const chunks: Buffer[] = [];
        req.on("data", (chunk) => chunks.push(chunk));
        req.on("end", () =>
          waiting.push({
            path: req.url ?? "",
            body: Buffer.concat(chunks).toString(),
            answer: (status) => {
              if (!res.headersSent) res.writeHead(status).end();
            },
          }),
        );
      }),
    );
    const streams = { ok: randomUUID(), failing: randomUUID() };
    for (const [name, id] of Object.entries(streams))
      await pipeline.database.admin`
        insert into log_streams (id, tenant_id, name, destination, target, secrets)
        values (${id}, ${tenant.id}, ${name}, 'webhook', ${pipeline.database.admin.json({ url: `${url}/${name}` })},
          ${pipeline.database.admin.json({ signing: [{ sealed: sealText("whsec_p", undefined, SEALING_PURPOSE), until: null }] })})`;
    const stream = async (id: string) =>
      (
        await pipeline.database.admin<{ state: string; committed_seq: string; last_error: string | null }[]>`
          select state, committed_seq, last_error from log_streams where id = ${id}`
      )[0]!;
    const deliverer = newDeliverer({ batchSize: 10, requestTimeoutMs: 5000 });
    deliverer.start();
    try {
      await eventually(async () => waiting.length === 2);
      // The tenant pauses both (PATCH {"state":"paused"} writes this column) while their batches are out.
      await pipeline.database.admin`update log_streams set state = 'paused' where tenant_id = ${tenant.id}`;
      waiting.find((request) => request.path === "/ok")!.answer(200);
      waiting.find((request) => request.path === "/failing")!.answer(500);
      await eventually(async () => Number((await stream(streams.ok)).committed_seq) === 10);
      await eventually(async () => (await stream(streams.failing)).last_error === "HTTP 500");
      expect(await stream(streams.ok)).toMatchObject({ state: "paused" });
      expect(await stream(streams.failing)).toMatchObject({ state: "paused" });
      expect(Number((await stream(streams.failing)).committed_seq)).toBe(0);
      await new Promise((resolve) => setTimeout(resolve, 500));
      expect(waiting).toHaveLength(2); // paused: nothing more is sent

      await pipeline.database.admin`update log_streams set state = 'active' where id = ${streams.ok}`;
      await eventually(async () => waiting.length === 3);
      expect(JSON.parse(waiting[2]!.body)).toMatchObject({ from_seq: 11, to_seq: 20 });
      waiting[2]!.answer(200);
      await eventually(async () => Number((await stream(streams.ok)).committed_seq) === 20);
      expect((await stream(streams.ok)).state).toBe("active");
    } finally {
      for (const request of waiting) request.answer(503);
      await deliverer.stop();
    }
  }, 30_000);
});

describe("leases", () => {
  test("a delivery whose read outlives the lease sends nothing; the stream is sent by one deliverer at a time, in order", async () => {
    const { tenant } = await pipeline.createTenantWithKey();
    await storeFor(tenant.id, 30, () => ({}));
    const hook = await receiver();
    const streamId = randomUUID();
    await pipeline.database.admin`
      insert into log_streams (id, tenant_id, name, destination, target, secrets)
      values (${streamId}, ${tenant.id}, 'lease', 'webhook', ${pipeline.database.admin.json({ url: hook.url })},
        ${pipeline.database.admin.json({ signing: [{ sealed: sealText("whsec_lease", undefined, SEALING_PURPOSE), until: null }] })})`;
    // A 2 s lease (renewed per batch) at a 300 ms request timeout.
    const deliverer = () => newDeliverer({ batchSize: 10, requestTimeoutMs: 300 });
    // The events table is locked: the first deliverer's read waits past its lease.
    const holder = await pipeline.database.admin.reserve();
    const replicas = [deliverer(), deliverer()];
    try {
      await holder`begin`;
      await holder`lock table events in access exclusive mode`;
      replicas[0]!.start();
      await eventually(async () => {
        const [row] = await pipeline.database.admin<{ lease_owner: string | null }[]>`
          select lease_owner from log_streams where id = ${streamId}`;
        return row?.lease_owner;
      });
      replicas[1]!.start();
      await new Promise((resolve) => setTimeout(resolve, 3000));
      await holder`commit`;
      await eventually(async () => {
        const [row] = await pipeline.database.admin<{ committed_seq: string }[]>`
          select committed_seq from log_streams where id = ${streamId}`;
        return Number(row?.committed_seq) === 30;
      }, 20_000);
    } finally {
      await holder`rollback`.catch(() => undefined);
      holder.release();
      await Promise.all(replicas.map((replica) => replica.stop()));
    }
    const runs = hook.received.map(
      (request) => JSON.parse(request.body) as { from_seq: number; to_seq: number },
    );
    expect(runs).toEqual([
      { ...runs[0], from_seq: 1, to_seq: 10 },
      { ...runs[1], from_seq: 11, to_seq: 20 },
      { ...runs[2], from_seq: 21, to_seq: 30 },
    ]);
    expect(hook.maxInFlight()).toBe(1);
  }, 30_000);
});
