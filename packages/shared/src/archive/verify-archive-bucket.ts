// `pnpm vigil archive verify`: checks a tenant's archive in its bucket with no database at all:
// every manifest parses and names the tenant; every object it lists matches its SHA-256, count,
// event hashes, chain links and roll-up; adjacent objects link (chain hash); the manifest's own
// roll-up and count add up; the checkpoint it names covers its range. Objects no manifest names
// (left by a run that crashed before its manifest) are listed, not counted as failures. An object
// named by several manifests (a retry after a partial failure rewrites the same key under a new
// manifest) is checked and counted once; manifests wholly rewritten by later runs are reported as
// superseded, and events are counted by distinct seq, so a retry never double-counts.
import { computeChainHash } from "../events/event-hash.ts";
import {
  ArchiveCheckError,
  type ArchivedEvent,
  type ArchivedObject,
  type ArchiveManifest,
  checkArchivedObject,
  HashRollup,
  manifestPrefix,
  parseManifest,
} from "./archive-format.ts";
import type { ArchiveStorage } from "./archive-storage.ts";

const MANIFEST_NAME = /^\d{16}-\d{16}\.json$/;
const OBJECT_NAME = /^\d{16}-\d{16}\.ndjson\.gz$/;

export interface ArchiveBucketReport {
  tenant_id: string;
  bucket: string;
  prefix: string;
  manifests: number;
  /** Distinct objects checked (an object named by several manifests counts once). */
  objects: number;
  /** Distinct seqs held by the objects that checked: a seq in two objects counts once. */
  events: number;
  ok: boolean;
  problems: Array<{ key: string; problem: string }>;
  /** Event objects under the tenant's prefix that no manifest names. */
  unreferenced: string[];
  /**
   * Manifests every object of which a later run wrote again (same key) or covered with another
   * object: a run retried after a partial failure, or the loser of two concurrent runs. Their
   * objects are not counted twice; the database's `event_archives` names the objects restore reads.
   */
  superseded_manifests: string[];
  /** Objects whose seq range overlaps an object of a later manifest (each seq still counted once). */
  overlapping_objects: string[];
}

interface LoadedManifest {
  key: string;
  manifest: ArchiveManifest;
}

/** How many distinct integers the ranges hold together. */
function unionSize(ranges: Array<{ from_seq: number; to_seq: number }>): number {
  let total = 0;
  let end = 0;
  for (const range of [...ranges].sort((a, b) => a.from_seq - b.from_seq)) {
    const from = Math.max(range.from_seq, end + 1);
    if (range.to_seq >= from) total += range.to_seq - from + 1;
    end = Math.max(end, range.to_seq);
  }
  return total;
}

