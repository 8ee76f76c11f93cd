// `pnpm vigil archive verify`: checks a tenant's archive in its bucket with no database at all:
// every manifest parses and names the tenant; every object it lists matches its SHA-256, count,
// event hashes, chain links and roll-up; adjacent objects link (chain hash); the manifest's own
// roll-up and count add up; the checkpoint it names covers its range. Objects no manifest names
// (left by a run that crashed before its manifest) are listed, not counted as failures.
import { computeChainHash } from "../events/event-hash.ts";
import {
  ArchiveCheckError,
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
  objects: number;
  events: number;
  ok: boolean;
  problems: Array<{ key: string; problem: string }>;
  /** Event objects under the tenant's prefix that no manifest names. */
  unreferenced: string[];
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
  };
  const problem = (key: string, text: string) => {
    report.ok = false;
    report.problems.push({ key, problem: text });
  };
  const referenced = new Set<string>();
  // Only keys of Vigil's own shapes: another tenant's prefix may nest keys below this one.
  const manifests = (
    await storage.list(target.bucket, manifestPrefix(target.prefix, target.tenantId))
  ).filter((key) => MANIFEST_NAME.test(key.slice(manifestPrefix(target.prefix, target.tenantId).length)));
  for (const key of manifests) {
    report.manifests++;
    try {
      const manifest = parseManifest(await storage.get(target.bucket, key), key);
      if (manifest.tenant_id !== target.tenantId) {
        problem(key, `names tenant ${manifest.tenant_id}`);
        continue;
      }
      const rollup = new HashRollup();
      let count = 0;
      let previous: { to_seq: number; last_chain_hash: string } | null = null;
      for (const entry of manifest.objects) {
        referenced.add(entry.key);
        try {
          const events = checkArchivedObject(
            await storage.get(target.bucket, entry.key),
            entry,
            target.tenantId,
          );
          const first = events[0]!;
          if (
            previous?.to_seq === entry.from_seq - 1 &&
            computeChainHash(previous.last_chain_hash, first.hash) !== first.chain_hash
          )
            problem(entry.key, `seq ${first.seq}: chain link to the previous object broken`);
          for (const event of events) rollup.add(event.hash);
          count += events.length;
          report.objects++;
          report.events += events.length;
        } catch (error) {
          if (!(error instanceof ArchiveCheckError)) throw error;
          problem(error.key, error.problem);
          // The roll-up cannot be recomputed past a bad object; count what the manifest says.
          count += entry.event_count;
        }
        previous = entry;
      }
      if (count !== manifest.event_count)
        problem(key, `objects hold ${count} events, the manifest says ${manifest.event_count}`);
      if (
        !report.problems.some((p) => manifest.objects.some((o) => o.key === p.key)) &&
        rollup.digest() !== manifest.events_sha256
      )
        problem(key, "events' hash roll-up differs from the manifest");
      if (manifest.checkpoint) {
        const size = Number(manifest.checkpoint.note.split("\n")[1]);
        if (size !== manifest.checkpoint.tree_size || size < manifest.to_seq)
          problem(key, `checkpoint (size ${size}) does not cover seq ${manifest.to_seq}`);
      }
    } catch (error) {
      if (!(error instanceof ArchiveCheckError)) throw error;
      problem(error.key, error.problem);
    }
  }
  const objects = `${target.prefix}${target.tenantId}/events/`;
  for (const key of await storage.list(target.bucket, objects))
    if (OBJECT_NAME.test(key.slice(objects.length)) && !referenced.has(key)) report.unreferenced.push(key);
  if (report.manifests === 0) problem(manifestPrefix(target.prefix, target.tenantId), "no manifest found");
  return report;
}
