// The api process's one export limiter. The API's export and the console viewer's export both take
// their slot here, so EXPORT_MAX_CONCURRENT (and the per-tenant cap) bound every export the process
// runs, whichever route opened it; two limiters would each allow the full cap.
import type { ServerResponse } from "node:http";
import { recordAuditEvent } from "@vigil/shared/audit/record-audit-event";
import { type Principal, principalId } from "@vigil/shared/auth/principal";
import { type ExportPlan, exportEvents } from "@vigil/shared/query/export-events";
import { ExportSlots } from "@vigil/shared/query/export-slots";
import type { TenantScope } from "@vigil/shared/query/tenant-scope";
import type { Context } from "hono";
import type { ApiDependencies, AppEnv } from "./app-env.ts";
import { pullStream } from "./stream-response.ts";

// Keyed by the app's dependencies: one app per process in production; a test that builds several
// apps in one process gives each its own limiter, as it would have in its own process.
const slotsByApp = new WeakMap<ApiDependencies, ExportSlots>();

export function exportSlotsOf(deps: ApiDependencies): ExportSlots {
  let slots = slotsByApp.get(deps);
  if (!slots) {
    slots = new ExportSlots({
      perProcess: deps.config.EXPORT_MAX_CONCURRENT,
      perTenant: deps.config.EXPORT_MAX_CONCURRENT_PER_TENANT,
    });
    slotsByApp.set(deps, slots);
  }
  return slots;
}

/**
 * An export as a response: the slot taken, the audit record written before the first row leaves
 * (if the log cannot take it, nothing is exported unaudited), the rows streamed with a stall limit,
 * and one log line at the end. The API's export and the console viewer's export both answer with it.
 */
export async function exportResponse(
  deps: ApiDependencies,
  c: Context<AppEnv>,
  scope: TenantScope,
  principal: Principal,
  plan: ExportPlan,
  auditMetadata: Record<string, unknown> = {},
): Promise<Response> {
  const releaseSlot = exportSlotsOf(deps).acquire(scope.tenantId);
  try {
    await recordAuditEvent(deps, scope.tenantId, {
      action_type: "VIEW",
      action: "vigil.events.export",
      resource_type: "vigil.audit_log",
      resource_id: scope.tenantId,
      user_id: principalId(principal),
      metadata: {
        format: plan.format,
        filter: plan.filter,
        ...auditMetadata,
        ...(plan.afterSeq !== undefined ? { after_seq: plan.afterSeq } : {}),
        request_id: c.get("requestId"),
      },
    });
  } catch (error) {
    releaseSlot();
    throw error;
  }
  const progress = { rows: 0, completed: false };
  const started = performance.now();
  const body = pullStream(
    exportEvents(deps.db, scope, plan, progress),
    (error) => {
      releaseSlot();
      const line = {
        request_id: c.get("requestId"),
        tenant_id: scope.tenantId,
        format: plan.format,
        rows: progress.rows,
        completed: progress.completed,
        duration_ms: Math.round(performance.now() - started),
      };
      if (error && !progress.completed) deps.logger.warn({ ...line, err: error }, "export stopped");
      else deps.logger.info(line, "export finished");
    },
    {
      stallTimeoutMs: deps.config.EXPORT_STALL_TIMEOUT_MS,
      // A client that stopped reading gets its connection closed too, not only its cursor.
      onStall: () => (c.env as { outgoing?: ServerResponse } | undefined)?.outgoing?.destroy(),
    },
  );
  return new Response(body, {
    status: 200,
    headers: {
      "Content-Type": plan.contentType,
      "Content-Disposition": `attachment; filename="${plan.fileName}"`,
      "Cache-Control": "no-store",
      "X-Content-Type-Options": "nosniff",
    },
  });
}
