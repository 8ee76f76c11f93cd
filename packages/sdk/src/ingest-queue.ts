// The bounded send queue behind `log()`: events wait as pre-serialized JSON, go out in batches to
// POST /api/v1/logs/bulk (by count, bytes or interval) over at most `maxConcurrentRequests`
// requests, and are retried with the same bytes — so the same ids — until the server answers.
//
// Memory bound: every event accepted and not yet settled (waiting, in flight or backing off) counts
// against `maxQueueEvents` and `maxQueueBytes`. Overflow policy: drop NEWEST — a `log()` that would
// pass a bound is refused (`accepted: false, reason: "queue_full"`), so what is already queued keeps
// its order and its place, and the caller learns about the drop at the call.
import { apiErrorFrom, type VigilApiError, VigilConnectionError } from "./errors.ts";

export interface QueuedEvent {
  id: string;
  json: string;
  bytes: number;
  /** Position in acceptance order; flush() waits for every ordinal below its mark. */
  ordinal: number;
}

export type DropReason = "queue_full" | "invalid" | "shutdown" | "rejected" | "failed";

export interface DropInfo {
  reason: DropReason;
  /** Ids of the events concerned. */
  ids: string[];
  /** For `invalid` and `rejected`: why, e.g. `resource_id must not be empty`. */
  message?: string;
  /** For `rejected` and `failed`: the server's answer or the last transport error. */
  error?: VigilApiError | VigilConnectionError;
}

export interface RetryOptions {
  /** Attempts per batch before its events count as failed (default 12). */
  maxAttempts: number;
  /** Full-jitter backoff: a random delay in [0, min(maxDelayMs, baseDelayMs · 2^attempt)]. */
  baseDelayMs: number;
  maxDelayMs: number;
}

export interface IngestQueueOptions {
  url: string;
  headers: () => Record<string, string> | Promise<Record<string, string>>;
  fetch: typeof fetch;
  batchSize: number;
  maxBatchBytes: number;
  flushIntervalMs: number;
  maxQueueEvents: number;
  maxQueueBytes: number;
  maxConcurrentRequests: number;
  requestTimeoutMs: number;
  retry: RetryOptions;
  onDrop: (info: DropInfo) => void;
  waitUntil?: (promise: Promise<unknown>) => void;
}

export interface IngestCounters {
  /** Events taken by log(). */
  accepted: number;
  /** Acknowledged by the server (2xx). */
  sent: number;
  /** Refused by log(): queue full, invalid, or after shutdown. */
  dropped: number;
  /** Refused by the server for good (422 items, other 4xx, attempts exhausted). */
  failed: number;
  /** Accepted and not yet settled. */
  pending: number;
  pendingBytes: number;
  /** Requests repeated after a network error, 408, 429 or 5xx. */
  retries: number;
  requests: number;
  inFlightRequests: number;
}

export interface FlushResult {
  sent: number;
  dropped: number;
  pending: number;
  failed: number;
}

type Outcome = { kind: "sent" } | { kind: "failed"; error: VigilApiError | VigilConnectionError };

/** The longest delay a timer takes (2^31 − 1 ms, ~24.8 days); a longer one would fire at once. */
const MAX_TIMER_MS = 2_147_483_647;

const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    if (signal.aborted) return resolve();
    // A hostile Retry-After of years must mean "wait", not a 1 ms timer and a retry storm.
    const timer = setTimeout(done, Math.min(ms, MAX_TIMER_MS));
    (timer as { unref?: () => void }).unref?.();
    function done() {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    }
    signal.addEventListener("abort", done, { once: true });
  });

export class IngestQueue {
  private readonly waiting: QueuedEvent[] = [];
  private waitingHead = 0;
  private waitingBytes = 0;
  private readonly inFlight = new Set<QueuedEvent[]>();
  private heldBytes = 0;
  private nextOrdinal = 0;
  private flushMark = 0;
  private timer: ReturnType<typeof setTimeout> | undefined;
  /** A pump is already queued as a microtask (log() calls it for every event past a full batch). */
  private pumpQueued = false;
  private settleWaiters: Array<() => void> = [];
  private readonly stopSending = new AbortController();
  /** `stopSending.signal.aborted`, as a plain field: enqueue() and schedulePump() read it per event. */
  private stopped = false;
  private drainPromise: Promise<void> | undefined;
  readonly counters: IngestCounters = {
    accepted: 0,
    sent: 0,
    dropped: 0,
    failed: 0,
    pending: 0,
    pendingBytes: 0,
    retries: 0,
    requests: 0,
    inFlightRequests: 0,
  };

  constructor(private readonly options: IngestQueueOptions) {}

