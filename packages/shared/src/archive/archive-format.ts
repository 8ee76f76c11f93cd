// The archive's formats (README "Archive"): object keys, the NDJSON line of one archived event,
// the manifest, and the checks every reader runs (restore and `pnpm vigil archive verify`): the
// object's SHA-256 against the manifest, each event's hash recomputed from its fields, the chain
// links inside the object, and the roll-up of the events' hashes.
import { createHash } from "node:crypto";
import { gunzipSync } from "node:zlib";
import { z } from "zod";
import { computeChainHash, computeEventHash, sha256Hex } from "../events/event-hash.ts";
import type { StoredEvent } from "../events/event-schema.ts";

export const MANIFEST_FORMAT = "vigil.archive.manifest/1";
/** An object ends before its NDJSON passes this many bytes (and at ARCHIVE_OBJECT_MAX_EVENTS, or a seq gap). */
export const ARCHIVE_OBJECT_MAX_BYTES = 32 * 1024 * 1024;
/** Most gunzipped bytes a reader accepts for one object (a bound against a tampered bucket). */
export const ARCHIVE_OBJECT_READ_LIMIT = 2 * ARCHIVE_OBJECT_MAX_BYTES + 16 * 1024 * 1024;

const pad = (seq: number) => String(seq).padStart(16, "0");

/** `<prefix><tenant>/events/<from>-<to>.ndjson.gz`: deterministic, so a retry overwrites. */
export function archiveObjectKey(prefix: string, tenantId: string, fromSeq: number, toSeq: number): string {
  return `${prefix}${tenantId}/events/${pad(fromSeq)}-${pad(toSeq)}.ndjson.gz`;
}

export function manifestKey(prefix: string, tenantId: string, fromSeq: number, toSeq: number): string {
  return `${prefix}${tenantId}/manifests/${pad(fromSeq)}-${pad(toSeq)}.json`;
}

export function manifestPrefix(prefix: string, tenantId: string): string {
  return `${prefix}${tenantId}/manifests/`;
}

/** One archived event: the stored fields and hash, the salt and hash version, the chain hash. */
export type ArchivedEvent = StoredEvent & {
  salt?: string;
  hash_version: number;
  chain_hash: string;
};

export const archivedObjectSchema = z.object({
  key: z.string(),
  from_seq: z.number().int().min(1),
  to_seq: z.number().int().min(1),
  event_count: z.number().int().min(1),
  min_occurred_at: z.string(),
  max_occurred_at: z.string(),
  bytes: z.number().int().min(0),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  events_sha256: z.string().regex(/^[0-9a-f]{64}$/),
  last_chain_hash: z.string(),
});

export const manifestSchema = z.object({
  format: z.literal(MANIFEST_FORMAT),
  tenant_id: z.string(),
  reason: z.enum(["cleanup", "retention"]),
  created_at: z.string(),
  bucket: z.string(),
  prefix: z.string(),
  from_seq: z.number().int(),
  to_seq: z.number().int(),
  event_count: z.number().int(),
  objects: z.array(archivedObjectSchema).min(1),
  events_sha256: z.string().regex(/^[0-9a-f]{64}$/),
  /** The smallest signed checkpoint whose tree covers to_seq, when one exists at archive time. */
  checkpoint: z.object({ tree_size: z.number().int(), note: z.string() }).nullable(),
});

export type ArchivedObject = z.infer<typeof archivedObjectSchema>;
export type ArchiveManifest = z.infer<typeof manifestSchema>;

/** SHA-256 over the events' `hash` values (hex) concatenated in seq order. */
export class HashRollup {
  readonly #hash = createHash("sha256");
  add(eventHash: string): void {
    this.#hash.update(eventHash);
  }
  digest(): string {
    return this.#hash.digest("hex");
  }
}

export class ArchiveCheckError extends Error {
  constructor(
    readonly key: string,
    readonly problem: string,
  ) {
    super(`${key}: ${problem}`);
    this.name = "ArchiveCheckError";
  }
}

/**
 * Every check a reader runs on one object's bytes against its manifest entry; resolves with its
 * events in seq order or throws an ArchiveCheckError naming the object and the first problem.
 */
export function checkArchivedObject(bytes: Buffer, entry: ArchivedObject, tenantId: string): ArchivedEvent[] {
  const fail = (problem: string): never => {
    throw new ArchiveCheckError(entry.key, problem);
  };
  if (sha256Hex(bytes) !== entry.sha256) fail("SHA-256 differs from the manifest");
  let text: string;
  try {
    text = gunzipSync(bytes, { maxOutputLength: ARCHIVE_OBJECT_READ_LIMIT }).toString("utf8");
  } catch {
    return fail("not a readable gzip stream");
  }
  const lines = text.split("\n");
  if (lines.at(-1) === "") lines.pop();
  if (lines.length !== entry.event_count)
    fail(`holds ${lines.length} events, the manifest says ${entry.event_count}`);
  const rollup = new HashRollup();
  const events: ArchivedEvent[] = [];
  let previous: ArchivedEvent | null = null;
  for (const [index, line] of lines.entries()) {
    let event: ArchivedEvent;
    try {
      event = JSON.parse(line) as ArchivedEvent;
    } catch {
      return fail(`line ${index + 1} is not JSON`);
    }
    const seq = entry.from_seq + index;
    if (event.tenant_id !== tenantId) fail(`seq ${seq}: belongs to another tenant`);
    if (event.seq !== seq) fail(`line ${index + 1}: seq ${event.seq}, expected ${seq}`);
    if (typeof event.hash !== "string" || typeof event.chain_hash !== "string")
      fail(`seq ${seq}: hash or chain_hash missing`);
    // An erased event's fields and salt are gone: its hash cannot be recomputed (spec §13), its link can.
    if (!event.erased && computeEventHash(event) !== event.hash)
      fail(`seq ${seq}: hash does not match its fields`);
    if (previous && computeChainHash(previous.chain_hash, event.hash) !== event.chain_hash)
      fail(`seq ${seq}: chain link to seq ${seq - 1} broken`);
    rollup.add(event.hash);
    events.push(event);
    previous = event;
  }
  if (previous?.chain_hash !== entry.last_chain_hash) fail("last chain hash differs from the manifest");
  if (rollup.digest() !== entry.events_sha256) fail("events' hash roll-up differs from the manifest");
  return events;
}

export function parseManifest(bytes: Buffer, key: string): ArchiveManifest {
  let raw: unknown;
  try {
    raw = JSON.parse(bytes.toString("utf8"));
  } catch {
    throw new ArchiveCheckError(key, "manifest is not JSON");
  }
  const parsed = manifestSchema.safeParse(raw);
  if (!parsed.success) throw new ArchiveCheckError(key, "manifest does not match its format");
  return parsed.data;
}
