// How many exports may run at once, per process and per tenant. An export holds a pooled
// connection and an open transaction for as long as its client reads, so without a cap a few
// clients that open exports and stop reading could take every connection from every tenant.
// Beyond the cap a request is refused with 429 and Retry-After before any work is done.
import { VigilError } from "../errors/vigil-error.ts";

export interface ExportSlotLimits {
  perProcess: number;
  perTenant: number;
  /** Seconds a refused client is told to wait. */
  retryAfterSeconds?: number;
}

export class ExportSlots {
  private running = 0;
  private readonly perTenant = new Map<string, number>();

  constructor(private readonly limits: ExportSlotLimits) {}

  /** Takes a slot for `tenantId` or throws RATE_LIMITED; the returned function gives it back (once). */
  acquire(tenantId: string): () => void {
    const tenantRunning = this.perTenant.get(tenantId) ?? 0;
    if (this.running >= this.limits.perProcess || tenantRunning >= this.limits.perTenant) {
      const scope = tenantRunning >= this.limits.perTenant ? "for this tenant" : "on this server";
      throw new VigilError(
        "RATE_LIMITED",
        `too many exports running ${scope}; retry when one has finished`,
        undefined,
        { "Retry-After": String(this.limits.retryAfterSeconds ?? 5) },
      );
    }
    this.running++;
    this.perTenant.set(tenantId, tenantRunning + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.running--;
      const left = (this.perTenant.get(tenantId) ?? 1) - 1;
      if (left > 0) this.perTenant.set(tenantId, left);
      else this.perTenant.delete(tenantId);
    };
  }

  get active(): number {
    return this.running;
  }
}
