// Provable history over HTTP against the real api and two competing workers (spec §13): every
// event's inclusion proof verifies against every later checkpoint and successive checkpoints are
// consistent (checked with @vigil/verify, an implementation independent of the service's), tiles
// rebuild the signed root, checkpoints are anchored in S3 (fauxqs) and a file, bundles verify
// offline, and an erased event stays provable while its personal data cannot be guessed back.
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { CreateBucketCommand, GetObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { computeEventHash } from "@vigil/shared/events/event-hash";
import { verifyTenantLog } from "@vigil/shared/integrity/verify-tenant-log";
import { tenantScope } from "@vigil/shared/query/tenant-scope";
import { readEventsAfter } from "@vigil/shared/stream/read-events-after";
import { checkpointObjectKey } from "@vigil/shared/tlog/checkpoint-anchors";
import {
  createTestPipeline,
  eventually,
  type RunningService,
  requestJson,
  type TestPipeline,
} from "@vigil/testkit";
import {
  eventLeafHash,
  fromBase64,
  openCheckpoint,
  signerKey,
  type Tile,
  tilePath,
  toBase64,
  treeHash,
  verifierKeyOf,
  verifyBundle,
  verifyConsistency,
  verifyInclusion,
} from "@vigil/verify";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { adminToken, createKey, createTenant, createUser } from "./auth-fixtures.ts";

const ORIGIN = "vigil.test/log";
const BUCKET = `vigil-checkpoints-${randomBytes(3).toString("hex")}`;

let pipeline: TestPipeline;
let api: RunningService;
let signingKey: string;
let verifierKey: string;
let anchorFile: string;
let tenant: { id: string };
let readKey: string;
let ingestKey: string;
let tenantAdmin: string;
let auditor: string;
let otherTenantKey: string;
let platformAdmin: string;

interface SignedTree {
  size: number;
  root: Uint8Array;
  note: string;
}

async function makeSigningKey(name: string) {
  const signer = { name, privateKeySeed: new Uint8Array(randomBytes(32)) };
  return { signer: await signerKey(signer), verifier: await verifierKeyOf(signer) };
}

const http = (route: string, init: Parameters<typeof requestJson>[1] = {}) =>
  requestJson(`${api.url}${route}`, init);

async function rows(tenantId: string) {
  return pipeline.database.admin<{ seq: number; id: string; hash: string; user_id: string | null }[]>`
    select seq, id, hash, user_id from events where tenant_id = ${tenantId} order by seq`;
}

/** Posts `count` events and waits until the workers stored them. */
async function postEvents(count: number, label: string): Promise<string[]> {
  const events = Array.from({ length: count }, (_, index) => ({
    action_type: "UPDATE",
    resource_type: "invoice",
    resource_id: `${label}-${index}`,
    user_id: `user-${label}-${index % 7}`,
    metadata: { label, index },
  }));
  const posted = await http("/api/v1/logs/bulk", { key: ingestKey, body: events });
  expect(posted.status, JSON.stringify(posted.body)).toBe(202);
  const ids: string[] = posted.body.ids;
  await eventually(async () => {
    const [row] = await pipeline.database.admin<{ n: number }[]>`
      select count(*)::int as n from event_ids where tenant_id = ${tenant.id} and id = any(${ids}::uuid[])`;
    return row?.n === ids.length;
  }, 20_000);
  return ids;
}

async function signNow(): Promise<SignedTree> {
  const response = await http(`/api/v1/checkpoints`, { token: tenantAdmin, method: "POST" });
  expect([200, 201], JSON.stringify(response.body)).toContain(response.status);
  const { checkpoint } = await openCheckpoint(response.body.checkpoint, [verifierKey]);
  expect(checkpoint.origin).toBe(`${ORIGIN}/${tenant.id}`);
  return { size: checkpoint.size, root: checkpoint.rootHash, note: response.body.checkpoint };
}

beforeAll(async () => {
  pipeline = await createTestPipeline();
  ({ signer: signingKey, verifier: verifierKey } = await makeSigningKey("vigil-test"));
  anchorFile = path.join(mkdtempSync(path.join(tmpdir(), "vigil-anchor-")), "checkpoints.ndjson");
  const s3 = new S3Client({
    region: "us-east-1",
    endpoint: pipeline.sqsEndpoint,
    forcePathStyle: true,
    credentials: { accessKeyId: "test", secretAccessKey: "test" },
  });
  await s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
  s3.destroy();
  const env = {
    CHECKPOINT_SIGNING_KEY: signingKey,
    VIGIL_LOG_ORIGIN: ORIGIN,
    CHECKPOINT_INTERVAL_SECONDS: "1",
    CHECKPOINT_ANCHOR_FILE: anchorFile,
    CHECKPOINT_S3_BUCKET: BUCKET,
    CHECKPOINT_S3_ENDPOINT: pipeline.sqsEndpoint,
  };
  [api] = await Promise.all([
    pipeline.start("api", env),
    pipeline.start("worker", env),
    pipeline.start("worker", { ...env, WORKER_POLLERS: "2" }),
  ]);
  platformAdmin = await adminToken(api.url);
  tenant = await createTenant(api.url, platformAdmin);
  ({ key: readKey } = await createKey(api.url, platformAdmin, tenant.id, ["read"]));
  ({ key: ingestKey } = await createKey(api.url, platformAdmin, tenant.id, ["ingest"]));
  tenantAdmin = (await createUser(api.url, platformAdmin, tenant.id, "tenant_admin")).token;
  auditor = (await createUser(api.url, platformAdmin, tenant.id, "auditor")).token;
  const other = await createTenant(api.url, platformAdmin);
  ({ key: otherTenantKey } = await createKey(api.url, platformAdmin, other.id, ["read"]));
}, 120_000);

afterAll(() => pipeline?.close());

describe("checkpoints and proofs", () => {
  const signed: SignedTree[] = [];

  test("every event's inclusion proof verifies against every later checkpoint; successive checkpoints are consistent", async () => {
    for (const [batch, size] of [5, 60, 1, 200, 37].entries()) {
      await postEvents(size, `b${batch}`);
      signed.push(await signNow());
    }
    const stored = await rows(tenant.id);
    const last = signed.at(-1)!;
    expect(last.size).toBeGreaterThanOrEqual(303);

    // Every checkpoint ever signed (by the workers' 1 s rounds and on demand), in size order.
    const sizes = await pipeline.database.admin<{ tree_size: number }[]>`
      select tree_size from tlog_checkpoints where tenant_id = ${tenant.id} order by tree_size`;
    const all: SignedTree[] = [];
    for (const { tree_size } of sizes) {
      const note = await fetch(`${api.url}/api/v1/checkpoints?size=${tree_size}`, {
        headers: { "X-API-Key": readKey },
      }).then((response) => response.text());
      const { checkpoint } = await openCheckpoint(note, [verifierKey]);
      all.push({ size: checkpoint.size, root: checkpoint.rootHash, note });
    }
    expect(all.length).toBeGreaterThanOrEqual(signed.length);

    for (const [index, older] of all.entries()) {
      const newer = all[index + 1];
      if (!newer) break;
      const proof = await http(`/api/v1/checkpoints/consistency?from=${older.size}&to=${newer.size}`, {
        key: readKey,
      });
      expect(proof.status, JSON.stringify(proof.body)).toBe(200);
      expect(proof.body.checkpoint_from).toBe(older.note);
      expect(proof.body.checkpoint_to).toBe(newer.note);
      const path = proof.body.consistency_path.map((hash: string) => fromBase64(hash)!);
      expect(verifyConsistency(older.size, newer.size, path, older.root, newer.root)).toBe(true);
    }

    const checks: Array<() => Promise<void>> = [];
    for (const tree of signed) {
      for (const row of stored.filter((event) => event.seq <= tree.size)) {
        checks.push(async () => {
          const proof = await http(`/api/v1/logs/${row.id}/proof?size=${tree.size}`, { key: readKey });
          expect(proof.status, JSON.stringify(proof.body)).toBe(200);
          const leaf = eventLeafHash(row.seq, row.id, row.hash);
          expect(proof.body).toMatchObject({ seq: row.seq, leaf_index: row.seq - 1, tree_size: tree.size });
          expect(proof.body.leaf_hash).toBe(toBase64(leaf));
          expect(proof.body.checkpoint).toBe(tree.note);
          const path = proof.body.inclusion_path.map((hash: string) => fromBase64(hash)!);
          expect(verifyInclusion(leaf, row.seq - 1, tree.size, path, tree.root)).toBe(true);
        });
      }
    }
    for (let start = 0; start < checks.length; start += 32) {
      await Promise.all(checks.slice(start, start + 32).map((check) => check()));
    }
    // Default size: the latest checkpoint.
    const latest = await http(`/api/v1/logs/${stored[0]!.id}/proof`, { key: readKey });
    expect(latest.body.tree_size).toBeGreaterThanOrEqual(last.size);
  });

  test("tiles served over HTTP rebuild the signed root; full tiles are immutable; other tenants get 403", async () => {
    const tree = signed.at(-1)!;
    const tileUrl = (tile: Tile) =>
      `${api.url}/api/v1/tlog/${tenant.id}/tile/${tilePath(tile).slice("tile/".length)}`;
    const reader = {
      readTiles: (tiles: Tile[]) =>
        Promise.all(
          tiles.map(async (tile) => {
            const response = await fetch(tileUrl(tile), { headers: { "X-API-Key": readKey } });
            expect(response.status).toBe(200);
            return new Uint8Array(await response.arrayBuffer());
          }),
        ),
    };
    expect(toBase64(await treeHash(tree.size, reader))).toBe(toBase64(tree.root));

    const full = await fetch(tileUrl({ level: 0, index: 0, width: 256 }), {
      headers: { "X-API-Key": readKey },
    });
    expect(full.status).toBe(200);
    expect(full.headers.get("cache-control")).toContain("immutable");
    expect((await full.arrayBuffer()).byteLength).toBe(256 * 32);
    const partial = await fetch(tileUrl({ level: 0, index: 0, width: 3 }), {
      headers: { "X-API-Key": readKey },
    });
    expect(partial.headers.get("cache-control")).not.toContain("immutable");
    expect((await partial.arrayBuffer()).byteLength).toBe(3 * 32);

    const beyond = await fetch(tileUrl({ level: 0, index: 99, width: 256 }), {
      headers: { "X-API-Key": readKey },
    });
    expect(beyond.status).toBe(404);
    for (const bad of ["tile/0/0", "tile/0/000.p/0", "tile/0/x000/001", "tile/a/000", "tile/0/000.p/256"]) {
      const response = await fetch(`${api.url}/api/v1/tlog/${tenant.id}/${bad}`, {
        headers: { "X-API-Key": readKey },
      });
      expect(response.status, bad).toBe(404);
      expect(response.headers.get("content-type")).toContain("problem+json");
    }
    const foreign = await fetch(tileUrl({ level: 0, index: 0, width: 1 }), {
      headers: { "X-API-Key": otherTenantKey },
    });
    expect(foreign.status).toBe(403);
    const anonymous = await fetch(tileUrl({ level: 0, index: 0, width: 1 }));
    expect(anonymous.status).toBe(401);
  });

  test("edge rules: unsigned sizes are 404, bad parameters name the field, roles and tenants are enforced", async () => {
    const [first] = await rows(tenant.id);
    const unsigned = await http(`/api/v1/logs/${first!.id}/proof?size=2`, { key: readKey });
    expect(unsigned.status).toBe(404);
    expect((await http(`/api/v1/checkpoints?size=3`, { key: readKey })).status).toBe(404);
    const reversed = await http(`/api/v1/checkpoints/consistency?from=10&to=5`, { key: readKey });
    expect(reversed.status).toBe(400);
    expect(reversed.body.errors[0].path).toBe("from");
    const malformed = await http(`/api/v1/checkpoints/consistency?from=-1&to=x`, { key: readKey });
    expect(malformed.status).toBe(400);
    expect(malformed.body.errors.map((error: { path: string }) => error.path).sort()).toEqual(["from", "to"]);
    const unknownEvent = await http(`/api/v1/logs/${crypto.randomUUID()}/proof`, { key: readKey });
    expect(unknownEvent.status).toBe(404);
    const foreign = await http(`/api/v1/logs/${first!.id}/proof`, { key: otherTenantKey });
    expect(foreign.status).toBe(404);
    expect((await http(`/api/v1/checkpoints`, { token: auditor, method: "POST" })).status).toBe(403);
    expect((await http(`/api/v1/checkpoints`, { key: readKey, method: "POST" })).status).toBe(403);
    // Platform admins name the tenant, as on every other read.
    expect((await http(`/api/v1/checkpoints/latest`, { token: platformAdmin })).status).toBe(400);
    const named = await fetch(`${api.url}/api/v1/checkpoints/latest?tenant_id=${tenant.id}`, {
      headers: { Authorization: `Bearer ${platformAdmin}` },
    });
    expect(named.status).toBe(200);
    expect(named.headers.get("content-type")).toContain("text/plain");
    await openCheckpoint(await named.text(), [verifierKey]);
  });

  test("hostile parameters are 4xx naming the field, never a 500; another tenant's checkpoints stay out of reach", async () => {
    const [first] = await rows(tenant.id);
    const cases: Array<[string, number]> = [
      [`/api/v1/logs/${first!.id}/proof?size=99999999999999999`, 400],
      [`/api/v1/logs/${first!.id}/proof?size=1e3`, 400],
      [`/api/v1/logs/${first!.id}/proof?size=1&size=2`, 400],
      [`/api/v1/logs/${first!.id}/proof?sort=seq`, 400],
      [`/api/v1/checkpoints/consistency?from=1`, 400],
      [`/api/v1/checkpoints/consistency?from=9999999999999999&to=9999999999999999`, 404],
      [`/api/v1/checkpoints?size=%00`, 400],
      [`/api/v1/logs/export?format=bundle&from_seq=0`, 400],
      [`/api/v1/logs/export?format=bundle&to_seq=abc`, 400],
      [`/api/v1/logs/export?format=bundle&user_id=x`, 400],
      [`/api/v1/tlog/${tenant.id}/tile/63/x999/x999/x999/x999/x999/999`, 404],
      [`/api/v1/tlog/${tenant.id}/tile/0/000.p/1/../../etc`, 404],
      [`/api/v1/checkpoints/latest?tenant_id=not-a-uuid`, 400],
    ];
    for (const [route, status] of cases) {
      const response = await http(route, { key: readKey });
      expect(response.status, route).toBe(status);
      expect(response.headers.get("content-type"), route).toContain("problem+json");
    }
    const other = await createTenant(api.url, platformAdmin);
    for (const route of [
      `/api/v1/checkpoints/latest?tenant_id=${other.id}`,
      `/api/v1/checkpoints?size=1&tenant_id=${other.id}`,
      `/api/v1/checkpoints/consistency?from=1&to=2&tenant_id=${other.id}`,
      `/api/v1/tlog/${other.id}/tile/0/000.p/1`,
      `/api/v1/logs/export?format=bundle&tenant_id=${other.id}`,
    ]) {
      expect((await http(route, { key: readKey })).status, route).toBe(403);
    }
    const notJson = await http(`/api/v1/logs/${first!.id}/erasure`, {
      token: tenantAdmin,
      rawBody: "{reason:",
      headers: { "Content-Type": "application/json" },
    });
    expect(notJson.status).toBe(400);
    const extra = await http(`/api/v1/logs/${first!.id}/erasure`, {
      token: tenantAdmin,
      body: { reason: "x", values: { user_id: "y" } },
    });
    expect(extra.status).toBe(422);
  });

  test("the verifier key is public; the key list has its validity window", async () => {
    const key = await fetch(`${api.url}/api/v1/checkpoints/key`);
    expect(key.status).toBe(200);
    expect((await key.text()).trim()).toBe(verifierKey);
    const keys = await http(`/api/v1/checkpoints/keys`);
    expect(keys.status).toBe(200);
    expect(keys.body.keys).toEqual([
      expect.objectContaining({
        verifier_key: verifierKey,
        current: true,
        configured: true,
        valid_until: null,
      }),
    ]);
    expect(Date.parse(keys.body.keys[0].valid_from)).toBeLessThanOrEqual(Date.now());
  });

  test("each new checkpoint is anchored in S3 and in the anchor file", async () => {
    const tree = signed.at(-1)!;
    const expected = { tenant_id: tenant.id, tree_size: tree.size, note: tree.note };
    // Whoever signed it (a worker's round or the api on demand) anchors it right after its commit.
    await eventually(async () =>
      readFileSync(anchorFile, "utf8")
        .trim()
        .split("\n")
        .some((line) => JSON.stringify(JSON.parse(line)) === JSON.stringify(expected)),
    );
    const s3 = new S3Client({
      region: "us-east-1",
      endpoint: pipeline.sqsEndpoint,
      forcePathStyle: true,
      credentials: { accessKeyId: "test", secretAccessKey: "test" },
    });
    const stored = await eventually(async () => {
      const object = await s3
        .send(new GetObjectCommand({ Bucket: BUCKET, Key: checkpointObjectKey(tenant.id, tree.size) }))
        .catch(() => null);
      return object && (await object.Body!.transformToString());
    });
    expect(stored).toBe(tree.note);
    s3.destroy();
  });

  test("a bundle verifies offline with @vigil/verify; a range past the latest checkpoint is 409", async () => {
    const tree = signed.at(-1)!;
    const response = await fetch(
      `${api.url}/api/v1/logs/export?format=bundle&from_seq=7&to_seq=${tree.size - 3}`,
      {
        headers: { "X-API-Key": readKey },
      },
    );
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toBe("application/x-tar");
    const report = await verifyBundle(response.body!, { verifierKeys: [verifierKey] });
    expect(report.problems).toEqual([]);
    expect(report).toMatchObject({ ok: true, fromSeq: 7, toSeq: tree.size - 3, events: tree.size - 9 });
    expect(report.hashesRecomputed).toBe(tree.size - 9);

    // Bundles take export slots (2 per tenant by default); abandoned ones give theirs back. The
    // bundle above frees its slot when the server finishes its side, which can trail the client.
    const open = await eventually(async () => {
      const held = await Promise.all(
        [1, 2].map(() =>
          fetch(`${api.url}/api/v1/logs/export?format=bundle`, { headers: { "X-API-Key": readKey } }),
        ),
      );
      if (held.every((response) => response.status === 200)) return held;
      await Promise.all(held.map((response) => response.body?.cancel()));
      return null;
    }, 10_000);
    expect(open.map((held) => held.status)).toEqual([200, 200]);
    await Promise.all(open.map((held) => held.body!.cancel()));
    for (let round = 0; round < 3; round++) {
      const again = await eventually(async () => {
        const response = await fetch(`${api.url}/api/v1/logs/export?format=bundle&from_seq=1&to_seq=2`, {
          headers: { "X-API-Key": readKey },
        });
        await response.arrayBuffer().catch(() => undefined);
        return response.status === 200 && response;
      }, 10_000);
      expect(again.status).toBe(200);
    }

    const ahead = await http(`/api/v1/logs/export?format=bundle&from_seq=1&to_seq=${tree.size + 1000}`, {
      key: readKey,
    });
    expect(ahead.status).toBe(409);
    expect(ahead.headers.get("retry-after")).toBe("1");
  });
});

describe("erasure", () => {
  test("erased personal data is gone, the event stays provable, and its user_id cannot be guessed from the hash", async () => {
    const [target] = await postEvents(1, "erase-me");
    const [before] = await pipeline.database.admin<Record<string, unknown>[]>`
      select * from events where tenant_id = ${tenant.id} and id = ${target!}`;
    const candidates = Array.from({ length: 50 }, (_, index) => `user-erase-me-${index}`);
    const hashed = (fields: Record<string, unknown>, salt: string | null) => {
      const event = {
        ...fields,
        occurred_at: (fields.occurred_at as Date).toISOString(),
        received_at: (fields.received_at as Date).toISOString(),
      } as Parameters<typeof computeEventHash>[0];
      return computeEventHash({ ...event, salt });
    };
    // With the salt, a guess list finds the user: that is why the salt must go with the data.
    expect(
      candidates.filter(
        (guess) => hashed({ ...before, user_id: guess }, before!.salt as string) === before!.hash,
      ),
    ).toEqual([before!.user_id]);

    expect(
      (await http(`/api/v1/logs/${target}/erasure`, { token: auditor, body: { reason: "GDPR request 17" } }))
        .status,
    ).toBe(403);
    const missingReason = await http(`/api/v1/logs/${target}/erasure`, {
      token: tenantAdmin,
      body: { fields: ["user_id"] },
    });
    expect(missingReason.status).toBe(422);
    expect(missingReason.body.errors[0].path).toBe("reason");
    const badField = await http(`/api/v1/logs/${target}/erasure`, {
      token: tenantAdmin,
      body: { reason: "x", fields: ["action"] },
    });
    expect(badField.status).toBe(422);

    const erased = await http(`/api/v1/logs/${target}/erasure`, {
      token: tenantAdmin,
      body: { reason: "GDPR request 17" },
    });
    expect(erased.status, JSON.stringify(erased.body)).toBe(200);
    expect(erased.body.erased.fields).toContain("user_id");
    expect(
      (await http(`/api/v1/logs/${target}/erasure`, { token: tenantAdmin, body: { reason: "again" } }))
        .status,
    ).toBe(409);

    const read = await http(`/api/v1/logs/${target}`, { key: readKey });
    expect(read.body).toMatchObject({
      id: target,
      seq: before!.seq,
      hash: before!.hash,
      user_id: null,
      session_id: null,
      metadata: null,
      erased: {
        by: expect.stringMatching(/^user:/),
        fields: expect.arrayContaining(["user_id", "metadata"]),
      },
    });
    expect(read.body).not.toHaveProperty("salt");
    const listed = await http(`/api/v1/logs?resource_id=${before!.resource_id}`, { key: readKey });
    expect(listed.body.data).toEqual([
      expect.objectContaining({ id: target, user_id: null, erased: read.body.erased }),
    ]);
    expect(listed.body.data[0]).not.toHaveProperty("salt");
    // Resource history and position reads (the live stream's backfill and feed, log streams) show the
    // marker too.
    const history = await http(`/api/v1/resources/${before!.resource_type}/${before!.resource_id}/history`, {
      key: readKey,
    });
    expect(history.status).toBe(200);
    expect(JSON.stringify(history.body)).toContain(JSON.stringify(read.body.erased));
    const positioned = await readEventsAfter(pipeline.database.db, tenantScope(tenant.id), {
      after: (before!.seq as number) - 1,
      limit: 1,
    });
    expect(positioned[0]?.event).toMatchObject({ id: target, user_id: null, erased: read.body.erased });
    const ndjson = await fetch(
      `${api.url}/api/v1/logs/export?format=ndjson&resource_id=${before!.resource_id}`,
      { headers: { "X-API-Key": readKey } },
    );
    const exported = (await ndjson.text())
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line));
    expect(exported).toEqual([
      expect.objectContaining({ id: target, user_id: null, erased: read.body.erased }),
    ]);
    const [after] = await pipeline.database.admin<Record<string, unknown>[]>`
      select * from events where tenant_id = ${tenant.id} and id = ${target!}`;
    expect(after).toMatchObject({
      salt: null,
      user_id: null,
      metadata: null,
      hash: before!.hash,
      chain_hash: before!.chain_hash,
    });
    // Without the salt no guess reproduces the stored hash, not even the right one.
    expect(candidates.some((guess) => hashed({ ...after, user_id: guess }, null) === before!.hash)).toBe(
      false,
    );
    expect(hashed({ ...after, user_id: before!.user_id }, null)).not.toBe(before!.hash);

    // The erasure is an event of the log naming what was erased, never the erased values.
    const record = await eventually(async () => {
      const [row] = await pipeline.database.admin<{ metadata: Record<string, unknown>; seq: number }[]>`
        select metadata, seq from events where tenant_id = ${tenant.id} and id = ${erased.body.erasure_event_id}`;
      return row;
    });
    expect(JSON.stringify(record.metadata)).not.toContain(String(before!.user_id));
    expect(record.metadata).toMatchObject({ reason: "GDPR request 17", seq: before!.seq });

    // Proofs still verify for the erased event, and the whole log verifies with the erasure counted.
    const tree = await signNow();
    expect(tree.size).toBeGreaterThanOrEqual(record.seq);
    const proof = await http(`/api/v1/logs/${target}/proof`, { key: readKey });
    expect(proof.status).toBe(200);
    const leaf = eventLeafHash(before!.seq as number, target!, before!.hash as string);
    const path = proof.body.inclusion_path.map((hash: string) => fromBase64(hash)!);
    expect(verifyInclusion(leaf, (before!.seq as number) - 1, proof.body.tree_size, path, tree.root)).toBe(
      true,
    );
    const report = await verifyTenantLog(pipeline.database.db, tenantScope(tenant.id), {
      checkpointKeys: [verifierKey],
      origin: ORIGIN,
    });
    expect(report.problems).toEqual([]);
    expect(report).toMatchObject({ ok: true, erased: 1, tree: { checkpoint_size: tree.size } });

    // The bundle verifier reports it as erased, not tampered.
    const bundle = await fetch(
      `${api.url}/api/v1/logs/export?format=bundle&from_seq=${before!.seq}&to_seq=${tree.size}`,
      { headers: { "X-API-Key": readKey } },
    );
    const checked = await verifyBundle(bundle.body!, { verifierKeys: [verifierKey] });
    expect(checked).toMatchObject({ ok: true, erasedCount: 1 });
    expect(checked.erased[0]).toMatchObject({ seq: before!.seq, id: target });
  });
});
