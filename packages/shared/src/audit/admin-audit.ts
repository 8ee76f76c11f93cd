// The context every admin verb runs in, and the audit event it records in the system tenant: who
// (principal), what (action on a resource), from where (IP, user agent, request id), and the outcome.
// Verbs queue the event inside their transaction, so an admin write whose audit event cannot be
// queued is rolled back (503) rather than left unaudited.
import { type Principal, principalId } from "../auth/principal.ts";
import type { Database } from "../db/database.ts";
import type { EventInput } from "../events/event-schema.ts";
import { SYSTEM_TENANT_ID } from "../tenants/tenants.ts";
import { type AuditRecorder, recordAuditEvent } from "./record-audit-event.ts";

export interface RequestOrigin {
  ip?: string | null;
  userAgent?: string | null;
  requestId?: string;
}

/** What an admin verb needs besides its input. */
export interface ActionContext {
  principal: Principal;
  db: Database;
  audit: AuditRecorder;
  origin: RequestOrigin;
}

export interface AdminAction {
  actionType: EventInput["action_type"];
  /** e.g. `tenant.create`, `api_key.revoke`, `auth.login`. */
  action: string;
  resourceType: string;
  resourceId: string;
  outcome?: "success" | "failure";
  /** The tenant acted on, when it is not the resource itself. */
  tenantId?: string | null;
  before?: Record<string, unknown> | null;
  after?: Record<string, unknown> | null;
  detail?: Record<string, unknown>;
}

/** Records one action in the system tenant; `actor` defaults to the context's principal. */
export function recordAdminAction(
  audit: AuditRecorder,
  origin: RequestOrigin,
  actor: Principal | string,
  action: AdminAction,
): Promise<string> {
  const outcome = action.outcome ?? "success";
  return recordAuditEvent(audit, SYSTEM_TENANT_ID, {
    action_type: action.actionType,
    action: action.action,
    resource_type: action.resourceType,
    resource_id: action.resourceId,
    user_id: (typeof actor === "string" ? actor : principalId(actor)).slice(0, 256),
    ip_address: origin.ip ?? undefined,
    user_agent: origin.userAgent?.slice(0, 1024) ?? undefined,
    severity: outcome === "failure" ? "WARNING" : "INFO",
    outcome,
    before_state: action.before ?? undefined,
    after_state: action.after ?? undefined,
    metadata: {
      ...(action.tenantId ? { tenant_id: action.tenantId } : {}),
      ...(origin.requestId ? { request_id: origin.requestId } : {}),
      ...action.detail,
    },
  });
}
