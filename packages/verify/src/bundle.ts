// Export bundles (docs/tlog/bundle-format.md): a tar of `checkpoint` (a signed note), `proof.json`
// (a range proof) and `events.ndjson`, in that order. The verifier checks the signature, recomputes
// every event's hash from its fields and every leaf from (seq, id, hash), and checks the range
// against the signed root — streaming, in constant memory, whatever the bundle's size.
import { parseCheckpoint } from "./checkpoint.ts";
import { toBase64, utf8Encode } from "./encoding.ts";
import { computeEventHash } from "./event-hash.ts";
import { eventLeafHash, HASH_SIZE } from "./merkle-hash.ts";
import { parseRangeProof, type RangeProof, RangeVerifier, rangeProofToJson } from "./range-proof.ts";
import { openNote, type VerifierKey } from "./signed-note.ts";
import {
  type ByteSource,
  countBytes,
  readTar,
  type TarEntry,
  tarEnd,
  tarEntry,
  tarStreamEntry,
} from "./tar.ts";

export const BUNDLE_CHECKPOINT = "checkpoint";
export const BUNDLE_PROOF = "proof.json";
export const BUNDLE_EVENTS = "events.ndjson";

/** Longest events.ndjson line accepted (an event is at most 256 KiB; escaping can grow it). */
const MAX_LINE_CHARACTERS = 4 * 1024 * 1024;
/** Problems and erased events listed in a report (counts are always complete). */
const MAX_LISTED = 100;

export interface BundleProgress {
  events: number;
  totalEvents: number;
  bytes: number;
}

export interface VerifyBundleOptions {
  /** Verifier keys (`<name>+<id>+<key>`) whose signature on the checkpoint is trusted. */
  verifierKeys: ReadonlyArray<string | VerifierKey>;
  onProgress?: (progress: BundleProgress) => void;
  /** Events between two progress calls (default 10,000). */
  progressEvery?: number;
}

export interface ErasedEvent {
  seq: number;
  id: string;
  fields: string[];
}

export interface BundleReport {
  /** True when the signature, every event hash, every leaf and the range proof check out. */
  ok: boolean;
  origin?: string;
  treeSize?: number;
  /** The signed root, standard base64. */
  rootHash?: string;
  /** Names of the trusted keys whose signature verified. */
  signedBy: string[];
  fromSeq?: number;
  toSeq?: number;
  /** Event lines read. */
  events: number;
  /** Events whose hash was recomputed from their fields and matched. */
  hashesRecomputed: number;
  /** Erased events (their leaf is proven; their fields can't be, by design); the first 100 listed. */
  erasedCount: number;
  erased: ErasedEvent[];
  /** Removal records (rows deleted by retention, leaf kept); counted, their leaves proven. */
  removedCount: number;
  /** What failed; the first 100 listed, all counted. */
  problemCount: number;
  problems: string[];
}

/** Everything a bundle writer needs besides the events: the signed checkpoint and the proof. */
export interface BundleHead {
  /** The signed checkpoint note (text and signature lines). */
  checkpoint: string;
  proof: RangeProof;
}

/**
 * The bundle as tar chunks. `events` yields the bytes of events.ndjson (one JSON event per line,
 * each ending in "\n"), `eventsSize` bytes in all: tar records an entry's size before its data.
 */
export async function* writeBundle(
  head: BundleHead,
  eventsSize: number,
  events: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
): AsyncGenerator<Uint8Array> {
  yield tarEntry(BUNDLE_CHECKPOINT, head.checkpoint);
  yield tarEntry(BUNDLE_PROOF, `${rangeProofToJson(head.proof)}\n`);
  yield* tarStreamEntry(BUNDLE_EVENTS, eventsSize, events);
  yield tarEnd();
}

/** One events.ndjson line for an event as exported (its stored fields, salt included). */
export function bundleEventLine(event: Record<string, unknown>): Uint8Array {
  return utf8Encode(`${JSON.stringify(event)}\n`);
}

class Report {
  readonly value: BundleReport = {
    ok: false,
    signedBy: [],
    events: 0,
    hashesRecomputed: 0,
    erasedCount: 0,
    erased: [],
    removedCount: 0,
    problemCount: 0,
    problems: [],
  };

  problem(message: string): void {
    this.value.problemCount++;
    if (this.value.problems.length < MAX_LISTED) this.value.problems.push(message);
  }
}

