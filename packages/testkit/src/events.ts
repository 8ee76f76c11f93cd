import { randomUUID } from "node:crypto";
import type { NormalizedEvent } from "@vigil/shared/events/event-schema";
// Deterministic sample events for tests and benchmarks (~650 bytes each, like a typical audit event).
export function sampleEvent(index: number, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  const actions = ["CREATE", "UPDATE", "DELETE", "VIEW"] as const;
  const severities = ["INFO", "INFO", "INFO", "WARNING", "ERROR", "CRITICAL"] as const;
  return {
    action_type: actions[index % 4],
    resource_type: ["invoice", "user", "project", "document"][index % 4],
    resource_id: `res-${index % 997}`,
    user_id: `user-${index % 53}`,
    session_id: `sess-${index % 211}`,
    ip_address: `10.${(index >> 16) & 255}.${(index >> 8) & 255}.${index & 255}`,
    user_agent: "Mozilla/5.0 (X11; Linux x86_64) VigilTest/1.0",
    severity: severities[index % severities.length],
    outcome: index % 17 === 0 ? "failure" : "success",
    before_state: { status: "draft", amount: index % 1000, tags: ["a", "b"] },
    after_state: {
      status: "approved",
      amount: (index % 1000) + 1,
      tags: ["a", "b", "c"],
      approver: { id: `user-${index % 7}`, level: 2 },
    },
    metadata: { request: { path: "/invoices/approve", method: "POST" }, region: "eu-west-1", index },
    ...overrides,
  };
}

/** A normalized event as the api would queue it, for tests that publish straight onto the queue. */
export function queuedEvent(tenantId: string, overrides: Partial<NormalizedEvent> = {}): NormalizedEvent {
  const now = new Date().toISOString();
  return {
    id: randomUUID(),
    tenant_id: tenantId,
    occurred_at: now,
    received_at: now,
    action_type: "CREATE",
    action: "doc.create",
    resource_type: "doc",
    resource_id: "d1",
    user_id: null,
    session_id: null,
    ip_address: null,
    user_agent: null,
    severity: "INFO",
    outcome: "success",
    before_state: null,
    after_state: null,
    metadata: null,
    redacted: [],
    payload_hash: "c".repeat(64),
    ...overrides,
  };
}
