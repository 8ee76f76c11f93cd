// Verbs on a tenant's log streams (tenant admins and platform admins, the same role as keys and
// users): create (a webhook's signing secret is returned once), list, get, update (rename, filters,
// pause, re-enable a dead stream, rotate the secret with an overlap), delete. Credentials are stored
// sealed and never returned; every write is audited like the other admin verbs.
import { randomBytes } from "node:crypto";
import { v7 as uuidv7 } from "uuid";
import { type ActionContext, recordAdminAction } from "../audit/admin-audit.ts";
import { authorize } from "../auth/principal.ts";
import { openSealedText, sealText } from "../crypto/sealed-text.ts";
import type { TransactionSql } from "../db/database.ts";
import { VigilError } from "../errors/vigil-error.ts";
import { requireTenant } from "../tenants/manage-tenants.ts";
import {
  type LogStreamCreate,
  type LogStreamFilters,
  type LogStreamState,
  type LogStreamTarget,
  type LogStreamUpdate,
  type LogStreamView,
  TARGET_SECRET_FIELDS,
} from "./log-stream-schema.ts";
import { assertPublicTarget } from "./target-guard.ts";

export const SEALING_PURPOSE = "vigil-log-stream-secrets-v1";

/** What the verbs need from configuration. */
export interface LogStreamSettings {
  /** Seals stored credentials (VIGIL_SIGNING_KEY_SECRET); plain when unset. */
  sealingSecret: string | undefined;
  allowPrivateTargets: boolean;
}

/** Stored credentials: each value sealed. A webhook's signing secrets carry when they stop signing. */
export interface StoredSecrets {
  signing?: Array<{ sealed: string; until: string | null }>;
  credential?: string;
}

export interface LogStreamRow {
  id: string;
  tenant_id: string;
  name: string;
  destination: LogStreamTarget["destination"];
  target: Record<string, unknown>;
  secrets: StoredSecrets;
  filters: LogStreamFilters;
  state: LogStreamState;
  committed_seq: number;
  delivered_events: number;
  last_delivered_at: Date | null;
  last_error: string | null;
  last_error_at: Date | null;
  failing_since: Date | null;
  created_at: Date;
}

const MAX_STREAMS_PER_TENANT = 20;
const MAX_OLD_SIGNING_SECRETS = 3;

export function newSigningSecret(): string {
  return `whsec_${randomBytes(24).toString("base64url")}`;
}

export function toView(row: LogStreamRow, signingSecret?: string): LogStreamView {
  return {
    id: row.id,
    tenant_id: row.tenant_id,
    name: row.name,
    target: { destination: row.destination, ...row.target },
    filters: row.filters,
    state: row.state,
    committed_seq: Number(row.committed_seq),
    delivered_events: Number(row.delivered_events),
    last_delivered_at: row.last_delivered_at?.toISOString() ?? null,
    last_error: row.last_error,
    last_error_at: row.last_error_at?.toISOString() ?? null,
    failing_since: row.failing_since?.toISOString() ?? null,
    created_at: row.created_at.toISOString(),
    ...(signingSecret ? { signing_secret: signingSecret } : {}),
  };
}

/** The credentials a delivery uses: signing secrets still in force, or the destination's key. */
export function openSecrets(
  row: Pick<LogStreamRow, "secrets">,
  sealingSecret: string | undefined,
  now = Date.now(),
): { signing: string[]; credential: string | null } {
  const open = (sealed: string) => openSealedText(sealed, sealingSecret, SEALING_PURPOSE);
  return {
    signing: (row.secrets.signing ?? [])
      .filter((entry) => entry.until === null || Date.parse(entry.until) > now)
      .map((entry) => open(entry.sealed))
      .filter((secret): secret is string => secret !== null),
    credential: row.secrets.credential ? open(row.secrets.credential) : null,
  };
}

async function readStream(tx: TransactionSql, tenantId: string, id: string): Promise<LogStreamRow> {
  const [row] = await tx<
    LogStreamRow[]
  >`select * from log_streams where tenant_id = ${tenantId} and id = ${id}`;
  if (!row) throw new VigilError("NOT_FOUND", "no log stream with that id in this tenant");
  return row;
}

async function checkTarget(target: LogStreamTarget, settings: LogStreamSettings): Promise<void> {
  if ("url" in target) await assertPublicTarget(target.url, "target.url", settings.allowPrivateTargets);
}

