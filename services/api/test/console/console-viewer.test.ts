// The console's second Chromium suite: the embeddable viewer's live tail, export and inclusion proof
// all bounded by the viewer token's pins (tried by editing URLs in the browser and by direct
// requests); Verify's trusted-key pinning (first seen, pinned, changed); and the signed-in live tail
// renewing its short-lived stream token (a 3 s TTL here) with no reconnect, gap or duplicate, until
// sign-out, after which no new token is issued and the stream ends. Console errors and CSP
// violations are collected on every page; screenshots go to ./artifacts.
import { createHash, randomBytes, randomUUID } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import {
  createTestPipeline,
  eventually,
  freePort,
  type RunningService,
  requestJson,
  startService,
  type TestPipeline,
} from "@vigil/testkit";
import { signerKey, verifierKeyOf } from "@vigil/verify";
import { type Browser, type BrowserContext, chromium, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { openStream, StreamRefused } from "../../../streamer/test/stream-client.ts";
import { createUser, login, PLATFORM_ADMIN } from "../auth-fixtures.ts";

const CHROMIUM = "/usr/bin/chromium";
const HAVE_BROWSER = existsSync(CHROMIUM);
const ARTIFACTS = path.join(path.dirname(fileURLToPath(import.meta.url)), "artifacts");
const STREAM_TOKEN_TTL_SECONDS = 3;

let pipeline: TestPipeline;
let apiUrl: string;
let services: RunningService[] = [];
let browser: Browser;
let profileDir: string;
let tenant: { id: string; key: string; admin: { email: string; password: string; token: string } };
const problems: string[] = [];

async function post(events: unknown[]): Promise<string[]> {
  const response = await requestJson(`${apiUrl}/api/v1/logs/bulk`, { key: tenant.key, body: events });
  expect(response.status, JSON.stringify(response.body)).toBe(202);
  return response.body.ids;
}

async function storedCount(count: number, query = ""): Promise<void> {
  await eventually(async () => {
    const response = await requestJson(`${apiUrl}/api/v1/logs?limit=1000${query}`, { key: tenant.key });
    return response.status === 200 && response.body.data.length >= count;
  }, 20_000);
}

function events(count: number, user: (i: number) => string) {
  return Array.from({ length: count }, (_, i) => ({
    action_type: "UPDATE",
    action: "invoice.update",
    resource_type: "invoice",
    resource_id: `inv-${i % 3}`,
    user_id: user(i),
    after_state: { amount: i },
  }));
}

async function watchedPage(context: BrowserContext): Promise<Page> {
  const page = await context.newPage();
  // CSP violations reported explicitly too (Chromium also logs them as console errors).
  await page.addInitScript(() =>
    document.addEventListener("securitypolicyviolation", (event) =>
      console.error(`CSP violation: ${event.violatedDirective} ${event.blockedURI}`),
    ),
  );
  page.on("console", (message) => {
    if (message.type() === "error") problems.push(`${page.url()}: ${message.text()}`);
  });
  page.on("pageerror", (error) => problems.push(`${page.url()}: ${error.message}`));
  return page;
}

async function signedIn(): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.newContext({ acceptDownloads: true });
  const page = await watchedPage(context);
  await page.goto(`${apiUrl}/console/sign-in`);
  await page.getByLabel("Email").fill(tenant.admin.email);
  await page.getByLabel("Password").fill(tenant.admin.password);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.waitForURL(/\/console\/events/, { timeout: 10_000 });
  return { context, page };
}

const tailSeqs = (page: Page) =>
  page
    .locator('[data-testid="tail-table"] tbody tr')
    .evaluateAll((rows) => rows.map((row) => Number((row as HTMLElement).dataset.seq)));
const tailUsers = (page: Page) =>
  page.locator('[data-testid="tail-table"] tbody tr td:nth-child(5)').allTextContents();

async function screenshot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: path.join(ARTIFACTS, `${name}.png`), fullPage: true });
}

async function viewerUrl(filters: Record<string, string>): Promise<{ url: string; token: string }> {
  const issued = await requestJson(`${apiUrl}/api/v1/viewer-tokens`, {
    token: tenant.admin.token,
    body: { filters, expires_in: 600 },
  });
  expect(issued.status, JSON.stringify(issued.body)).toBe(201);
  return { url: issued.body.url, token: new URL(issued.body.url).searchParams.get("token")! };
}