  /**
   * Synchronous: either the event is queued (undefined) or the drop is reported and its reason
   * returned; never throws for a full queue.
   */
  enqueue(id: string, json: string, bytes: number): DropReason | undefined {
    const { counters, options } = this;
    if (this.stopped) return this.drop("shutdown", id).reason;
    if (counters.pending + 1 > options.maxQueueEvents || this.heldBytes + bytes > options.maxQueueBytes)
      return this.drop("queue_full", id).reason;
    this.waiting.push({ id, json, bytes, ordinal: this.nextOrdinal++ });
    this.waitingBytes += bytes;
    this.heldBytes += bytes;
    counters.accepted++;
    counters.pending++;
    counters.pendingBytes = this.heldBytes;
    if (this.waitingCount() >= options.batchSize || this.waitingBytes >= options.maxBatchBytes) {
      this.schedulePump(0);
    } else this.schedulePump(options.flushIntervalMs);
    if (options.waitUntil && !this.drainPromise) {
      this.drainPromise = Promise.resolve()
        .then(() => this.flush())
        .then(
          () => undefined,
          () => undefined,
        )
        .finally(() => {
          this.drainPromise = undefined;
        });
      options.waitUntil(this.drainPromise);
    }
    return undefined;
  }

  drop(reason: DropReason, id: string, message?: string): { accepted: false; reason: DropReason } {
    this.counters.dropped++;
    this.report({ reason, ids: [id], message });
    return { accepted: false, reason };
  }

  /** Resolves once every event accepted before the call is settled (sent or failed). */
  async flush(): Promise<FlushResult> {
    const mark = this.nextOrdinal;
    this.flushMark = Math.max(this.flushMark, mark);
    this.schedulePump(0);
    while (this.lowestUnsettledOrdinal() < mark && !this.stopSending.signal.aborted) {
      await new Promise<void>((resolve) => this.settleWaiters.push(resolve));
    }
    return this.result();
  }

  /** Stops taking events, sends what it can within `timeoutMs`, then abandons the rest (reported as pending). */
  async shutdown(timeoutMs: number): Promise<FlushResult> {
    const flushed = this.flush();
    let deadline: ReturnType<typeof setTimeout> | undefined;
    const timedOut = new Promise<void>((resolve) => {
      deadline = setTimeout(resolve, timeoutMs);
    });
    await Promise.race([flushed, timedOut]);
    clearTimeout(deadline);
    this.stopped = true;
    this.stopSending.abort();
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.wakeSettleWaiters();
    return this.result();
  }

  private result(): FlushResult {
    const { sent, dropped, pending, failed } = this.counters;
    return { sent, dropped, pending, failed };
  }

  private waitingCount(): number {
    return this.waiting.length - this.waitingHead;
  }

  private lowestUnsettledOrdinal(): number {
    let lowest = this.waitingCount() > 0 ? this.waiting[this.waitingHead]!.ordinal : this.nextOrdinal;
    for (const batch of this.inFlight) lowest = Math.min(lowest, batch[0]?.ordinal ?? lowest);
    return lowest;
  }