export async function verifyArchiveBucket(
  storage: ArchiveStorage,
  target: { bucket: string; prefix: string; tenantId: string },
): Promise<ArchiveBucketReport> {
  const report: ArchiveBucketReport = {
    tenant_id: target.tenantId,
    bucket: target.bucket,
    prefix: target.prefix,
    manifests: 0,
    objects: 0,
    events: 0,
    ok: true,
    problems: [],
    unreferenced: [],
    superseded_manifests: [],
    overlapping_objects: [],
  };
  const problem = (key: string, text: string) => {
    report.ok = false;
    report.problems.push({ key, problem: text });
  };
  // Only keys of Vigil's own shapes: another tenant's prefix may nest keys below this one.
  const manifestsAt = manifestPrefix(target.prefix, target.tenantId);
  const loaded: LoadedManifest[] = [];
  for (const key of (await storage.list(target.bucket, manifestsAt)).filter((key) =>
    MANIFEST_NAME.test(key.slice(manifestsAt.length)),
  )) {
    report.manifests++;
    try {
      const manifest = parseManifest(await storage.get(target.bucket, key), key);
      if (manifest.tenant_id !== target.tenantId) problem(key, `names tenant ${manifest.tenant_id}`);
      else loaded.push({ key, manifest });
    } catch (error) {
      if (!(error instanceof ArchiveCheckError)) throw error;
      problem(error.key, error.problem);
    }
  }
  // Oldest run first: a later manifest naming the same object key describes its current bytes.
  loaded.sort(
    (a, b) => a.manifest.created_at.localeCompare(b.manifest.created_at) || a.key.localeCompare(b.key),
  );
  const latest = new Map<string, { entry: ArchivedObject; run: number }>();
  loaded.forEach(({ manifest }, run) => {
    for (const entry of manifest.objects) latest.set(entry.key, { entry, run });
  });

  // Each distinct object is read and checked once, against its latest manifest entry.
  const checked = new Map<string, ArchivedEvent[] | null>();
  for (const [key, { entry }] of latest) {
    try {
      checked.set(key, checkArchivedObject(await storage.get(target.bucket, key), entry, target.tenantId));
      report.objects++;
    } catch (error) {
      if (!(error instanceof ArchiveCheckError)) throw error;
      problem(error.key, error.problem);
      checked.set(key, null);
    }
  }
  report.events = unionSize(
    [...latest.values()].filter(({ entry }) => checked.get(entry.key)).map(({ entry }) => entry),
  );

  // Objects overlapping an object of a later run (a retry that cut differently, a concurrent loser).
  const overlappedByLater = new Set<string>();
  const byStart = [...latest.values()].sort((a, b) => a.entry.from_seq - b.entry.from_seq);
  for (const [index, first] of byStart.entries())
    for (const second of byStart.slice(index + 1)) {
      if (second.entry.from_seq > first.entry.to_seq) break;
      if (first.run !== second.run)
        overlappedByLater.add((first.run < second.run ? first : second).entry.key);
    }
  report.overlapping_objects = [...overlappedByLater].sort();

  for (const [run, { key, manifest }] of loaded.entries()) {
    const replaced = (entry: ArchivedObject) =>
      latest.get(entry.key)!.run > run || overlappedByLater.has(entry.key);
    if (manifest.objects.every(replaced)) {
      report.superseded_manifests.push(key);
      continue;
    }
    // An object rewritten with other bytes by a later run: this manifest's totals cannot be recomputed.
    const stale = manifest.objects.some((entry) => latest.get(entry.key)!.entry.sha256 !== entry.sha256);
    const rollup = new HashRollup();
    let count = 0;
    let intact = !stale;
    let previous: { to_seq: number; last_chain_hash: string } | null = null;
    for (const entry of manifest.objects) {
      const events = latest.get(entry.key)!.entry.sha256 === entry.sha256 ? checked.get(entry.key) : null;
      if (events) {
        const first = events[0]!;
        if (
          previous?.to_seq === entry.from_seq - 1 &&
          computeChainHash(previous.last_chain_hash, first.hash) !== first.chain_hash
        )
          problem(entry.key, `seq ${first.seq}: chain link to the previous object broken`);
        for (const event of events) rollup.add(event.hash);
        count += events.length;
      } else {
        // A bad object (already reported) or a stale entry: count what the manifest says.
        intact = false;
        count += entry.event_count;
      }
      previous = entry;
    }
    if (count !== manifest.event_count)
      problem(key, `objects hold ${count} events, the manifest says ${manifest.event_count}`);
    if (intact && rollup.digest() !== manifest.events_sha256)
      problem(key, "events' hash roll-up differs from the manifest");
    if (manifest.checkpoint) {
      const size = Number(manifest.checkpoint.note.split("\n")[1]);
      if (size !== manifest.checkpoint.tree_size || size < manifest.to_seq)
        problem(key, `checkpoint (size ${size}) does not cover seq ${manifest.to_seq}`);
    }
  }
  const objects = `${target.prefix}${target.tenantId}/events/`;
  for (const key of await storage.list(target.bucket, objects))
    if (OBJECT_NAME.test(key.slice(objects.length)) && !latest.has(key)) report.unreferenced.push(key);
  if (report.manifests === 0) problem(manifestsAt, "no manifest found");
  return report;
}
