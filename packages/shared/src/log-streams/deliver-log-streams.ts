// The delivery loop, run by every worker replica. A stream is claimed with a lease (SKIP LOCKED,
// so replicas never deliver one stream at once), its events after the committed seq are read in
// seq order, the ones its filters match are sent as one batch, and only then is the cursor moved —
// so delivery is at least once and in order, and a crash anywhere resends from the cursor. Each
// stream is delivered on its own promise with a timeout: a slow destination holds only itself,
// never ingest (which never waits on this loop) or another destination.
import { hostname } from "node:os";
import type { S3Client } from "@aws-sdk/client-s3";
import type { Logger } from "pino";
import type { Database } from "../db/database.ts";
import type { StoredEvent } from "../events/event-schema.ts";
import type { Metrics } from "../metrics/metrics.ts";
import { readEventsAfter } from "../stream/read-events-after.ts";
import { s3Client } from "../tlog/checkpoint-anchors.ts";
import { DeliveryError, deliverBatch, eventsPerRequest } from "./destinations.ts";
import { LOG_STREAM_STATES, type LogStreamFilters, type LogStreamTarget } from "./log-stream-schema.ts";
import { type LogStreamRow, openSecrets } from "./manage-log-streams.ts";

/** The state gauge is refreshed every this many polls (a cross-tenant count is not free). */
const STATE_COUNT_EVERY_TICKS = 30;

export interface DelivererOptions {
  sealingSecret: string | undefined;
  allowPrivateTargets: boolean;
  batchSize: number;
  pollIntervalMs: number;
  /** A stream failing this long (no successful delivery) turns `dead` until its tenant re-enables it. */
  deadAfterSeconds: number;
  requestTimeoutMs: number;
  maxConcurrentStreams: number;
  /** Retry backoff bounds (full jitter between 0 and min(max, base × 2^attempts)). */
  backoffBaseMs: number;
  backoffMaxMs: number;
  awsRegion: string;
  /** S3-compatible endpoint (the fauxqs emulator in the embedded mode); AWS when unset. */
  s3Endpoint?: string;
}

export function matchesFilters(event: StoredEvent, filters: LogStreamFilters): boolean {
  if (filters.severity?.length && !filters.severity.includes(event.severity)) return false;
  if (filters.action?.length && !filters.action.includes(event.action)) return false;
  if (filters.resource_type?.length && !filters.resource_type.includes(event.resource_type)) return false;
  return true;
}

/** The target as the destination needs it: stored fields plus its opened credential. */
function targetOf(row: LogStreamRow, credential: string | null): LogStreamTarget {
  const target = { destination: row.destination, ...row.target } as Record<string, unknown>;
  if (row.destination === "splunk_hec") target.token = credential ?? "";
  if (row.destination === "datadog") target.api_key = credential ?? "";
  return target as LogStreamTarget;
}

export class LogStreamDeliverer {
  readonly #owner = `${hostname()}:${process.pid}:${Math.random().toString(36).slice(2, 8)}`;
  readonly #inFlight = new Map<string, Promise<void>>();
  readonly #s3Clients = new Map<string, S3Client>();
  #timer: NodeJS.Timeout | null = null;
  #stopped = false;
  #ticks = 0;

  constructor(
    private readonly db: Database,
    private readonly options: DelivererOptions,
    private readonly logger: Logger,
    private readonly metrics?: Metrics,
  ) {}

  start(): void {
    this.#schedule(0);
  }

  /** Stops claiming, and waits (bounded) for deliveries in flight; their leases lapse if cut short. */
  async stop(timeoutMs = 10_000): Promise<void> {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
    await Promise.race([
      Promise.allSettled(this.#inFlight.values()),
      new Promise((resolve) => setTimeout(resolve, timeoutMs).unref()),
    ]);
    for (const client of this.#s3Clients.values()) client.destroy();
  }

  #schedule(delayMs: number): void {
    if (this.#stopped) return;
    this.#timer = setTimeout(() => void this.#tick(), delayMs);
    this.#timer.unref();
  }

  async #tick(): Promise<void> {
    try {
      const free = this.options.maxConcurrentStreams - this.#inFlight.size;
      if (free > 0) {
        const claimed = await this.db.sql<{ id: string; tenant_id: string }[]>`
          select * from vigil_claim_log_streams(${this.#owner}, ${this.#leaseSeconds()}, ${free})`;
        for (const { id, tenant_id } of claimed) {
          // Already being delivered here (its lease lapsed while a step was slow): the claim only
          // extended that lease; a second delivery would send beside the first.
          if (this.#inFlight.has(id)) continue;
          const delivery = this.#deliverStream(id, tenant_id).finally(() => this.#inFlight.delete(id));
          this.#inFlight.set(id, delivery);
        }
      }
      if (++this.#ticks % STATE_COUNT_EVERY_TICKS === 1) await this.#countStates();
    } catch (error) {
      this.logger.warn({ err: { message: (error as Error).message } }, "log streams: claim failed; retrying");
    }
    this.#schedule(this.options.pollIntervalMs);
  }

  async #countStates(): Promise<void> {
    if (!this.metrics) return;
    const rows = await this.db.sql<
      { state: string; streams: number }[]
    >`select * from vigil_log_stream_states()`;
    for (const state of LOG_STREAM_STATES)
      this.metrics.logStreamStates.set(
        { state },
        Number(rows.find((row) => row.state === state)?.streams ?? 0),
      );
  }

  /**
   * Long enough for a read, a send and a commit at the request timeout; a crashed owner's lease
   * lapses after it. Each batch renews it, and sends only while a send and a commit still fit.
   */
  #leaseSeconds(): number {
    return Math.max(2, Math.ceil((this.options.requestTimeoutMs * 3) / 1000));
  }

  #s3(region: string | undefined): S3Client {
    const key = region ?? this.options.awsRegion;
    let client = this.#s3Clients.get(key);
    if (!client) {
      // One attempt: the loop retries with its own backoff.
      client = s3Client(key, this.options.s3Endpoint, { maxAttempts: 1 });
      this.#s3Clients.set(key, client);
    }
    return client;
  }