/** Verify on an event page; resolves to the proof verdict once one is shown (retrying while pending). */
async function verifyProof(
  page: Page,
): Promise<{ state: string | null; trust: string | null; text: string }> {
  const proof = page.locator("#proof-result");
  const once = async () => {
    await proof.evaluate((output) => output.removeAttribute("data-state"));
    await page.getByRole("button", { name: "Verify" }).click();
    await expect.poll(() => proof.getAttribute("data-state")).not.toBeNull();
    return proof.getAttribute("data-state");
  };
  await expect.poll(once, { timeout: 15_000, interval: 300 }).not.toBe("pending");
  return {
    state: await proof.getAttribute("data-state"),
    trust: await proof.getAttribute("data-trust"),
    text: (await proof.textContent()) ?? "",
  };
}

describe.skipIf(!HAVE_BROWSER)(
  `viewer, key pinning and stream renewal in Chromium (${HAVE_BROWSER ? CHROMIUM : "no /usr/bin/chromium: apt-get install -y chromium"})`,
  () => {
    let checkpointKey: string;

    beforeAll(async () => {
      await mkdir(ARTIFACTS, { recursive: true });
      pipeline = await createTestPipeline();
      const [apiPort, streamerPort] = [await freePort(), await freePort()];
      apiUrl = `http://127.0.0.1:${apiPort}`;
      const signer = { name: "console-viewer-test", privateKeySeed: randomBytes(32) };
      checkpointKey = await verifierKeyOf(signer);
      const checkpoints = {
        CHECKPOINT_SIGNING_KEY: await signerKey(signer),
        CHECKPOINT_INTERVAL_SECONDS: "1",
      };
      // Chromium starts while the services do.
      profileDir = mkdtempSync(path.join(tmpdir(), "vigil-chromium-"));
      const launching = chromium.launch({
        executablePath: CHROMIUM,
        headless: true,
        args: ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"],
      });
      // Kept as soon as it is up, so afterAll closes it even if a service fails to start.
      launching.then(
        (launched) => (browser = launched),
        () => undefined,
      );
      services = await Promise.all([
        startService(
          "api",
          pipeline.env({
            API_PORT: String(apiPort),
            CONSOLE_STREAM_URL: `ws://127.0.0.1:${streamerPort}/api/v1/logs/stream`,
            CONSOLE_STREAM_TOKEN_TTL_SECONDS: String(STREAM_TOKEN_TTL_SECONDS),
            ...checkpoints,
          }),
          apiPort,
        ),
        startService(
          "streamer",
          pipeline.env({ STREAMER_PORT: String(streamerPort), STREAM_ALLOWED_ORIGINS: apiUrl }),
          streamerPort,
        ),
        pipeline.start("worker", checkpoints),
      ]);
      browser = await launching;
      const admin = (await login(apiUrl, PLATFORM_ADMIN.email, PLATFORM_ADMIN.password)).access_token;
      const created = await requestJson(`${apiUrl}/api/v1/tenants`, {
        token: admin,
        body: { name: `console-viewer-${Date.now()}` },
      });
      const key = await requestJson(`${apiUrl}/api/v1/tenants/${created.body.id}/keys`, {
        token: admin,
        body: { name: "k", scopes: ["ingest", "read"] },
      });
      tenant = {
        id: created.body.id,
        key: key.body.api_key,
        admin: await createUser(apiUrl, admin, created.body.id, "tenant_admin"),
      };
      await post(events(12, (i) => (i % 2 === 0 ? "alice" : "bob")));
      await storedCount(12);
    });

    afterAll(async () => {
      await browser?.close();
      await Promise.all(services.map((service) => service.kill()));
      await pipeline?.close();
      if (profileDir) rmSync(profileDir, { recursive: true, force: true });
    });

    test("the live tail renews its 3 s stream token several times without leaving `live`, with no gap or duplicate; after sign-out no token is renewed and the stream ends", async () => {
      const { context, page } = await signedIn();
      let sockets = 0;
      page.on("websocket", () => sockets++);
      await page.goto(`${apiUrl}/console/tail`);
      const status = page.locator("#tail-status");
      await expect.poll(() => status.getAttribute("data-status"), { timeout: 10_000 }).toBe("live");
      // Every status the page shows from now on.
      await page.evaluate(() => {
        const seen: string[] = [];
        (window as unknown as { seen: string[] }).seen = seen;
        const element = document.getElementById("tail-status")!;
        new MutationObserver(() => seen.push(element.dataset.status ?? "")).observe(element, {
          attributes: true,
          childList: true,
        });
      });
      // Traffic until at least three renewals (each at 60 % of the 3 s lifetime) have happened under
      // it: waiting on the renewals, not a fixed window, so a loaded machine only takes longer.
      let posted = 0;
      const started = Date.now();
      while (sockets < 4 || posted < 9) {
        expect(Date.now() - started, "three renewals within 20 s").toBeLessThan(20_000);
        await post(events(3, () => "alice"));
        posted += 3;
        await page.waitForTimeout(700);
      }
      await expect.poll(async () => (await tailSeqs(page)).length, { timeout: 10_000 }).toBe(posted);
      const seqs = await tailSeqs(page);
      expect(seqs.every((seq, i) => i === 0 || seq === seqs[i - 1]! + 1)).toBe(true);
      const seen = await page.evaluate(() => (window as unknown as { seen: string[] }).seen);
      expect(seen.filter((shown) => shown !== "live")).toEqual([]);
      expect(sockets).toBeGreaterThanOrEqual(4); // the first socket and ≥ 3 renewals
      await expect(page.locator("#tail-warning").isHidden()).resolves.toBe(true);
      await screenshot(page, "live-tail-renewed");

      // Sign out in another tab: the next renewal gets no token, and the open stream ends at its expiry.
      const other = await watchedPage(context);
      await other.goto(`${apiUrl}/console/events`);
      await other.getByRole("button", { name: "Sign out" }).click();
      await expect
        .poll(() => new URL(page.url()).pathname, { timeout: STREAM_TOKEN_TTL_SECONDS * 2_000 + 2_000 })
        .toBe("/console/sign-in");
      await context.close();
    });

    test("the viewer pinned to alice: its live tail, export and proofs never show bob, whatever the URL says", async () => {
      const { url, token } = await viewerUrl({ user_id: "alice" });
      const context = await browser.newContext({ acceptDownloads: true });
      const view = await watchedPage(context);

      // Live tail (streams with a stream token carrying the pins; the streamer applies them).
      await view.goto(url);
      await view.getByRole("link", { name: "Live tail" }).click();
      await view.waitForURL(/\/console\/viewer\/tail/);
      await expect
        .poll(() => view.locator("#tail-status").getAttribute("data-status"), { timeout: 10_000 })
        .toBe("live");
      await post(events(8, (i) => (i % 2 === 0 ? "alice" : "bob")));
      await expect.poll(async () => (await tailUsers(view)).length, { timeout: 10_000 }).toBe(4);
      expect(new Set(await tailUsers(view))).toEqual(new Set(["alice"]));
      const seqs = await tailSeqs(view);
      expect([...seqs].sort((a, b) => a - b)).toEqual(seqs);
      await screenshot(view, "viewer-tail");
      // Widening by editing the URL is refused, in the browser and by direct requests.
      const widened = await view.goto(
        `${apiUrl}/console/viewer/tail?token=${encodeURIComponent(token)}&user_id=bob`,
      );
      expect(widened?.status()).toBe(403);
      // The page's stream token, used directly against the streamer: widening is refused before the
      // upgrade, another tenant is refused, and a backfill from 0 holds alice's events only.
      const grant = await (
        await fetch(`${apiUrl}/console/viewer/stream-token?token=${encodeURIComponent(token)}`, {
          method: "POST",
        })
      ).json();
      const streamer = new URL(grant.url).origin.replace(/^ws/, "http");
      const refusedWith = async (query: Record<string, string>) =>
        openStream(streamer, { token: grant.token, query }).then(
          (client) => {
            client.close();
            return 101;
          },
          (error: unknown) => (error instanceof StreamRefused ? error.status : Promise.reject(error)),
        );
      expect(await refusedWith({ user_id: "bob" })).toBe(403);
      expect(await refusedWith({ tenant_id: randomUUID() })).toBe(403);
      const fromStart = await openStream(streamer, { token: grant.token, query: { since: "0" } });
      await fromStart.waitFor(() => fromStart.ready !== null, 10_000);
      fromStart.close();
      expect(fromStart.events.length).toBeGreaterThanOrEqual(10);
      expect(new Set(fromStart.events.map((event) => event.user_id))).toEqual(new Set(["alice"]));
      expect((await fetch(`${apiUrl}/console/viewer/stream-token`, { method: "POST" })).status).toBe(401);

      // Export: the page's link downloads alice's events only, as many as the API exports for her.
      await storedCount(10, "&user_id=alice");
      await view.goto(url);
      const [download] = await Promise.all([
        view.waitForEvent("download"),
        view.getByRole("link", { name: "NDJSON" }).click(),
      ]);
      const exported = readFileSync((await download.path())!, "utf8")
        .trim()
        .split("\n")
        .map((line) => JSON.parse(line));
      const apiExport = (
        await (
          await fetch(`${apiUrl}/api/v1/logs/export?format=ndjson&user_id=alice`, {
            headers: { "X-API-Key": tenant.key },
          })
        ).text()
      )
        .trim()
        .split("\n");
      expect(exported.length).toBe(apiExport.length);
      expect(new Set(exported.map((event: { user_id: string }) => event.user_id))).toEqual(
        new Set(["alice"]),
      );
      const exportAs = (query: string) =>
        fetch(`${apiUrl}/console/viewer/export?token=${encodeURIComponent(token)}&${query}`);
      expect((await exportAs("format=csv&user_id=bob")).status).toBe(403);
      expect((await exportAs("format=bundle")).status).toBe(400);
      const csv = await (await exportAs("format=csv")).text();
      expect(csv).not.toContain(",bob,");

      // Proof: alice's event is proven in the viewer; bob's event (and its proof) is a 404.
      const [aliceEvent] = (
        await requestJson(`${apiUrl}/api/v1/logs?limit=1&user_id=alice`, { key: tenant.key })
      ).body.data;
      const [bobEvent] = (await requestJson(`${apiUrl}/api/v1/logs?limit=1&user_id=bob`, { key: tenant.key }))
        .body.data;
      await view.goto(`${apiUrl}/console/viewer/events/${aliceEvent.id}?token=${encodeURIComponent(token)}`);
      await expect(verifyProof(view)).resolves.toMatchObject({ state: "proven", trust: "first-seen" });
      await screenshot(view, "viewer-event-verify");
      // The same, by editing URLs in the browser: another user's event, its proof, a widened export.
      const encoded = encodeURIComponent(token);
      expect(
        (await view.goto(`${apiUrl}/console/viewer/events/${bobEvent.id}?token=${encoded}`))?.status(),
      ).toBe(404);
      expect(
        (await view.goto(`${apiUrl}/console/viewer/events/${bobEvent.id}/proof?token=${encoded}`))?.status(),
      ).toBe(404);
      expect(
        (
          await view.goto(`${apiUrl}/console/viewer/export?token=${encoded}&format=csv&user_id=bob`)
        )?.status(),
      ).toBe(403);
      const proofOf = (id: string) =>
        fetch(`${apiUrl}/console/viewer/events/${id}/proof?token=${encodeURIComponent(token)}`);
      expect((await proofOf(bobEvent.id)).status).toBe(404);
      expect((await (await proofOf(aliceEvent.id)).json()).status).toBe("ok");
      await context.close();
    });

    test("Verify trusts the key the user pinned: first seen, pinned (fingerprint shown), and a changed key fails loudly", async () => {
      const { context, page } = await signedIn();
      const [event] = (await requestJson(`${apiUrl}/api/v1/logs?limit=1&user_id=bob`, { key: tenant.key }))
        .body.data;
      await page.goto(`${apiUrl}/console/events/${event.id}`);
      const first = await verifyProof(page);
      expect(first).toMatchObject({ state: "proven", trust: "first-seen" });
      expect(first.text).toContain("trust on first use");
      const fingerprint = createHash("sha256")
        .update(checkpointKey)
        .digest("hex")
        .replace(/(.{4})(?=.)/g, "$1 ");
      await expect(page.locator("#served-fingerprint").textContent()).resolves.toBe(fingerprint);
      await expect(page.locator("#served-key").textContent()).resolves.toBe(checkpointKey);

      // Pin the key obtained out of band (here: the test's own copy), then verify against it.
      await page.locator("#key-trust summary").click();
      await page.getByLabel(/Verifier key to pin/).fill(checkpointKey);
      await page.getByRole("button", { name: "Pin key" }).click();
      await expect(page.locator("#key-status").getAttribute("data-trust")).resolves.toBe("pinned");
      const pinned = await verifyProof(page);
      expect(pinned).toMatchObject({ state: "proven", trust: "pinned" });
      expect(pinned.text).toContain("Verified against your pinned key");
      await screenshot(page, "event-verify-pinned");

      // A pinned key the server's checkpoints are not signed with: the served key "changed".
      const otherKey = await verifierKeyOf({ name: "console-viewer-test", privateKeySeed: randomBytes(32) });
      await page.getByLabel(/Verifier key to pin/).fill(otherKey);
      await page.getByRole("button", { name: "Pin key" }).click();
      const changed = await verifyProof(page);
      expect(changed).toMatchObject({ state: "unproven", trust: "changed" });
      expect(changed.text).toContain("Key changed");
      await expect(page.locator("#key-status").getAttribute("data-trust")).resolves.toBe("changed");
      // Not a credential: the page still stores no token anywhere a script can read.
      expect(await page.evaluate(() => document.cookie)).toBe("");
      expect(await page.evaluate(() => Object.keys(localStorage))).toEqual(["vigil.checkpoint-verifier-key"]);
      await context.close();
    });

    test("no console errors and no CSP violations on any page above", () => {
      expect(problems.filter((text) => !/status of (400|401|403|404)/.test(text))).toEqual([]);
    });
  },
);
