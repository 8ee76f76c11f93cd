// Shared by the launcher test files: `pnpm start` run as a user would (testkit's startLauncher) on a
// state folder of its own, stopped after each test, and the reads the tests check it with.
import { chmodSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { createApiKey } from "@vigil/shared/auth/api-keys";
import { createTenant } from "@vigil/shared/tenants/tenants";
import { type Launcher, requestJson, sampleEvent, startLauncher } from "@vigil/testkit";
import postgres from "postgres";
import { afterAll, afterEach, expect } from "vitest";

const roots: string[] = [];
export const launchers: Launcher[] = [];
export const onFailure: { resume?: () => void } = {};
afterEach(async () => {
  try {
    onFailure.resume?.();
  } catch {}
  onFailure.resume = undefined;
  for (const launcher of launchers.splice(0)) {
    if (launcher.process.exitCode === null && launcher.process.signalCode === null) {
      launcher.interrupt();
      launcher.interrupt(); // a second Ctrl-C: stop without draining
      await Promise.race([launcher.exited, new Promise((resolve) => setTimeout(resolve, 20_000))]);
    }
  }
});
afterAll(() => {
  for (const root of roots) rmSync(root, { recursive: true, force: true });
});

export function stateDir(): string {
  const root = mkdtempSync(path.join(tmpdir(), "vigil-launcher-"));
  chmodSync(root, 0o755); // PostgreSQL runs as the OS user `postgres` when tests run as root
  roots.push(root);
  return path.join(root, "state");
}

export async function launch(dir: string, args: string[] = []): Promise<Launcher> {
  const launcher = await startLauncher({ stateDir: dir, args });
  launchers.push(launcher);
  await launcher.waitFor(/press Ctrl-C/, 90_000, true);
  return launcher;
}

export async function tenantWithKey(launcher: Launcher) {
  const sql = postgres(launcher.devEnv().DATABASE_ADMIN_URL!, { max: 1, onnotice: () => {} });
  try {
    const tenant = await createTenant(sql, { name: `launcher-${Date.now()}` });
    const { key } = await createApiKey(sql, {
      tenantId: tenant.id,
      name: "launcher test",
      scopes: ["ingest", "read"],
    });
    return { tenantId: tenant.id, key };
  } finally {
    await sql.end();
  }
}

export async function storedSummary(adminUrl: string, tenantId: string) {
  const sql = postgres(adminUrl, { max: 1, onnotice: () => {} });
  try {
    const [row] = await sql<
      { n: number; ids: number; seqs: number; min: number | null; max: number | null }[]
    >`
      select count(*)::int as n, count(distinct id)::int as ids, count(distinct seq)::int as seqs,
             min(seq)::int as min, max(seq)::int as max
      from events where tenant_id = ${tenantId}`;
    return row!;
  } finally {
    await sql.end();
  }
}

export async function ingest(apiUrl: string, key: string, total: number, from = 0): Promise<void> {
  for (let start = from; start < from + total; start += 1000) {
    const body = Array.from({ length: Math.min(1000, from + total - start) }, (_, i) =>
      sampleEvent(start + i),
    );
    const response = await requestJson(`${apiUrl}/api/v1/logs/bulk`, { key, body });
    expect(response.status, JSON.stringify(response.body)).toBe(202);
  }
}

export async function eventually(check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}
