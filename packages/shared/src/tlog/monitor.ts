// `pnpm vigil monitor`: what catches an operator who rewrites history. It fetches the tenant's
// latest checkpoint over HTTP, verifies its signature with keys it already trusts (given, or pinned
// in its state file on first use), and proves it extends the last checkpoint it saw (an RFC 9162
// consistency proof checked against the root it kept, never against anything the server says about
// the past). A smaller tree is a rollback, a different root for the same size or a failing proof is
// a fork; either leaves the state file untouched so the evidence stays.
import { readFile, rename, writeFile } from "node:fs/promises";
import { fromBase64, openCheckpoint, toBase64, verifyConsistency } from "@vigil/verify";

export interface MonitorState {
  tenant_id: string;
  origin: string;
  tree_size: number;
  /** Standard base64. */
  root_hash: string;
  note: string;
  /** Verifier keys trusted for this log (pinned on first use unless given). */
  verifier_keys: string[];
  checked_at: string;
}

export type MonitorVerdict = "first" | "unchanged" | "extended" | "fork" | "rollback" | "bad_signature";

export interface MonitorResult {
  ok: boolean;
  verdict: MonitorVerdict;
  message: string;
  previous?: { tree_size: number; root_hash: string };
  current?: { tree_size: number; root_hash: string };
}

export interface MonitorOptions {
  /** The api's base URL, e.g. http://127.0.0.1:8080. */
  baseUrl: string;
  tenantId: string;
  /** An API key with the read scope, or a bearer token. */
  credential: string;
  stateFile: string;
  /** Trusted verifier keys; default: those pinned in the state file (or, on the very first run, the server's). */
  verifierKeys?: string[];
  fetch?: typeof fetch;
  now?: () => Date;
}

class MonitorHttpError extends Error {}

async function readState(file: string): Promise<MonitorState | null> {
  try {
    return JSON.parse(await readFile(file, "utf8")) as MonitorState;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw new Error(`cannot read the monitor state ${file}: ${(error as Error).message}`);
  }
}

async function writeState(file: string, state: MonitorState): Promise<void> {
  const temporary = `${file}.tmp-${process.pid}`;
  await writeFile(temporary, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o644 });
  await rename(temporary, file);
}

export async function monitorCheckpoints(options: MonitorOptions): Promise<MonitorResult> {
  const fetchImpl = options.fetch ?? fetch;
  const base = options.baseUrl.replace(/\/$/, "");
  const get = async (path: string, accept: string) => {
    const response = await fetchImpl(`${base}${path}`, {
      headers: { Authorization: `Bearer ${options.credential}`, Accept: accept },
    });
    const body = await response.text();
    if (!response.ok)
      throw new MonitorHttpError(`GET ${path}: HTTP ${response.status} ${body.slice(0, 200)}`);
    return body;
  };
  const tenant = encodeURIComponent(options.tenantId);
  const previous = await readState(options.stateFile);
  let keys = options.verifierKeys?.length ? options.verifierKeys : previous?.verifier_keys;
  let pinnedNow = false;
  if (!keys?.length) {
    // Trust on first use: later runs accept only this key (or keys given explicitly).
    keys = [(await get("/api/v1/checkpoints/key", "text/plain")).trim()];
    pinnedNow = true;
  }

  const note = await get(`/api/v1/checkpoints/latest?tenant_id=${tenant}`, "text/plain");
  let checkpoint: Awaited<ReturnType<typeof openCheckpoint>>["checkpoint"];
  try {
    checkpoint = (await openCheckpoint(note, keys)).checkpoint;
  } catch (error) {
    return {
      ok: false,
      verdict: "bad_signature",
      message: `the latest checkpoint is not validly signed by a trusted key (${(error as Error).message}): it was not produced by this log's signer`,
    };
  }
  const current = { tree_size: checkpoint.size, root_hash: toBase64(checkpoint.rootHash) };
  if (!checkpoint.origin.endsWith(`/${options.tenantId}`)) {
    return {
      ok: false,
      verdict: "bad_signature",
      message: `the checkpoint is for origin ${checkpoint.origin}, not tenant ${options.tenantId}`,
      current,
    };
  }
  const save = () =>
    writeState(options.stateFile, {
      tenant_id: options.tenantId,
      origin: checkpoint.origin,
      ...current,
      note,
      verifier_keys: keys,
      checked_at: (options.now?.() ?? new Date()).toISOString(),
    });

  if (!previous) {
    await save();
    return {
      ok: true,
      verdict: "first",
      message: `first checkpoint seen: size ${current.tree_size}${pinnedNow ? `; pinned verifier key ${keys[0]}` : ""}`,
      current,
    };
  }
  const before = { tree_size: previous.tree_size, root_hash: previous.root_hash };
  if (checkpoint.origin !== previous.origin) {
    return {
      ok: false,
      verdict: "fork",
      message: `the log's origin changed from ${previous.origin} to ${checkpoint.origin}`,
      previous: before,
      current,
    };
  }
  if (current.tree_size < before.tree_size) {
    return {
      ok: false,
      verdict: "rollback",
      message: `ROLLBACK: the latest checkpoint has size ${current.tree_size}, but size ${before.tree_size} was seen before; history was removed`,
      previous: before,
      current,
    };
  }
  if (current.tree_size === before.tree_size) {
    if (current.root_hash !== before.root_hash) {
      return {
        ok: false,
        verdict: "fork",
        message: `FORK: two different roots signed for size ${current.tree_size} (seen ${before.root_hash}, now ${current.root_hash}); history was rewritten`,
        previous: before,
        current,
      };
    }
    await save();
    return {
      ok: true,
      verdict: "unchanged",
      message: `unchanged at size ${current.tree_size}`,
      previous: before,
      current,
    };
  }

  let proof: { consistency_path: string[] } = { consistency_path: [] };
  // Every tree extends the empty one (spec §13: the proof from size 0 is empty).
  if (before.tree_size > 0)
    try {
      proof = JSON.parse(
        await get(
          `/api/v1/checkpoints/consistency?tenant_id=${tenant}&from=${before.tree_size}&to=${current.tree_size}`,
          "application/json",
        ),
      );
    } catch (error) {
      if (error instanceof MonitorHttpError) {
        return {
          ok: false,
          verdict: "fork",
          message: `FORK: the log cannot prove size ${current.tree_size} extends size ${before.tree_size} seen before (${error.message})`,
          previous: before,
          current,
        };
      }
      throw error;
    }
  const path = (proof.consistency_path ?? []).map((hash) => fromBase64(hash) ?? new Uint8Array(0));
  const consistent = verifyConsistency(
    before.tree_size,
    current.tree_size,
    path,
    fromBase64(before.root_hash)!,
    checkpoint.rootHash,
  );
  if (!consistent) {
    return {
      ok: false,
      verdict: "fork",
      message: `FORK: the checkpoint of size ${current.tree_size} is not an extension of the one seen at size ${before.tree_size}; history was rewritten`,
      previous: before,
      current,
    };
  }
  await save();
  return {
    ok: true,
    verdict: "extended",
    message: `consistent: size ${before.tree_size} → ${current.tree_size}`,
    previous: before,
    current,
  };
}
