// Prometheus metrics shared by every service; each process exposes its registry at /metrics.
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";

export function createMetrics(service: string) {
  const registry = new Registry();
  registry.setDefaultLabels({ service });
  collectDefaultMetrics({ register: registry });
  return {
    registry,
    httpRequests: new Counter({
      name: "vigil_http_requests_total",
      help: "HTTP requests",
      labelNames: ["route", "method", "status"],
      registers: [registry],
    }),
    httpDuration: new Histogram({
      name: "vigil_http_request_duration_seconds",
      help: "HTTP request latency",
      labelNames: ["route", "method"],
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10],
      registers: [registry],
    }),
    eventsAccepted: new Counter({
      name: "vigil_events_accepted_total",
      help: "Events accepted onto the queue",
      registers: [registry],
    }),
    eventsStored: new Counter({
      name: "vigil_events_stored_total",
      help: "Events committed to PostgreSQL",
      registers: [registry],
    }),
    eventsDuplicate: new Counter({
      name: "vigil_events_duplicate_total",
      help: "Redelivered or retried events skipped",
      registers: [registry],
    }),
    batchSize: new Histogram({
      name: "vigil_worker_batch_events",
      help: "Events per stored batch",
      buckets: [1, 10, 100, 500, 1000, 2500, 5000, 10000],
      registers: [registry],
    }),
    batchFailures: new Counter({
      name: "vigil_worker_batch_failures_total",
      help: "Batches that failed and were left on the queue",
      registers: [registry],
    }),
    ingestLag: new Histogram({
      name: "vigil_ingest_lag_seconds",
      help: "received_at to commit",
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 60],
      registers: [registry],
    }),
    searchIndexed: new Counter({
      name: "vigil_search_index_documents_total",
      help: "Events written to the OpenSearch index",
      registers: [registry],
    }),
    searchIndexFailures: new Counter({
      name: "vigil_search_index_failures_total",
      help: "Events not written to the OpenSearch index (reconcile with `vigil opensearch reindex`)",
      labelNames: ["reason"],
      registers: [registry],
    }),
    queueDepth: new Gauge({
      name: "vigil_queue_depth",
      help: "Approximate visible messages",
      labelNames: ["queue"],
      registers: [registry],
    }),
    queueAge: new Gauge({
      name: "vigil_queue_oldest_age_seconds",
      help: "Age of the oldest message last received",
      registers: [registry],
    }),
    streamConnections: new Gauge({
      name: "vigil_stream_connections",
      help: "Open WebSocket connections",
      registers: [registry],
    }),
    streamEventsSent: new Counter({
      name: "vigil_stream_events_sent_total",
      help: "Events sent to subscribers",
      registers: [registry],
    }),
    streamDrops: new Counter({
      name: "vigil_stream_slow_consumer_closes_total",
      help: "Subscribers closed for not keeping up",
      registers: [registry],
    }),
    streamLag: new Histogram({
      name: "vigil_stream_lag_seconds",
      help: "stored_at to send",
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [registry],
    }),
    logStreamEvents: new Counter({
      name: "vigil_log_stream_events_total",
      help: "Log-stream deliveries: events delivered, and batches that failed (to be retried)",
      labelNames: ["destination", "result"],
      registers: [registry],
    }),
    logStreamStates: new Gauge({
      name: "vigil_log_streams",
      help: "Log streams by state (active, paused, failing, dead), as last counted by this worker",
      labelNames: ["state"],
      registers: [registry],
    }),
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
