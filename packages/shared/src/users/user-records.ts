// User rows and the lookups authentication needs. Users of a tenant carry `tenant_admin` or
// `auditor`; platform admins carry `admin` and no tenant (the table enforces the pairing).

import type { Role } from "../auth/principal.ts";
import type { Queryable } from "../db/database.ts";

export const USER_STATUSES = ["active", "disabled"] as const;
export type UserStatus = (typeof USER_STATUSES)[number];

export interface User {
  id: string;
  tenant_id: string | null;
  email: string;
  role: Role;
  status: UserStatus;
  created_at: string;
}

export interface UserRow {
  id: string;
  tenant_id: string | null;
  email: string;
  role: Role;
  status: UserStatus;
  created_at: Date;
}

export interface UserWithPassword extends UserRow {
  password_hash: string;
}

export function toUser(row: UserRow): User {
  return {
    id: row.id,
    tenant_id: row.tenant_id,
    email: row.email,
    role: row.role,
    status: row.status,
    created_at: row.created_at.toISOString(),
  };
}

export function normalizeEmail(email: string): string {
  return email.trim().toLowerCase();
}

export async function findUserById(sql: Queryable, id: string): Promise<UserRow | null> {
  const rows = await sql<
    UserRow[]
  >`select id, tenant_id, email, role, status, created_at from users where id = ${id}`;
  return rows[0] ?? null;
}

export async function findUserByEmail(sql: Queryable, email: string): Promise<UserWithPassword | null> {
  const rows = await sql<UserWithPassword[]>`
    select id, tenant_id, email, role, status, created_at, password_hash from users where email = ${normalizeEmail(email)}`;
  return rows[0] ?? null;
}
