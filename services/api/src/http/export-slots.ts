// The api process's one export limiter. The API's export and the console viewer's export both take
// their slot here, so EXPORT_MAX_CONCURRENT (and the per-tenant cap) bound every export the process
// runs, whichever route opened it; two limiters would each allow the full cap.
import { ExportSlots } from "@vigil/shared/query/export-slots";
import type { ApiDependencies } from "./app-env.ts";

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
