// Issue 15's log-stream proof at full size, against real processes: 20,000 events ingested through
// the api, two worker replicas delivering two webhook streams. The chaos receiver fails 30 % of
// requests and is down for 20 s mid-run; its signing secret is rotated with an overlap; the worker
// holding one of its requests is SIGKILLed mid-delivery. Both receivers end with every event in seq
// order, each at least once; duplicates exist only for batches in flight across a crash window and
// carry the same event `id`; every request's signature verifies; one stream is never delivered by
// two workers at once (the lease holds).
import { readdir, readFile, readlink } from "node:fs/promises";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { Socket } from "node:net";
import { verifyWebhookSignature } from "@vigil/shared/log-streams/destinations";
import {
  createTestPipeline,
  eventually,
  type RunningService,
  requestJson,
  type TestPipeline,
} from "@vigil/testkit";
import { afterAll, beforeAll, expect, test } from "vitest";
import { adminToken as loginAdmin } from "../../api/test/auth-fixtures.ts";

const TOTAL = 20_000;
const OUTAGE_MS = 20_000;
const REQUEST_TIMEOUT_MS = 2000;
/** Shorter than the lease a killed worker leaves (3 × the request timeout). */
const OVERLAP_SECONDS = 3;
const WORKER_ENV = {
  LOG_STREAM_POLL_INTERVAL_MS: "100",
  LOG_STREAM_BACKOFF_BASE_MS: "20",
  LOG_STREAM_BACKOFF_MAX_MS: "300",
  LOG_STREAM_BATCH_SIZE: "250",
  LOG_STREAM_REQUEST_TIMEOUT_MS: String(REQUEST_TIMEOUT_MS),
};

interface Delivery {
  /** Arrival order across the run, and arrival time (ms). */
  order: number;
  at: number;
  status: number | "held";
  signature: string;
  body: string;
  /** The worker process that sent it (found from the connection's socket in /proc). */
  pid: number | undefined;
  fromSeq: number;
  toSeq: number;
  events: Array<{ seq: number; id: string; hash: string }>;
}

/** The worker pid owning the client end of a loopback connection (Linux /proc; undefined elsewhere). */
async function connectionOwner(socket: Socket, pids: number[]): Promise<number | undefined> {
  const hex = (port: number) => port.toString(16).toUpperCase().padStart(4, "0");
  const local = `0100007F:${hex(socket.remotePort ?? 0)}`;
  const remote = `0100007F:${hex(socket.localPort ?? 0)}`;
  const table = await readFile("/proc/net/tcp", "utf8").catch(() => "");
  const inode = table
    .split("\n")
    .map((line) => line.trim().split(/\s+/))
    .find((fields) => fields[1] === local && fields[2] === remote)?.[9];
  if (!inode) return undefined;
  for (const pid of pids) {
    const fds = await readdir(`/proc/${pid}/fd`).catch(() => [] as string[]);
    for (const fd of fds)
      if ((await readlink(`/proc/${pid}/fd/${fd}`).catch(() => "")) === `socket:[${inode}]`) return pid;
  }
  return undefined;
}

let arrivals = 0;

/**
 * A webhook receiver on 127.0.0.1 that records every request (with its sender) and answers as
 * `decide` says; it can be taken down (port closed, connections cut) and brought back on its port.
 */
class Receiver {
  readonly deliveries: Delivery[] = [];
  inFlight = 0;
  maxInFlight = 0;
  #server: Server | null = null;
  #port = 0;
  #owners = new WeakMap<Socket, Promise<number | undefined>>();

  constructor(
    private readonly decide: (delivery: Delivery, res: ServerResponse) => number | "held",
    private readonly pids: () => number[],
  ) {}

  get url(): string {
    return `http://127.0.0.1:${this.#port}/hook`;
  }