export async function createLogStream(
  ctx: ActionContext,
  settings: LogStreamSettings,
  tenantId: string,
  input: LogStreamCreate,
): Promise<LogStreamView> {
  authorize(ctx.principal, "tenant:keys", tenantId);
  await requireTenant(ctx, tenantId);
  await checkTarget(input.target, settings);
  const { destination, ...rest } = input.target;
  const target: Record<string, unknown> = { ...rest };
  const secrets: StoredSecrets = {};
  for (const field of TARGET_SECRET_FIELDS)
    if (typeof target[field] === "string") {
      secrets.credential = sealText(target[field] as string, settings.sealingSecret, SEALING_PURPOSE);
      delete target[field];
    }
  const signingSecret = destination === "webhook" ? newSigningSecret() : undefined;
  if (signingSecret)
    secrets.signing = [
      { sealed: sealText(signingSecret, settings.sealingSecret, SEALING_PURPOSE), until: null },
    ];
  return ctx.db.withTenant(tenantId, async (tx) => {
    const [{ count }] =
      (await tx`select count(*)::int as count from log_streams where tenant_id = ${tenantId}`) as unknown as [
        { count: number },
      ];
    if (count >= MAX_STREAMS_PER_TENANT)
      throw new VigilError("CONFLICT", `a tenant may have at most ${MAX_STREAMS_PER_TENANT} log streams`);
    // A new stream starts at the tenant's head: it carries what happens from now on.
    const [row] = await tx<LogStreamRow[]>`
      insert into log_streams (id, tenant_id, name, destination, target, secrets, filters, committed_seq)
      values (${uuidv7()}, ${tenantId}, ${input.name}, ${destination}, ${tx.json(target as never)},
        ${tx.json(secrets as never)}, ${tx.json(input.filters as never)},
        coalesce((select last_seq from tenant_sequences where tenant_id = ${tenantId}), 0))
      returning *`;
    await recordAdminAction(ctx.audit, ctx.origin, ctx.principal, {
      actionType: "CREATE",
      action: "log_stream.create",
      resourceType: "log_stream",
      resourceId: row!.id,
      tenantId,
      after: { name: input.name, destination, target, filters: input.filters },
    });
    return toView(row!, signingSecret);
  });
}

export async function listLogStreams(ctx: ActionContext, tenantId: string): Promise<LogStreamView[]> {
  authorize(ctx.principal, "tenant:keys", tenantId);
  const rows = await ctx.db.withTenant(
    tenantId,
    (tx) =>
      tx<LogStreamRow[]>`select * from log_streams where tenant_id = ${tenantId} order by created_at, id`,
  );
  return rows.map((row) => toView(row));
}

export async function getLogStream(ctx: ActionContext, tenantId: string, id: string): Promise<LogStreamView> {
  authorize(ctx.principal, "tenant:keys", tenantId);
  return toView(await ctx.db.withTenant(tenantId, (tx) => readStream(tx, tenantId, id)));
}

export async function updateLogStream(
  ctx: ActionContext,
  settings: LogStreamSettings,
  tenantId: string,
  id: string,
  input: LogStreamUpdate,
): Promise<LogStreamView> {
  authorize(ctx.principal, "tenant:keys", tenantId);
  return ctx.db.withTenant(tenantId, async (tx) => {
    const before = await readStream(tx, tenantId, id);
    let signingSecret: string | undefined;
    let secrets = before.secrets;
    if (input.rotate_secret) {
      if (before.destination !== "webhook")
        throw new VigilError(
          "VALIDATION_FAILED",
          "rotate_secret: only webhook streams have a signing secret",
          [{ path: "rotate_secret", message: "only webhook streams have a signing secret" }],
        );
      signingSecret = newSigningSecret();
      const until = new Date(Date.now() + input.overlap_seconds * 1000).toISOString();
      // The old secrets keep signing beside the new one until the overlap ends, so receivers can switch.
      secrets = {
        ...secrets,
        signing: [
          { sealed: sealText(signingSecret, settings.sealingSecret, SEALING_PURPOSE), until: null },
          ...(secrets.signing ?? [])
            .filter((entry) => entry.until === null || Date.parse(entry.until) > Date.now())
            .map((entry) => ({ ...entry, until: entry.until ?? until }))
            // Every secret in force signs each request: a burst of rotations must not grow the header
            // past what receivers accept, so only the newest few old secrets keep their overlap.
            .slice(0, MAX_OLD_SIGNING_SECRETS),
        ],
      };
    }
    // Re-enabling clears the failure record and makes the stream due now.
    const reenable = input.state === "active" && before.state !== "active";
    const [row] = await tx<LogStreamRow[]>`
      update log_streams set
        name = ${input.name ?? before.name},
        filters = ${tx.json((input.filters ?? before.filters) as never)},
        secrets = ${tx.json(secrets as never)},
        state = ${input.state ?? before.state},
        failing_since = case when ${reenable} then null else failing_since end,
        attempts = case when ${reenable} then 0 else attempts end,
        next_attempt_at = case when ${reenable} then now() else next_attempt_at end,
        updated_at = now()
      where tenant_id = ${tenantId} and id = ${id}
      returning *`;
    await recordAdminAction(ctx.audit, ctx.origin, ctx.principal, {
      actionType: "UPDATE",
      action: input.rotate_secret ? "log_stream.rotate_secret" : "log_stream.update",
      resourceType: "log_stream",
      resourceId: id,
      tenantId,
      before: { name: before.name, filters: before.filters, state: before.state },
      after: { name: row!.name, filters: row!.filters, state: row!.state },
    });
    return toView(row!, signingSecret);
  });
}

export async function deleteLogStream(ctx: ActionContext, tenantId: string, id: string): Promise<void> {
  authorize(ctx.principal, "tenant:keys", tenantId);
  await ctx.db.withTenant(tenantId, async (tx) => {
    const before = await readStream(tx, tenantId, id);
    await tx`delete from log_streams where tenant_id = ${tenantId} and id = ${id}`;
    await recordAdminAction(ctx.audit, ctx.origin, ctx.principal, {
      actionType: "DELETE",
      action: "log_stream.delete",
      resourceType: "log_stream",
      resourceId: id,
      tenantId,
      before: { name: before.name, destination: before.destination, target: before.target },
    });
  });
}
