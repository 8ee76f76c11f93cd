// Helpers for tests that act as people: log in, create tenants, users and keys through the real
// api, the way an operator would.
import { randomBytes } from "node:crypto";
import { requestJson } from "@vigil/testkit";
import { expect } from "vitest";

/** The platform admin every test api creates from VIGIL_ADMIN_EMAIL / VIGIL_ADMIN_PASSWORD (testkit env). */
export const PLATFORM_ADMIN = { email: "admin@localhost", password: "admin-password-for-tests" };

export interface TokenPair {
  access_token: string;
  refresh_token: string;
  token_type: "Bearer";
  expires_in: number;
}

export async function login(apiUrl: string, username: string, password: string): Promise<TokenPair> {
  const response = await requestJson<TokenPair>(`${apiUrl}/api/v1/auth/token`, {
    body: { grant_type: "password", username, password },
  });
  expect(response.status, JSON.stringify(response.body)).toBe(200);
  return response.body;
}

export async function adminToken(apiUrl: string): Promise<string> {
  return (await login(apiUrl, PLATFORM_ADMIN.email, PLATFORM_ADMIN.password)).access_token;
}

export function uniqueName(prefix: string): string {
  return `${prefix}-${randomBytes(4).toString("hex")}`;
}

export async function createTenant(
  apiUrl: string,
  token: string,
  name = uniqueName("tenant"),
): Promise<{ id: string; name: string }> {
  const response = await requestJson(`${apiUrl}/api/v1/tenants`, { token, body: { name } });
  expect(response.status, JSON.stringify(response.body)).toBe(201);
  return response.body;
}

export async function createUser(
  apiUrl: string,
  token: string,
  tenantId: string,
  role: "tenant_admin" | "auditor",
): Promise<{ id: string; email: string; password: string; token: string }> {
  const email = `${uniqueName(role)}@example.test`;
  const password = `pw-${randomBytes(12).toString("hex")}`;
  const response = await requestJson(`${apiUrl}/api/v1/tenants/${tenantId}/users`, {
    token,
    body: { email, password, role },
  });
  expect(response.status, JSON.stringify(response.body)).toBe(201);
  const tokens = await login(apiUrl, email, password);
  return { id: response.body.id, email, password, token: tokens.access_token };
}

export async function createKey(
  apiUrl: string,
  token: string,
  tenantId: string,
  scopes: Array<"ingest" | "read">,
): Promise<{ id: string; key: string }> {
  const response = await requestJson(`${apiUrl}/api/v1/tenants/${tenantId}/keys`, {
    token,
    body: { name: `key ${scopes.join("+")}`, scopes },
  });
  expect(response.status, JSON.stringify(response.body)).toBe(201);
  return { id: response.body.id, key: response.body.api_key };
}