  async up(): Promise<void> {
    const server = createServer((req, res) => void this.#handle(req, res));
    server.on("connection", (socket) => this.#owners.set(socket, connectionOwner(socket, this.pids())));
    await new Promise<void>((resolve) => server.listen(this.#port, "127.0.0.1", resolve));
    this.#port = (server.address() as { port: number }).port;
    this.#server = server;
  }

  /** The port refuses connections until `up()`; open connections are cut. */
  async down(): Promise<void> {
    const server = this.#server;
    this.#server = null;
    if (!server) return;
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    // Fires once: when the answer is sent, or when the connection dies with it unanswered.
    res.once("close", () => this.inFlight--);
    const chunks: Buffer[] = [];
    try {
      for await (const chunk of req) chunks.push(chunk as Buffer);
    } catch {
      return; // cut by down(): the sender saw a failed request
    }
    const body = Buffer.concat(chunks).toString();
    const parsed = JSON.parse(body) as { from_seq: number; to_seq: number; events: Delivery["events"] };
    const delivery: Delivery = {
      order: arrivals++,
      at: Date.now(),
      status: 0,
      signature: String(req.headers["vigil-signature"]),
      body,
      pid: await this.#owners.get(req.socket),
      fromSeq: parsed.from_seq,
      toSeq: parsed.to_seq,
      events: parsed.events.map(({ seq, id, hash }) => ({ seq, id, hash })),
    };
    delivery.status = this.decide(delivery, res);
    this.deliveries.push(delivery);
    if (delivery.status === "held") return;
    res.writeHead(delivery.status).end();
  }

  /** Requests the receiver took (2xx, or held while its sender died: the receiver has the events). */
  accepted(): Delivery[] {
    return this.deliveries.filter((delivery) => delivery.status === 200 || delivery.status === "held");
  }

  uniqueSeqs(): number {
    return new Set(this.accepted().flatMap((delivery) => delivery.events.map((event) => event.seq))).size;
  }

  async close(): Promise<void> {
    await this.down();
  }
}

let pipeline: TestPipeline;
let api: RunningService;
let adminToken: string;
const workers: RunningService[] = [];
const killedPids: number[] = [];

beforeAll(async () => {
  pipeline = await createTestPipeline();
  api = await pipeline.start("api");
  adminToken = await loginAdmin(api.url);
});
afterAll(async () => {
  await pipeline?.close();
});

/**
 * Checks one receiver's deliveries: each request a contiguous ascending run; runs arrive in order
 * (a run starts at most one past the highest seq taken so far, and below it only when it resends
 * a run whose sender died before committing); every seq 1..TOTAL taken; every duplicate the same
 * event (id and hash) and inside a crash window. Returns the duplicated seqs.
 */
function checkOrderAndDuplicates(receiver: Receiver, crashWindowSeqs: Set<number>): number[] {
  const firstSeen = new Map<number, { id: string; hash: string }>();
  const duplicates: number[] = [];
  let highest = 0;
  for (const delivery of receiver.accepted()) {
    const seqs = delivery.events.map((event) => event.seq);
    expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, n) => delivery.fromSeq + n));
    expect(delivery.toSeq).toBe(seqs.at(-1));
    expect(
      delivery.fromSeq,
      `run ${delivery.fromSeq}..${delivery.toSeq} after ${highest}`,
    ).toBeLessThanOrEqual(highest + 1);
    for (const event of delivery.events) {
      const first = firstSeen.get(event.seq);
      if (first) {
        expect(event).toMatchObject(first);
        duplicates.push(event.seq);
      } else firstSeen.set(event.seq, { id: event.id, hash: event.hash });
    }
    highest = Math.max(highest, delivery.toSeq);
  }
  expect(firstSeen.size).toBe(TOTAL);
  expect(Math.min(...firstSeen.keys())).toBe(1);
  expect(Math.max(...firstSeen.keys())).toBe(TOTAL);
  for (const seq of duplicates) expect(crashWindowSeqs.has(seq), `duplicate seq ${seq}`).toBe(true);
  return duplicates;
}

/** The seqs of the last run each killed worker handed to this receiver (it may have died before committing). */
function lastRunsOfKilled(receiver: Receiver): number[] {
  return killedPids.flatMap((pid) => {
    const last = receiver
      .accepted()
      .filter((delivery) => delivery.pid === pid)
      .at(-1);
    return last ? last.events.map((event) => event.seq) : [];
  });
}

test("20,000 events to a webhook that fails 30 %, is down 20 s, rotates its secret and loses a worker mid-delivery, with two replicas", async () => {
  const started = Date.now();
  const pids = () => workers.map((worker) => worker.pid);
  let mode: "flaky" | "hold-next" = "flaky";
  let holdAfter = Number.POSITIVE_INFINITY;
  let held: { delivery: Delivery; res: ServerResponse } | null = null;
  const chaos = new Receiver((delivery, res) => {
    // The request held is one signed during the overlap (two v1 signatures).
    const signedByBoth = delivery.signature.split(",v1=").length === 3;
    if (mode === "hold-next" && delivery.at >= holdAfter && signedByBoth && !held) {
      held = { delivery, res };
      return "held";
    }
    return Math.random() < 0.3 ? 500 : 200;
  }, pids);
  const steady = new Receiver(() => 200, pids);
  await chaos.up();
  await steady.up();
  const { tenant, key } = await pipeline.createTenantWithKey(["ingest", "read"]);
  const streamUrl = (id: string) => `${api.url}/api/v1/log-streams/${id}?tenant_id=${tenant.id}`;
  try {
    const chaosStream = await requestJson(`${api.url}/api/v1/log-streams?tenant_id=${tenant.id}`, {
      token: adminToken,
      body: { name: "chaos", target: { destination: "webhook", url: chaos.url } },
    });
    const steadyStream = await requestJson(`${api.url}/api/v1/log-streams?tenant_id=${tenant.id}`, {
      token: adminToken,
      body: { name: "steady", target: { destination: "webhook", url: steady.url } },
    });
    expect(chaosStream.status).toBe(201);
    expect(steadyStream.status).toBe(201);
    const oldSecret: string = chaosStream.body.signing_secret;
    const steadySecret: string = steadyStream.body.signing_secret;

    workers.push(await pipeline.start("worker", WORKER_ENV), await pipeline.start("worker", WORKER_ENV));

    // Ingest runs beside everything that follows; the api never waits on a destination.
    const ingestStarted = Date.now();
    const ingestion = (async () => {
      for (let start = 0; start < TOTAL; start += 1000) {
        const response = await requestJson(`${api.url}/api/v1/logs/bulk`, {
          key,
          body: Array.from({ length: 1000 }, (_, n) => ({
            action_type: "UPDATE",
            resource_type: "invoice",
            resource_id: `inv-${start + n}`,
            user_id: "alice",
            metadata: { n: start + n },
          })),
        });
        expect(response.status).toBe(202);
      }
      return Date.now() - ingestStarted;
    })();

    // Mid-run outage: the port refuses connections for 20 s.
    await eventually(async () => chaos.uniqueSeqs() >= 3000, 60_000, 20);
    const lastBeforeOutage = chaos.accepted().at(-1)!;
    await chaos.down();
    const outageStarted = Date.now();
    const deliveredBeforeOutage = chaos.uniqueSeqs();
    // Meanwhile the api shows the stream failing with its last error, and the other stream unaffected.
    const failing = await eventually(async () => {
      const read = await requestJson(streamUrl(chaosStream.body.id), { token: adminToken });
      return read.body.state === "failing" && /ECONNREFUSED/.test(read.body.last_error) && read.body;
    }, OUTAGE_MS / 2);
    // (The last run before the outage may have been cut before its sender heard the answer.)
    expect(failing.committed_seq).toBeGreaterThanOrEqual(
      deliveredBeforeOutage - lastBeforeOutage.events.length,
    );
    await new Promise((resolve) => setTimeout(resolve, outageStarted + OUTAGE_MS - Date.now()));
    await chaos.up();
    const outage = { from: outageStarted, to: Date.now() };
    expect(chaos.deliveries.filter((d) => d.at > outage.from && d.at < outage.to)).toEqual([]);

    // Rotate the signing secret with an overlap, hold a request signed by both, SIGKILL its sender.
    const rotation = await requestJson(streamUrl(chaosStream.body.id), {
      method: "PATCH",
      token: adminToken,
      body: { rotate_secret: true, overlap_seconds: OVERLAP_SECONDS },
    });
    expect(rotation.status).toBe(200);
    const rotatedAt = Date.now();
    const newSecret: string = rotation.body.signing_secret;
    expect(newSecret).not.toBe(oldSecret);
    holdAfter = rotatedAt;
    mode = "hold-next";
    const hold = await eventually(async () => held, 30_000, 10);
    const victim = workers.find((worker) => worker.pid === hold.delivery.pid);
    expect(victim, "the held request's sender is one of the workers").toBeDefined();
    await victim!.kill();
    killedPids.push(victim!.pid);
    workers.splice(workers.indexOf(victim!), 1);
    const [cursorAtKill] = await pipeline.database.admin<{ committed_seq: string }[]>`
      select committed_seq from log_streams where id = ${chaosStream.body.id}`;
    // The held batch was never acknowledged, so the cursor is just below it.
    expect(Number(cursorAtKill!.committed_seq)).toBe(hold.delivery.fromSeq - 1);
    mode = "flaky";
    hold.res.destroy();
    workers.push(await pipeline.start("worker", WORKER_ENV));

    const ingestMs = await ingestion;
    await eventually(async () => chaos.uniqueSeqs() === TOTAL && steady.uniqueSeqs() === TOTAL, 60_000, 100);
    const finishedAt = Date.now();

    // Resumed from the committed cursor: the first run after the kill starts where the held one did.
    const resumed = chaos.accepted().find((delivery) => delivery.order > hold.delivery.order)!;
    expect(resumed.fromSeq).toBe(hold.delivery.fromSeq);
    expect(resumed.pid).not.toBe(victim!.pid);

    // Order, completeness and duplicates only across crash windows, identified by id.
    const chaosWindows = new Set([
      ...lastBeforeOutage.events.map((event) => event.seq),
      ...lastRunsOfKilled(chaos),
    ]);
    const chaosDuplicates = checkOrderAndDuplicates(chaos, chaosWindows);
    for (const event of hold.delivery.events) expect(chaosDuplicates).toContain(event.seq);
    const steadyDuplicates = checkOrderAndDuplicates(steady, new Set(lastRunsOfKilled(steady)));

    // One stream, one sender at a time; both replicas delivered.
    expect(chaos.maxInFlight).toBe(1);
    expect(steady.maxInFlight).toBe(1);
    const senders = new Set(
      [...chaos.deliveries, ...steady.deliveries].map((delivery) => delivery.pid).filter(Boolean),
    );
    expect(senders.size).toBeGreaterThanOrEqual(2);

    // Every request's signature verifies: the old secret before the rotation, both during the
    // overlap, only the new one once the overlap (plus one request timeout) is over.
    const nowSeconds = Math.floor(Date.now() / 1000);
    const verifies = (delivery: Delivery, secret: string) =>
      verifyWebhookSignature(delivery.signature, delivery.body, secret, nowSeconds, 600);
    let bothSigned = 0;
    for (const delivery of chaos.deliveries) {
      const byOld = verifies(delivery, oldSecret);
      const byNew = verifies(delivery, newSecret);
      expect(byOld || byNew, delivery.signature).toBe(true);
      expect(verifies(delivery, steadySecret)).toBe(false);
      if (delivery.at < rotatedAt - REQUEST_TIMEOUT_MS) expect(byOld && !byNew).toBe(true);
      if (delivery.at > rotatedAt + OVERLAP_SECONDS * 1000 + REQUEST_TIMEOUT_MS)
        expect(!byOld && byNew).toBe(true);
      if (byOld && byNew) bothSigned++;
    }
    expect(bothSigned).toBeGreaterThan(0);
    for (const delivery of steady.deliveries) expect(verifies(delivery, steadySecret)).toBe(true);

    for (const id of [chaosStream.body.id, steadyStream.body.id]) {
      const stream = await eventually(async () => {
        const read = await requestJson(streamUrl(id), { token: adminToken });
        return read.body.committed_seq === TOTAL && read.body;
      });
      expect(stream.state).toBe("active");
    }
    const metrics = await (await fetch(`${workers[0]!.url}/metrics`)).text();
    expect(metrics).toMatch(
      /vigil_log_stream_events_total\{destination="webhook",result="delivered"[^}]*\} [1-9]/,
    );

    const failed = chaos.deliveries.filter((delivery) => delivery.status === 500).length;
    console.info(
      `log-stream chaos: ${TOTAL} events, ingest ${ingestMs} ms; chaos receiver ${chaos.deliveries.length} requests ` +
        `(${failed} answered 500, ${chaos.accepted().length} taken), ${deliveredBeforeOutage} events before the ` +
        `${OUTAGE_MS / 1000} s outage, ${chaosDuplicates.length} duplicates (crash windows), ${bothSigned} requests ` +
        `signed by both secrets; steady receiver ${steady.deliveries.length} requests, ${steadyDuplicates.length} ` +
        `duplicates; all delivered ${((finishedAt - started) / 1000).toFixed(1)} s after start ` +
        `(${Math.round(TOTAL / ((finishedAt - outage.to) / 1000))} events/s after the outage, lease lapse included)`,
    );
  } finally {
    await chaos.close();
    await steady.close();
  }
}, 150_000);