async function readText(entry: TarEntry, limit: number): Promise<string> {
  if (entry.size > limit) throw new Error(`${entry.name} is larger than ${limit} bytes`);
  const bytes = new Uint8Array(entry.size);
  let at = 0;
  for await (const chunk of entry.body) {
    bytes.set(chunk, at);
    at += chunk.length;
  }
  return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const HEX_HASH = /^[0-9a-f]{64}$/;

/** Checks one event line; returns its leaf hash, or undefined when it has no provable leaf. */
function checkEvent(line: string, expectedSeq: number, tenantId: string | undefined, report: Report) {
  let event: unknown;
  try {
    event = JSON.parse(line);
  } catch {
    report.problem(`event line ${report.value.events} (seq ${expectedSeq}) is not JSON`);
    return undefined;
  }
  if (typeof event !== "object" || event === null || Array.isArray(event)) {
    report.problem(`event line ${report.value.events} (seq ${expectedSeq}) is not a JSON object`);
    return undefined;
  }
  const record = event as Record<string, unknown>;
  const { seq, id, hash } = record;
  if (seq !== expectedSeq) {
    report.problem(
      `event line ${report.value.events} has seq ${JSON.stringify(seq)}, ${expectedSeq} expected`,
    );
    return undefined;
  }
  if (typeof id !== "string" || !UUID.test(id) || typeof hash !== "string" || !HEX_HASH.test(hash)) {
    report.problem(`event seq ${seq} lacks a lowercase UUID id or a hex hash`);
    return undefined;
  }
  if (tenantId !== undefined && record.tenant_id !== undefined && record.tenant_id !== tenantId) {
    report.problem(`event seq ${seq} (${id}) belongs to tenant ${String(record.tenant_id)}, not ${tenantId}`);
  }
  const erased = record.erased;
  if (erased !== undefined && erased !== null) {
    const fields = (erased as { fields?: unknown }).fields;
    report.value.erasedCount++;
    if (report.value.erased.length < MAX_LISTED) {
      report.value.erased.push({ seq, id, fields: Array.isArray(fields) ? fields.map(String) : [] });
    }
  } else if (record.removed !== undefined && record.removed !== null) {
    report.value.removedCount++;
  } else {
    let recomputed: string | undefined;
    try {
      recomputed = computeEventHash(record);
    } catch (error) {
      // e.g. nesting too deep to canonicalise: this event fails, the rest of the bundle is still checked
      report.problem(`event seq ${seq} (${id}) cannot be hashed: ${(error as Error).message}`);
    }
    if (recomputed === hash) report.value.hashesRecomputed++;
    else if (recomputed !== undefined)
      report.problem(`event seq ${seq} (${id}): its fields do not match its hash (tampered)`);
  }
  return eventLeafHash(seq, id, hash);
}

/**
 * Verifies a bundle read from `source` (a tar byte stream). Never throws on bad input: everything
 * wrong with the bundle is in the report's problems.
 */
export async function verifyBundle(source: ByteSource, options: VerifyBundleOptions): Promise<BundleReport> {
  const report = new Report();
  const r = report.value;
  let bytes = 0;
  const counted = countBytes(source, (total) => {
    bytes = total;
  });
  const progressEvery = options.progressEvery ?? 10_000;
  try {
    const entries = readTar(counted)[Symbol.asyncIterator]();
    const expectEntry = async (name: string) => {
      const next = await entries.next();
      if (next.done) throw new Error(`the bundle has no ${name}`);
      if (next.value.name !== name)
        throw new Error(`the bundle holds ${next.value.name} where ${name} belongs`);
      return next.value;
    };

    const note = await readText(await expectEntry(BUNDLE_CHECKPOINT), 64 * 1024);
    const opened = await openNote(note, options.verifierKeys);
    r.signedBy = opened.verified.map((signature) => signature.name);
    const checkpoint = parseCheckpoint(opened.text);
    r.origin = checkpoint.origin;
    r.treeSize = checkpoint.size;
    r.rootHash = toBase64(checkpoint.rootHash);
    const tenantId = /\/([0-9a-f-]{36})$/.exec(checkpoint.origin)?.[1];

    const proof = parseRangeProof(await readText(await expectEntry(BUNDLE_PROOF), 1024 * 1024));
    if (proof.treeSize !== checkpoint.size) {
      throw new Error(`the proof is for tree size ${proof.treeSize}, the checkpoint for ${checkpoint.size}`);
    }
    r.fromSeq = proof.start + 1;
    r.toSeq = proof.end;
    const totalEvents = proof.end - proof.start;
    const verifier = new RangeVerifier(proof, checkpoint.rootHash);
    const placeholder = new Uint8Array(HASH_SIZE); // keeps positions when a line is unusable

    const events = await expectEntry(BUNDLE_EVENTS);
    const decoder = new TextDecoder("utf-8", { fatal: true });
    // The current line's text so far, in pieces: concatenating and re-scanning one growing string
    // would copy it again for every chunk (quadratic in a long line's length).
    let pieces: string[] = [];
    let piecesLength = 0;
    const takeLine = (line: string) => {
      if (r.events >= totalEvents) {
        if (r.events === totalEvents)
          report.problem(`events.ndjson holds more than the ${totalEvents} events proven`);
        r.events++;
        return;
      }
      r.events++;
      const leaf = checkEvent(line, proof.start + r.events, tenantId, report);
      verifier.push(leaf ?? placeholder);
      if (r.events % progressEvery === 0) options.onProgress?.({ events: r.events, totalEvents, bytes });
    };
    const takeText = (text: string) => {
      let from = 0;
      let newline = text.indexOf("\n");
      while (newline >= 0) {
        const tail = text.slice(from, newline);
        takeLine(pieces.length === 0 ? tail : pieces.join("") + tail);
        pieces = [];
        piecesLength = 0;
        from = newline + 1;
        newline = text.indexOf("\n", from);
      }
      if (from < text.length) {
        pieces.push(text.slice(from));
        piecesLength += text.length - from;
        if (piecesLength > MAX_LINE_CHARACTERS)
          throw new Error("events.ndjson holds a line longer than 4 MiB");
      }
    };
    for await (const chunk of events.body) takeText(decoder.decode(chunk, { stream: true }));
    takeText(decoder.decode());
    if (pieces.length > 0) report.problem("events.ndjson does not end with a newline");
    if (r.events < totalEvents)
      report.problem(`events.ndjson holds ${r.events} events, ${totalEvents} proven`);
    else {
      const failure = verifier.finish();
      if (failure) report.problem(`range proof: ${failure}`);
    }
    options.onProgress?.({ events: r.events, totalEvents, bytes });

    const extra = await entries.next();
    if (!extra.done) report.problem(`the bundle holds an unexpected entry ${extra.value.name}`);
  } catch (error) {
    report.problem(error instanceof Error ? error.message : String(error));
  }
  r.ok = r.problemCount === 0;
  return r;
}
