// Log streams (spec §12) across real processes: the api manages streams, the worker delivers to
// receivers on 127.0.0.1 (a flaky webhook, Splunk HEC and Datadog stand-ins) and to the S3 API of
// the fauxqs emulator. Delivery is at least once and in seq order per destination, survives a
// killed worker, signs every webhook request, and a destination that never recovers turns dead
// without touching ingest.
import { createServer, type IncomingMessage, type Server } from "node:http";
import { gunzipSync } from "node:zlib";
import { CreateBucketCommand, GetObjectCommand, ListObjectsV2Command, S3Client } from "@aws-sdk/client-s3";
import { verifyWebhookSignature } from "@vigil/shared/log-streams/destinations";
import { isForbiddenAddress } from "@vigil/shared/log-streams/target-guard";
import {
  createTestPipeline,
  eventually,
  type RunningService,
  requestJson,
  type TestPipeline,
} from "@vigil/testkit";
import { afterAll, beforeAll, describe, expect, test } from "vitest";

interface Received {
  path: string;
  headers: IncomingMessage["headers"];
  body: string;
}

/** An HTTP receiver on 127.0.0.1 whose answer each test decides. */
async function startReceiver(
  answer: (request: Received) => number,
): Promise<{ url: string; received: Received[]; server: Server }> {
  const received: Received[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk) => chunks.push(chunk));
    req.on("end", () => {
      const request = { path: req.url ?? "", headers: req.headers, body: Buffer.concat(chunks).toString() };
      const status = answer(request);
      if (status < 300) received.push(request);
      res.writeHead(status).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address() as { port: number };
  return { url: `http://127.0.0.1:${address.port}`, received, server };
}

const WORKER_ENV = {
  LOG_STREAM_POLL_INTERVAL_MS: "100",
  LOG_STREAM_BACKOFF_BASE_MS: "20",
  LOG_STREAM_BACKOFF_MAX_MS: "300",
  LOG_STREAM_BATCH_SIZE: "200",
  LOG_STREAM_REQUEST_TIMEOUT_MS: "2000",
};

let pipeline: TestPipeline;
let api: RunningService;
let adminToken: string;

async function newTenant(): Promise<{ tenantId: string; key: string }> {
  const { tenant, key } = await pipeline.createTenantWithKey(["ingest", "read"]);
  return { tenantId: tenant.id, key };
}

async function createStream(tenantId: string, body: unknown) {
  return requestJson(`${api.url}/api/v1/log-streams?tenant_id=${tenantId}`, { token: adminToken, body });
}

async function ingest(key: string, count: number, fields: Record<string, unknown> = {}) {
  for (let start = 0; start < count; start += 1000) {
    const events = Array.from({ length: Math.min(1000, count - start) }, (_, i) => ({
      action_type: "UPDATE",
      resource_type: "invoice",
      resource_id: `inv-${start + i}`,
      user_id: "alice",
      metadata: { n: start + i },
      ...fields,
    }));
    const response = await requestJson(`${api.url}/api/v1/logs/bulk`, { key, body: events });
    expect(response.status, JSON.stringify(response.body)).toBe(202);
  }
}

beforeAll(async () => {
  pipeline = await createTestPipeline();
  api = await pipeline.start("api");
  const login = await requestJson(`${api.url}/api/v1/auth/token`, {
    body: { grant_type: "password", username: "admin@localhost", password: "admin-password-for-tests" },
  });
  adminToken = login.body.access_token;
});
afterAll(async () => {
  await pipeline?.close();
});

describe("webhook log stream", () => {
  test("a flaky receiver, down for a while and behind a killed worker, gets every event in seq order, signed", async () => {
    const { tenantId, key } = await newTenant();
    let down = false;
    let calls = 0;
    const receiver = await startReceiver(() => {
      calls++;
      if (down) return 503;
      return Math.random() < 0.3 ? 500 : 200;
    });
    try {
      const created = await createStream(tenantId, {
        name: "siem",
        target: { destination: "webhook", url: `${receiver.url}/hook` },
      });
      expect(created.status, JSON.stringify(created.body)).toBe(201);
      const secret: string = created.body.signing_secret;
      expect(secret).toMatch(/^whsec_/);
      // The secret is shown once: reads never carry it.
      const read = await requestJson(
        `${api.url}/api/v1/log-streams/${created.body.id}?tenant_id=${tenantId}`,
        { token: adminToken },
      );
      expect(read.body.signing_secret).toBeUndefined();

      const total = 1500;
      let worker = await pipeline.start("worker", WORKER_ENV);
      await ingest(key, 500);
      down = true;
      await ingest(key, 500);
      await new Promise((resolve) => setTimeout(resolve, 1000));
      down = false;
      // Kill the worker while it delivers; its lease lapses and the next one resumes from the cursor.
      await eventually(async () => receiver.received.length > 2);
      await worker.kill();
      await ingest(key, 500);
      worker = await pipeline.start("worker", WORKER_ENV);

      const firstSeen = new Map<number, number>();
      await eventually(
        async () => {
          for (const [order, request] of receiver.received.entries())
            for (const event of JSON.parse(request.body).events)
              if (!firstSeen.has(event.seq)) firstSeen.set(event.seq, order);
          return firstSeen.size === total;
        },
        60_000,
        200,
      );
      // Each request is one contiguous run in seq order, and runs arrive in order: a request never
      // starts below the highest seq already delivered, except a retry of an earlier run (same events).
      let highest = 0;
      for (const request of receiver.received) {
        const body = JSON.parse(request.body);
        const seqs: number[] = body.events.map((event: { seq: number }) => event.seq);
        expect(seqs).toEqual(seqs.slice().sort((a, b) => a - b));
        expect(body.from_seq).toBe(seqs[0]);
        expect(body.to_seq).toBe(seqs.at(-1));
        expect(body.from_seq <= highest + 1).toBe(true);
        highest = Math.max(highest, body.to_seq);
        expect(
          verifyWebhookSignature(
            String(request.headers["vigil-signature"]),
            request.body,
            secret,
            Math.floor(Date.now() / 1000),
          ),
        ).toBe(true);
        expect(
          verifyWebhookSignature(
            String(request.headers["vigil-signature"]),
            request.body,
            "whsec_wrong",
            Math.floor(Date.now() / 1000),
          ),
        ).toBe(false);
      }
      expect([...firstSeen.keys()].sort((a, b) => a - b)).toEqual(
        Array.from({ length: total }, (_, i) => i + 1),
      );
      expect(calls).toBeGreaterThan(receiver.received.length); // failures happened and were retried
      const state = await eventually(async () => {
        const stream = await requestJson(
          `${api.url}/api/v1/log-streams/${created.body.id}?tenant_id=${tenantId}`,
          { token: adminToken },
        );
        return stream.body.committed_seq === total && stream.body;
      });
      expect(state.state).toBe("active");
      expect(state.delivered_events).toBeGreaterThanOrEqual(total);
      await worker.stop();
    } finally {
      receiver.server.close();
    }
  }, 120_000);

  test("a receiver that never recovers turns the stream dead; ingest is unaffected; the tenant re-enables it", async () => {
    const { tenantId, key } = await newTenant();
    const receiver = await startReceiver(() => 500);
    const worker = await pipeline.start("worker", { ...WORKER_ENV, LOG_STREAM_DEAD_AFTER_SECONDS: "1" });
    try {
      const created = await createStream(tenantId, {
        name: "dead end",
        target: { destination: "webhook", url: receiver.url },
      });
      await ingest(key, 50);
      const dead = await eventually(async () => {
        const stream = await requestJson(
          `${api.url}/api/v1/log-streams/${created.body.id}?tenant_id=${tenantId}`,
          { token: adminToken },
        );
        return stream.body.state === "dead" && stream.body;
      }, 30_000);
      expect(dead.last_error).toContain("500");
      expect(dead.committed_seq).toBe(0);
      const stored = await requestJson(`${api.url}/api/v1/logs?wait=true`, {
        key,
        body: { action_type: "CREATE", resource_type: "doc", resource_id: "still-works" },
      });
      expect(stored.status).toBe(201);
      const reenabled = await requestJson(
        `${api.url}/api/v1/log-streams/${created.body.id}?tenant_id=${tenantId}`,
        {
          method: "PATCH",
          token: adminToken,
          body: { state: "active" },
        },
      );
      expect(reenabled.status).toBe(200);
      expect(reenabled.body.state).toBe("active");
      expect(reenabled.body.failing_since).toBeNull();
    } finally {
      await worker.stop();
      receiver.server.close();
    }
  }, 60_000);
});

describe("other destinations", () => {
  test("Splunk HEC, Datadog and S3 receive the events in their own formats, filtered", async () => {
    const { tenantId, key } = await newTenant();
    const splunk = await startReceiver(() => 200);
    const datadog = await startReceiver(() => 202);
    const s3 = new S3Client({
      endpoint: pipeline.sqsEndpoint,
      region: "us-east-1",
      forcePathStyle: true,
      credentials: { accessKeyId: "vigil", secretAccessKey: "vigil" },
    });
    const bucket = `vigil-streams-${tenantId.slice(0, 8)}`;
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
    const worker = await pipeline.start("worker", {
      ...WORKER_ENV,
      LOG_STREAM_S3_ENDPOINT: pipeline.sqsEndpoint,
    });
    try {
      for (const body of [
        {
          name: "splunk",
          target: { destination: "splunk_hec", url: splunk.url, token: "hec-token-123", index: "audit" },
          filters: { severity: ["ERROR"] },
        },
        {
          name: "datadog",
          target: { destination: "datadog", url: datadog.url, api_key: "dd-key-456", tags: "env:test" },
        },
        { name: "s3", target: { destination: "s3", bucket, prefix: "vigil/" } },
      ]) {
        const created = await createStream(tenantId, body);
        expect(created.status, JSON.stringify(created.body)).toBe(201);
        expect(JSON.stringify(created.body)).not.toMatch(/hec-token-123|dd-key-456/);
      }
      await ingest(key, 10, { severity: "INFO" });
      await ingest(key, 5, { severity: "ERROR" });

      await eventually(async () => splunk.received.length > 0 && datadog.received.length > 0);
      const splunkEvents = splunk.received.flatMap((request) =>
        request.body.split("\n").map((line) => JSON.parse(line)),
      );
      await eventually(async () => {
        const lines = splunk.received.flatMap((request) => request.body.split("\n"));
        return lines.length === 5;
      });
      expect(splunk.received[0]!.path).toBe("/services/collector/event");
      expect(splunk.received[0]!.headers.authorization).toBe("Splunk hec-token-123");
      expect(splunkEvents[0]).toMatchObject({
        sourcetype: "vigil:audit",
        index: "audit",
        event: { severity: "ERROR" },
      });
      await eventually(
        async () => datadog.received.flatMap((request) => JSON.parse(request.body)).length === 15,
      );
      const datadogLogs = datadog.received.flatMap((request) => JSON.parse(request.body));
      expect(datadog.received[0]!.path).toBe("/api/v2/logs");
      expect(datadog.received[0]!.headers["dd-api-key"]).toBe("dd-key-456");
      expect(datadogLogs[0]).toMatchObject({
        ddsource: "vigil",
        ddtags: "env:test",
        vigil: { tenant_id: tenantId, seq: 1 },
      });
      expect(JSON.parse(datadogLogs[0].message).seq).toBe(1);

      const objects = await eventually(async () => {
        const listed = await s3.send(
          new ListObjectsV2Command({ Bucket: bucket, Prefix: `vigil/${tenantId}/` }),
        );
        return (listed.Contents?.length ?? 0) > 0 && listed.Contents;
      });
      const lines: Array<{ seq: number }> = [];
      for (const object of objects) {
        const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: object.Key! }));
        const bytes = Buffer.from(await got.Body!.transformToByteArray());
        lines.push(
          ...gunzipSync(bytes)
            .toString()
            .trim()
            .split("\n")
            .map((line) => JSON.parse(line)),
        );
      }
      expect(lines.map((event) => event.seq)).toEqual(Array.from({ length: 15 }, (_, i) => i + 1));
      expect(objects[0]!.Key).toMatch(/\/0{19}1-0{18}15\.ndjson\.gz$/);
    } finally {
      await worker.stop();
      splunk.server.close();
      datadog.server.close();
      s3.destroy();
    }
  }, 90_000);
});