  private schedulePump(delayMs: number): void {
    if (this.stopped) return;
    if (delayMs === 0) {
      if (this.pumpQueued) return;
      this.pumpQueued = true;
      if (this.timer) clearTimeout(this.timer);
      this.timer = undefined;
      queueMicrotask(() => {
        this.pumpQueued = false;
        this.pump(false);
      });
      return;
    }
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.pump(true);
    }, delayMs);
    (this.timer as { unref?: () => void }).unref?.();
  }

  /** Starts batches while a request slot is free and a batch is due (full, timer, or flush). */
  private pump(intervalElapsed: boolean): void {
    const { options, counters } = this;
    while (counters.inFlightRequests < options.maxConcurrentRequests && this.waitingCount() > 0) {
      const due =
        intervalElapsed ||
        this.waitingCount() >= options.batchSize ||
        this.waitingBytes >= options.maxBatchBytes ||
        this.waiting[this.waitingHead]!.ordinal < this.flushMark;
      if (!due) break;
      const batch = this.takeBatch();
      counters.inFlightRequests++;
      this.inFlight.add(batch);
      void this.sendBatch(batch).finally(() => {
        counters.inFlightRequests--;
        this.inFlight.delete(batch);
        this.wakeSettleWaiters();
        this.pump(false);
      });
    }
    if (this.waitingCount() > 0) this.schedulePump(options.flushIntervalMs);
  }

  private takeBatch(): QueuedEvent[] {
    const batch: QueuedEvent[] = [];
    let bytes = 0;
    while (this.waitingCount() > 0 && batch.length < this.options.batchSize) {
      const next = this.waiting[this.waitingHead]!;
      if (batch.length > 0 && bytes + next.bytes + 1 > this.options.maxBatchBytes) break;
      batch.push(next);
      bytes += next.bytes + 1;
      this.waitingHead++;
      this.waitingBytes -= next.bytes;
    }
    if (this.waitingHead > 1024 && this.waitingHead * 2 > this.waiting.length) {
      this.waiting.splice(0, this.waitingHead);
      this.waitingHead = 0;
    }
    return batch;
  }

  /** Sends one batch to the end: retried, split on 413, pruned on 422. Never throws. */
  private async sendBatch(batch: QueuedEvent[]): Promise<void> {
    const outcome = await this.sendWithRetries(batch);
    if (outcome === "split") {
      const middle = Math.ceil(batch.length / 2);
      await this.sendBatch(batch.slice(0, middle));
      await this.sendBatch(batch.slice(middle));
    } else if (outcome === "abandoned") {
      // Shutdown deadline passed: the events stay counted as pending.
    } else if (Array.isArray(outcome)) {
      if (outcome.length > 0) await this.sendBatch(outcome);
    } else if (outcome.kind === "sent") this.settle(batch, "sent");
    else {
      this.settle(batch, "failed");
      this.report({ reason: "failed", ids: batch.map((event) => event.id), error: outcome.error });
    }
  }

  /**
   * One batch until a final answer: an Outcome, "split" (413 with more than one event), the events
   * still to send after a 422 rejected some, or "abandoned" at the shutdown deadline.
   */
  private async sendWithRetries(
    batch: QueuedEvent[],
  ): Promise<Outcome | "split" | "abandoned" | QueuedEvent[]> {
    const { options, counters } = this;
    const body = `[${batch.map((event) => event.json).join(",")}]`;
    let lastError: VigilApiError | VigilConnectionError | undefined;
    for (let attempt = 0; attempt < options.retry.maxAttempts; attempt++) {
      if (this.stopSending.signal.aborted) return "abandoned";
      if (attempt > 0) counters.retries++;
      counters.requests++;
      let retryAfterMs: number | undefined;
      const timeout = new AbortController();
      const abort = () => timeout.abort();
      const timer = setTimeout(abort, options.requestTimeoutMs);
      this.stopSending.signal.addEventListener("abort", abort, { once: true });
      try {
        const response = await options.fetch(options.url, {
          method: "POST",
          headers: { ...(await options.headers()), "Content-Type": "application/json" },
          body,
          signal: timeout.signal,
        });
        if (response.ok) {
          await response.body?.cancel().catch(() => {});
          return { kind: "sent" };
        }
        const error = await apiErrorFrom(response);
        lastError = error;
        if (response.status === 413 && batch.length > 1) return "split";
        if (response.status === 422) return this.pruneRejected(batch, error);
        const retryable = response.status === 408 || response.status === 429 || response.status >= 500;
        if (!retryable) return { kind: "failed", error };
        retryAfterMs = error.retryAfterMs;
      } catch (cause) {
        if (this.stopSending.signal.aborted) return "abandoned";
        lastError = new VigilConnectionError(
          timeout.signal.aborted ? `request timed out after ${options.requestTimeoutMs} ms` : "network error",
          { cause },
        );
      } finally {
        clearTimeout(timer);
        this.stopSending.signal.removeEventListener("abort", abort);
      }
      if (attempt + 1 >= options.retry.maxAttempts) break;
      const ceiling = Math.min(options.retry.maxDelayMs, options.retry.baseDelayMs * 2 ** attempt);
      const jitter = Math.random() * ceiling;
      await sleep(Math.max(jitter, retryAfterMs ?? 0), this.stopSending.signal);
    }
    return { kind: "failed", error: lastError ?? new VigilConnectionError("not sent") };
  }

  /** A 422 names the bad items by index: those fail, the rest go again (nothing was enqueued). */
  private pruneRejected(batch: QueuedEvent[], error: VigilApiError): Outcome | QueuedEvent[] {
    const indexed = (error.problem.errors ?? []).filter(
      (item) => Number.isInteger(item.index) && item.index! >= 0 && item.index! < batch.length,
    );
    if (indexed.length === 0) return { kind: "failed", error };
    const rejected = new Map<number, string>();
    for (const item of indexed)
      if (!rejected.has(item.index!)) rejected.set(item.index!, `${item.path} ${item.message}`);
    const bad = batch.filter((_, index) => rejected.has(index));
    const rest = batch.filter((_, index) => !rejected.has(index));
    this.settle(bad, "failed");
    for (const [index, message] of rejected) {
      this.report({ reason: "rejected", ids: [batch[index]!.id], message, error });
    }
    return rest;
  }

  private settle(batch: QueuedEvent[], as: "sent" | "failed"): void {
    const { counters } = this;
    let bytes = 0;
    for (const event of batch) bytes += event.bytes;
    this.heldBytes -= bytes;
    counters.pending -= batch.length;
    counters.pendingBytes = this.heldBytes;
    if (as === "sent") counters.sent += batch.length;
    else counters.failed += batch.length;
  }

  private wakeSettleWaiters(): void {
    const waiters = this.settleWaiters;
    this.settleWaiters = [];
    for (const wake of waiters) wake();
  }

  private report(info: DropInfo): void {
    try {
      this.options.onDrop(info);
    } catch {}
  }
}
