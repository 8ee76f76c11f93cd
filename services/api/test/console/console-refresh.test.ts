// Silent refresh under concurrency: two api replicas (and several requests on each) renewing one
// console session's lapsed access cookie at the same moment all keep the user signed in with the
// same rotated refresh token, while a replay of the spent token after the grace window is still
// caught as reuse and ends the session.
import { REFRESH_ROTATION_GRACE_SECONDS } from "@vigil/shared/auth/sessions";
import { createTestPipeline, type RunningService, type TestPipeline } from "@vigil/testkit";
import { afterAll, beforeAll, expect, test } from "vitest";
import { createTenant, createUser, login, PLATFORM_ADMIN } from "../auth-fixtures.ts";

let pipeline: TestPipeline;
let replicas: RunningService[];
let tenantAdmin: { email: string; password: string };

function cookiesOf(response: Response): Map<string, string> {
  const cookies = new Map<string, string>();
  for (const line of response.headers.getSetCookie()) {
    const [pair] = line.split(";");
    const at = pair!.indexOf("=");
    cookies.set(pair!.slice(0, at), pair!.slice(at + 1));
  }
  return cookies;
}
const header = (cookies: Map<string, string>) =>
  [...cookies].map(([name, value]) => `${name}=${value}`).join("; ");

async function signIn(api: RunningService): Promise<Map<string, string>> {
  const jar = cookiesOf(await fetch(`${api.url}/console/sign-in`));
  const response = await fetch(`${api.url}/console/sign-in`, {
    method: "POST",
    redirect: "manual",
    headers: {
      Cookie: header(jar),
      Origin: api.url,
      "Content-Type": "application/x-www-form-urlencoded",
    },
    body: new URLSearchParams({
      csrf: jar.get("vigil_csrf")!,
      username: tenantAdmin.email,
      password: tenantAdmin.password,
    }),
  });
  expect(response.status).toBe(303);
  for (const [name, value] of cookiesOf(response)) jar.set(name, value);
  return jar;
}

beforeAll(async () => {
  pipeline = await createTestPipeline();
  replicas = await Promise.all([pipeline.start("api"), pipeline.start("api")]);
  const admin = (await login(replicas[0]!.url, PLATFORM_ADMIN.email, PLATFORM_ADMIN.password)).access_token;
  const tenantId = (await createTenant(replicas[0]!.url, admin)).id;
  tenantAdmin = await createUser(replicas[0]!.url, admin, tenantId, "tenant_admin");
});
afterAll(async () => pipeline?.close());

test("six concurrent silent refreshes over two api replicas keep the session and share one successor; a late replay is reuse", async () => {
  const jar = await signIn(replicas[0]!);
  const spent = jar.get("vigil_refresh")!;
  jar.delete("vigil_access"); // lapsed: every request below must refresh
  const pages = await Promise.all(
    Array.from({ length: 6 }, (_, index) =>
      fetch(`${replicas[index % 2]!.url}/console/events`, {
        redirect: "manual",
        headers: { Cookie: header(jar) },
      }),
    ),
  );
  expect(pages.map((page) => page.status)).toEqual(Array(6).fill(200));
  const successors = new Set(pages.map((page) => cookiesOf(page).get("vigil_refresh")));
  expect(successors.size).toBe(1);
  const [successor] = [...successors];
  expect(successor).toMatch(/^vgr_/);
  expect(successor).not.toBe(spent);

  // The shared successor is a working session on either replica.
  const next = new Map(jar).set("vigil_refresh", successor!);
  const renewed = await fetch(`${replicas[1]!.url}/console/stats`, {
    redirect: "manual",
    headers: { Cookie: header(next) },
  });
  expect(renewed.status).toBe(200);
  const latest = cookiesOf(renewed).get("vigil_refresh")!;

  // After the grace window the spent token is a replay: refused, and the family is revoked with it.
  await pipeline.database.admin`
    update refresh_tokens set used_at = used_at - make_interval(secs => ${REFRESH_ROTATION_GRACE_SECONDS + 1})
    where used_at is not null`;
  const replay = await fetch(`${replicas[0]!.url}/console/events`, {
    redirect: "manual",
    headers: { Cookie: header(new Map(jar).set("vigil_refresh", spent)) },
  });
  expect(replay.status).toBe(303);
  expect(replay.headers.get("location")).toMatch(/^\/console\/sign-in/);
  const legitimate = await fetch(`${replicas[1]!.url}/console/events`, {
    redirect: "manual",
    headers: { Cookie: header(new Map(jar).set("vigil_refresh", latest)) },
  });
  expect(legitimate.status).toBe(303);
});

test("the grace window never resurrects a signed-out session: the spent token of a revoked family is refused at once", async () => {
  const jar = await signIn(replicas[0]!);
  const spent = jar.get("vigil_refresh")!;
  jar.delete("vigil_access");
  const refreshed = await fetch(`${replicas[0]!.url}/console/events`, {
    redirect: "manual",
    headers: { Cookie: header(jar) },
  });
  expect(refreshed.status).toBe(200);
  for (const [name, value] of cookiesOf(refreshed)) jar.set(name, value);
  const signOut = await fetch(`${replicas[1]!.url}/console/sign-out`, {
    method: "POST",
    redirect: "manual",
    headers: {
      Cookie: header(jar),
      Origin: replicas[1]!.url,
      "Content-Type": "application/x-www-form-urlencoded",
    },
    body: new URLSearchParams({ csrf: jar.get("vigil_csrf")! }),
  });
  expect(signOut.status).toBe(303);
  // Well inside the grace window, the token spent a moment ago opens nothing.
  const replay = await fetch(`${replicas[0]!.url}/console/events`, {
    redirect: "manual",
    headers: { Cookie: header(new Map(jar).set("vigil_refresh", spent).set("vigil_access", "")) },
  });
  expect(replay.status).toBe(303);
  expect(replay.headers.get("location")).toMatch(/^\/console\/sign-in/);
});
