// API keys for client apps: `vgl_` + 40 base62 characters (~238 bits). Only a SHA-256 of the key is
// stored; with that much entropy a slow KDF adds nothing, and lookup stays one index probe.
import { createHash, randomBytes, randomUUID } from "node:crypto";
import type { Queryable } from "../db/database.ts";
import { VigilError } from "../errors/vigil-error.ts";

export const API_KEY_PREFIX = "vgl_";
/** `viewer` keys can only issue viewer tokens (POST /api/v1/viewer-tokens), for a tenant's backend. */
export const API_KEY_SCOPES = ["ingest", "read", "viewer"] as const;
export type ApiKeyScope = (typeof API_KEY_SCOPES)[number];

const BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const API_KEY_PATTERN = /^vgl_[0-9A-Za-z]{32,64}$/;

export function generateApiKey(length = 40): string {
  let out = API_KEY_PREFIX;
  while (out.length < API_KEY_PREFIX.length + length) {
    for (const byte of randomBytes(length)) {
      // Rejection sampling keeps every character equally likely.
      if (byte < 248 && out.length < API_KEY_PREFIX.length + length) out += BASE62[byte % 62];
    }
  }
  return out;
}

export function hashApiKey(key: string): string {
  return createHash("sha256").update(key).digest("hex");
}

export function looksLikeApiKey(value: string): boolean {
  return API_KEY_PATTERN.test(value);
}

export interface ApiKeyRecord {
  id: string;
  tenant_id: string;
  name: string;
  prefix: string;
  scopes: ApiKeyScope[];
  created_at: string;
  last_used_at: string | null;
  revoked_at: string | null;
}

interface ApiKeyRow {
  id: string;
  tenant_id: string;
  name: string;
  prefix: string;
  scopes: ApiKeyScope[];
  created_at: Date;
  last_used_at: Date | null;
  revoked_at: Date | null;
}

function toRecord(row: ApiKeyRow): ApiKeyRecord {
  return {
    id: row.id,
    tenant_id: row.tenant_id,
    name: row.name,
    prefix: row.prefix,
    scopes: row.scopes,
    created_at: row.created_at.toISOString(),
    last_used_at: row.last_used_at?.toISOString() ?? null,
    revoked_at: row.revoked_at?.toISOString() ?? null,
  };
}

/** Creates a key; the plaintext is returned once and never stored. */
export async function createApiKey(
  sql: Queryable,
  input: { tenantId: string; name: string; scopes: ApiKeyScope[]; createdBy?: string | null },
): Promise<{ key: string; record: ApiKeyRecord }> {
  if (input.scopes.length === 0)
    throw new VigilError("VALIDATION_FAILED", "at least one scope is required", [
      { path: "scopes", message: "must not be empty" },
    ]);
  const key = generateApiKey();
  const rows = await sql<ApiKeyRow[]>`
    insert into api_keys (id, tenant_id, name, prefix, key_hash, scopes, created_by)
    values (${randomUUID()}, ${input.tenantId}, ${input.name}, ${key.slice(0, 12)}, ${hashApiKey(key)}, ${input.scopes}::text[], ${input.createdBy ?? null})
    returning id, tenant_id, name, prefix, scopes, created_at, last_used_at, revoked_at`;
  return { key, record: toRecord(rows[0]!) };
}

export async function listApiKeys(sql: Queryable, tenantId: string): Promise<ApiKeyRecord[]> {
  const rows = await sql<ApiKeyRow[]>`
    select id, tenant_id, name, prefix, scopes, created_at, last_used_at, revoked_at
    from api_keys where tenant_id = ${tenantId} order by created_at, id`;
  return rows.map(toRecord);
}

export async function revokeApiKey(sql: Queryable, tenantId: string, keyId: string): Promise<boolean> {
  const rows =
    await sql`update api_keys set revoked_at = coalesce(revoked_at, now()) where tenant_id = ${tenantId} and id = ${keyId} returning id`;
  return rows.length > 0;
}

export interface ApiKeyPrincipal {
  keyId: string;
  tenantId: string;
  tenantStatus: "active" | "suspended" | "inactive";
  /** Read in the same lookup, so ingest needs no second query for the tenant's retention. */
  tenantRetentionDays: number;
  scopes: ApiKeyScope[];
}

/** Last use is recorded at most this often per key, so hot keys do not write on every request. */
const API_KEY_LAST_USE_INTERVAL_MS = 60_000;

/** Resolves a presented key to its tenant and scopes, or null when unknown or revoked. */
export async function authenticateApiKey(sql: Queryable, key: string): Promise<ApiKeyPrincipal | null> {
  if (!looksLikeApiKey(key)) return null;
  const found = await findApiKey(sql, hashApiKey(key));
  if (!found) return null;
  await recordApiKeyUseIfDue(sql, found, Date.now());
  return found.principal;
}

/** A live key as looked up: its principal and when its use was last recorded (epoch ms). */
export interface FoundApiKey {
  principal: ApiKeyPrincipal;
  lastUsedAt: number | null;
}

/** The live (unrevoked) key with this hash, with its tenant's state and when it was last used. */
export async function findApiKey(sql: Queryable, keyHash: string): Promise<FoundApiKey | null> {
  const rows = await sql<
    {
      id: string;
      tenant_id: string;
      scopes: ApiKeyScope[];
      status: ApiKeyPrincipal["tenantStatus"];
      retention_days: number;
      last_used_at: Date | null;
    }[]
  >`
    select k.id, k.tenant_id, k.scopes, t.status, t.retention_days, k.last_used_at
    from api_keys k join tenants t on t.id = k.tenant_id
    where k.key_hash = ${keyHash} and k.revoked_at is null`;
  const row = rows[0];
  if (!row) return null;
  return {
    principal: {
      keyId: row.id,
      tenantId: row.tenant_id,
      tenantStatus: row.status,
      tenantRetentionDays: row.retention_days,
      scopes: row.scopes,
    },
    lastUsedAt: row.last_used_at?.getTime() ?? null,
  };
}

/** Records a use of `found` unless one was recorded within API_KEY_LAST_USE_INTERVAL_MS. */
export async function recordApiKeyUseIfDue(sql: Queryable, found: FoundApiKey, now: number): Promise<void> {
  if (found.lastUsedAt !== null && now - found.lastUsedAt <= API_KEY_LAST_USE_INTERVAL_MS) return;
  found.lastUsedAt = now;
  await sql`update api_keys set last_used_at = now() where id = ${found.principal.keyId}`;
}