describe("log stream input", () => {
  test("bad targets and filters are 422s naming the field; other tenants' streams are 404", async () => {
    const { tenantId } = await newTenant();
    const cases: Array<[unknown, string]> = [
      [{ name: "x", target: { destination: "webhook", url: "ftp://example.com/x" } }, "target.url"],
      [{ name: "x", target: { destination: "webhook", url: "not a url" } }, "target.url"],
      [{ name: "x", target: { destination: "webhook", url: "https://user:pw@example.com" } }, "target.url"],
      [{ name: "x", target: { destination: "s3", bucket: "Bad_Bucket" } }, "target.bucket"],
      [{ name: "x", target: { destination: "s3", bucket: "ab" } }, "target.bucket"],
      [{ name: "x", target: { destination: "carrier-pigeon" } }, "target.destination"],
      [
        {
          name: "x",
          target: { destination: "webhook", url: "https://example.com" },
          filters: { severity: Array(51).fill("INFO") },
        },
        "filters.severity",
      ],
      [
        {
          name: "x",
          target: { destination: "webhook", url: "https://example.com" },
          filters: { action: ["a\u0000b"] },
        },
        "filters.action.0",
      ],
      [{ name: "", target: { destination: "webhook", url: "https://example.com" } }, "name"],
      [{ name: "x", target: { destination: "webhook", url: "https://example.com" }, extra: 1 }, "extra"],
    ];
    for (const [body, field] of cases) {
      const response = await createStream(tenantId, body);
      expect(response.status, JSON.stringify(body)).toBe(422);
      expect(response.body.errors.map((error: { path: string }) => error.path)).toContain(field);
    }
    const other = await newTenant();
    const created = await createStream(other.tenantId, {
      name: "theirs",
      target: { destination: "webhook", url: "https://example.com" },
    });
    expect(created.status).toBe(201);
    const { key } = await newTenant();
    expect((await requestJson(`${api.url}/api/v1/log-streams`, { key })).status).toBe(403);
    const foreign = await requestJson(
      `${api.url}/api/v1/log-streams/${created.body.id}?tenant_id=${tenantId}`,
      { token: adminToken },
    );
    expect(foreign.status).toBe(404);
  });

  test("hostile bodies, ids and credentials are 4xx naming the field; nothing is created", async () => {
    const { tenantId } = await newTenant();
    const url = `${api.url}/api/v1/log-streams?tenant_id=${tenantId}`;
    const raw = (body: string) =>
      requestJson(url, { token: adminToken, rawBody: body, headers: { "Content-Type": "application/json" } });
    const target = '{"destination":"webhook","url":"https://example.com"}';
    const cases: Array<[Promise<{ status: number; body: any }>, number, string]> = [
      [raw(`{"name":"a\\u0000b","target":${target}}`), 422, "name"],
      [raw(`{"name":"x","target":${target},"filters":{"severity":[1e400]}}`), 422, "filters"],
      [
        // Nested 100,000 deep is past the 64 KiB admin body cap (413); 30,000 deep fits and is refused.
        raw(`{"name":"x","target":${target},"filters":${"[".repeat(30_000)}${"]".repeat(30_000)}}`),
        422,
        "",
      ],
      [raw(`{"name":"${"x".repeat(129)}","target":${target}}`), 422, "name"],
      [raw("{not json"), 400, ""],
      [
        requestJson(`${api.url}/api/v1/log-streams/not-a-uuid?tenant_id=${tenantId}`, { token: adminToken }),
        400,
        "id",
      ],
      [
        requestJson(`${api.url}/api/v1/log-streams?tenant_id=not-a-uuid`, { token: adminToken }),
        400,
        "tenant_id",
      ],
      [requestJson(url, { token: `${adminToken.slice(0, -4)}AAAA` }), 401, ""],
    ];
    for (const [pending, status, field] of cases) {
      const response = await pending;
      expect(response.status, JSON.stringify(response.body).slice(0, 300)).toBe(status);
      if (field) expect(JSON.stringify(response.body.errors ?? [])).toContain(field);
    }
    const created = await createStream(tenantId, {
      name: "ok",
      target: { destination: "webhook", url: "https://example.com" },
    });
    const patch = (body: unknown) =>
      requestJson(`${api.url}/api/v1/log-streams/${created.body.id}?tenant_id=${tenantId}`, {
        method: "PATCH",
        token: adminToken,
        body,
      });
    for (const [body, field] of [
      [{ overlap_seconds: 7 * 86_400 + 1 }, "overlap_seconds"],
      [{ state: "dead" }, "state"],
      [{ committed_seq: 0 }, "committed_seq"],
      [{ rotate_secret: true }, ""],
    ] as const) {
      const response = await patch(body);
      if (field === "") {
        // A webhook rotates; the new secret is shown once.
        expect(response.status).toBe(200);
        expect(response.body.signing_secret).toMatch(/^whsec_/);
      } else {
        expect(response.status).toBe(422);
        expect(JSON.stringify(response.body.errors)).toContain(field);
      }
    }
    const listed = await requestJson(url, { token: adminToken });
    expect(listed.body.data.map((stream: { name: string }) => stream.name)).toEqual(["ok"]);
  });

  test("in production, targets on loopback, private, link-local and metadata addresses are refused (SSRF)", async () => {
    const productionApi = await pipeline.start("api", { LOG_STREAM_ALLOW_PRIVATE_TARGETS: "false" });
    const { tenantId } = await newTenant();
    for (const url of [
      "http://127.0.0.1:9/x",
      "http://localhost/x",
      "http://169.254.169.254/latest/meta-data/",
      "http://10.0.0.1/",
      "http://[::1]/",
      "http://[::ffff:127.0.0.1]/",
      "http://0.0.0.0/",
    ]) {
      const response = await requestJson(`${productionApi.url}/api/v1/log-streams?tenant_id=${tenantId}`, {
        token: adminToken,
        body: { name: "ssrf", target: { destination: "webhook", url } },
      });
      expect(response.status, url).toBe(422);
      expect(response.body.errors[0].path).toBe("target.url");
    }
    for (const address of [
      "169.254.169.254",
      "::ffff:10.1.2.3",
      "fd00:ec2::254",
      "192.168.1.1",
      "100.64.0.1",
    ])
      expect(isForbiddenAddress(address), address).toBe(true);
    for (const address of ["93.184.216.34", "2606:4700:4700::1111"])
      expect(isForbiddenAddress(address), address).toBe(false);
  });
});