  async #deliverStream(id: string, tenantId: string): Promise<void> {
    const leaseMs = this.#leaseSeconds() * 1000;
    const timeoutMs = this.options.requestTimeoutMs;
    // Batches back to back while the stream is behind, for about one lease, then it is free again.
    const releaseAt = Date.now() + leaseMs - timeoutMs;
    try {
      for (;;) {
        // Renew the lease (only while this worker still owns it) and read the cursor in one step.
        const renewedAt = Date.now();
        const [row] = await this.db.withTenant(
          tenantId,
          (tx) => tx<LogStreamRow[]>`
            update log_streams set lease_until = now() + make_interval(secs => ${leaseMs / 1000})
            where id = ${id} and lease_owner = ${this.#owner}
            returning *`,
        );
        if (!row || (row.state !== "active" && row.state !== "failing")) return;
        const read = await readEventsAfter(
          this.db,
          { tenantId },
          { after: Number(row.committed_seq), limit: this.options.batchSize },
        );
        if (read.length === 0) return;
        // A read that took so long that a send and a commit may no longer end inside the lease:
        // another replica may own the stream by then, so send nothing and let the next claim retry.
        if (Date.now() > renewedAt + leaseMs - 2 * timeoutMs) return;
        const matching = read.filter((entry) => matchesFilters(entry.event, row.filters));
        const fits = eventsPerRequest(
          row.destination,
          matching.map((entry) => entry.event),
        );
        const events = matching.slice(0, fits).map((entry) => entry.event);
        // The cursor passes what was sent and the unmatched events before the next one to send.
        const lastSeq = fits < matching.length ? events.at(-1)!.seq : read.at(-1)!.event.seq;
        const secrets = openSecrets(row, this.options.sealingSecret);
        if (events.length > 0)
          await deliverBatch(
            targetOf(row, secrets.credential),
            { streamId: id, tenantId, events },
            {
              signingSecrets: secrets.signing,
              allowPrivateTargets: this.options.allowPrivateTargets,
              timeoutMs: this.options.requestTimeoutMs,
              s3: (region) => this.#s3(region),
            },
          );
        const moved = await this.db.withTenant(
          tenantId,
          (tx) => tx`
            update log_streams set
              committed_seq = greatest(committed_seq, ${lastSeq}),
              delivered_events = delivered_events + ${events.length},
              last_delivered_at = case when ${events.length} > 0 then now() else last_delivered_at end,
              -- A pause the tenant set while this batch was on its way stays.
              state = case when state = 'paused' then 'paused' else 'active' end,
              failing_since = null, attempts = 0, next_attempt_at = now(), updated_at = now()
            where id = ${id} and lease_owner = ${this.#owner}`,
        );
        this.metrics?.logStreamEvents.inc(
          { destination: row.destination, result: "delivered" },
          events.length,
        );
        if (
          moved.count === 0 ||
          (read.length < this.options.batchSize && fits === matching.length) ||
          Date.now() > releaseAt ||
          this.#stopped
        )
          return;
      }
    } catch (error) {
      await this.#recordFailure(id, tenantId, error).catch((recordError) =>
        this.logger.warn(
          { err: { message: (recordError as Error).message } },
          "log streams: could not record a failure",
        ),
      );
    } finally {
      await this.db
        .withTenant(
          tenantId,
          (tx) =>
            tx`update log_streams set lease_owner = null, lease_until = null where id = ${id} and lease_owner = ${this.#owner}`,
        )
        .catch(() => undefined); // the lease lapses by itself
    }
  }

  async #recordFailure(id: string, tenantId: string, error: unknown): Promise<void> {
    const message = (
      error instanceof DeliveryError ? error.message : `${(error as Error)?.message ?? error}`
    ).slice(0, 300);
    const [row] = await this.db.withTenant(
      tenantId,
      (tx) =>
        tx<
          { attempts: number; destination: string }[]
        >`select attempts, destination from log_streams where id = ${id}`,
    );
    const attempts = (row?.attempts ?? 0) + 1;
    const ceiling = Math.min(
      this.options.backoffMaxMs,
      this.options.backoffBaseMs * 2 ** Math.min(attempts, 20),
    );
    const retryAfterMs =
      error instanceof DeliveryError && error.retryAfterSeconds !== undefined
        ? error.retryAfterSeconds * 1000
        : 0;
    const delayMs = Math.max(retryAfterMs, Math.random() * ceiling);
    const [updated] = await this.db.withTenant(
      tenantId,
      (tx) => tx<{ state: string }[]>`
        update log_streams set
          attempts = ${attempts},
          last_error = ${message}, last_error_at = now(),
          failing_since = coalesce(failing_since, now()),
          state = case when state = 'paused' then 'paused'
                       when coalesce(failing_since, now()) < now() - make_interval(secs => ${this.options.deadAfterSeconds})
                       then 'dead' else 'failing' end,
          next_attempt_at = now() + make_interval(secs => ${delayMs / 1000}),
          updated_at = now()
        where id = ${id} and lease_owner = ${this.#owner}
        returning state`,
    );
    this.metrics?.logStreamEvents.inc({ destination: row?.destination ?? "unknown", result: "failed_batch" });
    this.logger.warn(
      { log_stream: id, tenant_id: tenantId, attempts, state: updated?.state, error: message },
      "log stream delivery failed",
    );
  }
}
