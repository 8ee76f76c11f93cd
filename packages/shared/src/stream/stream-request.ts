// Everything decided before a stream's WebSocket upgrade completes: origin, credential (from the
// `bearer.<token>` subprotocol), role and tenant, filters (narrowed by a token's viewer pins) and
// resume position. A request that fails here is answered with problem+json over plain HTTP, so a
// refused client never sees an open socket.
import { z } from "zod";
import { authenticate, type TokenVerifier } from "../auth/authenticate.ts";
import { credentialVerdicts } from "../auth/credential-status.ts";
import { authorize, type Principal } from "../auth/principal.ts";
import type { Database } from "../db/database.ts";
import { VigilError } from "../errors/vigil-error.ts";
import { eventFilterSchema, parseQuery } from "../query/search-params.ts";
import { type TenantScope, tenantScope } from "../query/tenant-scope.ts";
import { applyViewerPins } from "../viewer/viewer-pins.ts";
import type { StreamFilter } from "./event-filter-match.ts";
import { latestSeq } from "./read-events-after.ts";
import { BEARER_SUBPROTOCOL_PREFIX, STREAM_SUBPROTOCOL } from "./stream-protocol.ts";

export const streamParamsSchema = eventFilterSchema
  .omit({ q: true })
  .extend({
    since: z
      .string()
      .regex(/^\d{1,15}$/, "must be a whole number ≥ 0 (the last seq you received)")
      .transform(Number)
      .optional(),
    tenant_id: z.uuid("must be a UUID").optional(),
  })
  .refine((value) => !value.from || !value.to || Date.parse(value.from) <= Date.parse(value.to), {
    message: "must not be after `to`",
    path: ["from"],
  });

export type StreamParams = z.infer<typeof streamParamsSchema>;

export interface StreamGrant {
  scope: TenantScope;
  principal: Principal;
  filter: StreamFilter;
  /** Events with seq > since are delivered; 0 means "from the beginning" only when given. */
  since: number | null;
  /** When the credential was looked up (epoch ms), so a change committed meanwhile is re-checked. */
  authorizedAt: number;
}

/** `*` allows any origin; otherwise an exact match. Requests without Origin (non-browser clients) always pass. */
export function assertOriginAllowed(origin: string | undefined, allowed: readonly string[]): void {
  if (!origin) return;
  if (allowed.includes("*") || allowed.includes(origin)) return;
  throw new VigilError("FORBIDDEN", "this Origin may not open the stream (see STREAM_ALLOWED_ORIGINS)");
}

/** Reads `Sec-WebSocket-Protocol`: it must offer `vigil.v1`; the credential rides as `bearer.<token>`. */
export function credentialFromSubprotocols(header: string | undefined): string | null {
  const offered = (header ?? "")
    .split(",")
    .map((item) => item.trim())
    .filter(Boolean);
  if (!offered.includes(STREAM_SUBPROTOCOL)) {
    throw new VigilError("BAD_REQUEST", `offer the \`${STREAM_SUBPROTOCOL}\` WebSocket subprotocol`, [
      { path: "Sec-WebSocket-Protocol", message: `must include ${STREAM_SUBPROTOCOL}` },
    ]);
  }
  const bearer = offered.filter((item) => item.startsWith(BEARER_SUBPROTOCOL_PREFIX));
  if (bearer.length > 1) throw new VigilError("INVALID_CREDENTIAL", "send one credential, not two");
  return bearer[0]?.slice(BEARER_SUBPROTOCOL_PREFIX.length) || null;
}

/**
 * Authenticates and authorizes a stream request. Query parameters are validated first, so a bad
 * filter is reported as such; the `since` check needs the tenant, so it comes last.
 */
export async function authorizeStreamRequest(
  db: Database,
  tokens: TokenVerifier,
  request: { query: URLSearchParams; subprotocols: string | undefined },
): Promise<StreamGrant> {
  const secret = credentialFromSubprotocols(request.subprotocols);
  const params = parseQuery(streamParamsSchema, request.query);
  const authorizedAt = Date.now();
  const principal = await authenticate(db, tokens, secret);
  const tenantId = authorize(principal, "events:read", params.tenant_id);
  if (!tenantId)
    throw new VigilError("INVALID_PARAMETER", "name the tenant with `tenant_id`", [
      { path: "tenant_id", message: "is required" },
    ]);
  await assertStillAuthorised(db, principal, tenantId);
  const scope = tenantScope(tenantId);
  const { since, tenant_id: _tenant, ...requested } = params;
  // A pinned token (a viewer's stream token) narrows the filter; naming another value is a 403.
  const filter = applyViewerPins(principal, requested);
  if (since !== undefined && since > 0) {
    const latest = await latestSeq(db, scope);
    if (since > latest) {
      throw new VigilError("INVALID_PARAMETER", `\`since\` is beyond this tenant's last seq (${latest})`, [
        { path: "since", message: `must be at most ${latest}` },
      ]);
    }
  }
  return { scope, principal, filter, since: since ?? null, authorizedAt };
}

/**
 * What keeps an open stream authorised (stream/credential-watch.ts) also decides a new one: a
 * suspended tenant's credentials open no stream, so a client closed with 4403 cannot just reconnect.
 * An API key's lookup already read its tenant's state; other credentials cost one query.
 */
async function assertStillAuthorised(db: Database, principal: Principal, tenantId: string): Promise<void> {
  const verdict =
    principal.kind === "api_key"
      ? principal.tenantStatus === "active"
        ? "ok"
        : "tenant_not_active"
      : (await credentialVerdicts(db.sql, [{ principal, tenantId }]))[0];
  if (verdict === "tenant_not_active")
    throw new VigilError("TENANT_NOT_ACTIVE", "the tenant is not active; its streams are refused");
  if (verdict === "revoked") throw new VigilError("INVALID_CREDENTIAL", "the credential is not valid");
}
