// Verify on the event page: recomputes the event's hash in the browser — RFC 8785 canonical JSON
// (the same pure module the server hashes with) and SHA-256 from Web Crypto — and compares it with
// the stored hash. The page hands over the event and the hashed field list (HASHED_FIELDS; the
// schema module itself would bring zod into the browser).
import { canonicalFieldsJson } from "../../../packages/shared/src/events/canonical-json.ts";
import { fromBase64 } from "../../../packages/verify/src/encoding.ts";
import { eventLeafHash, type Hash } from "../../../packages/verify/src/merkle-hash.ts";
import { verifyInclusion } from "../../../packages/verify/src/merkle-proofs.ts";
import { openCheckpoint } from "../../../packages/verify/src/signed-checkpoint.ts";

interface Verification {
  event: Record<string, unknown> & { hash: string; salt?: string };
  /** The fields the hash covers, without `salt` (added when the event has one). */
  hashed_fields: string[];
  /** The event's inclusion proof and the checkpoint verifier key (absent on the viewer). */
  proof_url?: string;
  key_url?: string;
}

interface InclusionProof {
  leaf_index: number;
  tree_size: number;
  inclusion_path: string[];
  checkpoint: string;
}

type ProofState = "proven" | "unproven" | "pending" | "unavailable";

async function sha256Hex(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return [...new Uint8Array(digest)].map((byte) => byte.toString(16).padStart(2, "0")).join("");
}

export async function recomputeEventHash(verification: Verification): Promise<string> {
  const { event, hashed_fields: fields } = verification;
  return sha256Hex(canonicalFieldsJson(typeof event.salt === "string" ? [...fields, "salt"] : fields)(event));
}

function decodeHash(text: string): Hash {
  const bytes = fromBase64(text);
  if (!bytes || bytes.length !== 32) throw new Error("the proof holds a malformed hash");
  return bytes;
}

/**
 * Which checkpoint verifier key this browser trusts, kept in localStorage (a public key, not a
 * credential): one the user pinned after comparing it out of band, or, until then, the first key
 * this server served (trust on first use), so a later change of the served key is flagged.
 */
const TRUSTED_KEY_STORAGE = "vigil.checkpoint-verifier-key";
const VERIFIER_KEY_SHAPE = /^[^\s+]+\+[0-9a-f]{8}\+[A-Za-z0-9+/]+=*$/;
type TrustHow = "pinned" | "first-seen";
interface TrustedKey {
  key: string;
  how: TrustHow;
  at: string;
}
/** pinned: checked against the user's key; first-seen: TOFU; changed: the served key differs. */
type Trust = TrustHow | "changed" | "unpinned";

function readTrustedKey(): TrustedKey | null {
  try {
    const stored = JSON.parse(localStorage.getItem(TRUSTED_KEY_STORAGE) ?? "null") as TrustedKey | null;
    return stored && typeof stored.key === "string" && VERIFIER_KEY_SHAPE.test(stored.key) ? stored : null;
  } catch {
    return null; // storage blocked (a sandboxed frame): nothing is trusted beyond the served key
  }
}

function writeTrustedKey(value: TrustedKey | null): boolean {
  try {
    if (value) localStorage.setItem(TRUSTED_KEY_STORAGE, JSON.stringify(value));
    else localStorage.removeItem(TRUSTED_KEY_STORAGE);
    return true;
  } catch {
    return false;
  }
}

/** SHA-256 of the verifier key text, hex in groups of four, for reading aloud or comparing. */
export async function keyFingerprint(key: string): Promise<string> {
  return (await sha256Hex(key.trim())).replace(/(.{4})(?=.)/g, "$1 ");
}

let servedKey: string | null = null;

async function showKeyTrust(trust: Trust | null): Promise<void> {
  const trusted = readTrustedKey();
  const byId = (id: string) => document.getElementById(id);
  if (servedKey) {
    byId("served-key")!.textContent = servedKey;
    byId("served-fingerprint")!.textContent = await keyFingerprint(servedKey);
  }
  byId("pinned-key")!.textContent = trusted
    ? `${trusted.key} (${trusted.how === "pinned" ? "pinned" : "first seen, not pinned"} ${trusted.at})`
    : "none";
  const status = byId("key-status") as HTMLOutputElement | null;
  if (!status) return;
  const state: Trust | "unknown" =
    trust ?? (!trusted ? "unknown" : servedKey && servedKey !== trusted.key ? "changed" : trusted.how);
  status.dataset.trust = state;
  status.textContent = {
    pinned: "pinned in this browser",
    "first-seen": "not pinned (trusted on first use)",
    changed: "CHANGED since you trusted it",
    unpinned: "not pinned",
    unknown: "not checked yet",
  }[state];
}

/**
 * Checks the event's inclusion in the latest signed checkpoint: the checkpoint's signature with
 * the verifier key this browser trusts (pinned, or first seen), then the RFC 9162 path from the
 * leaf — built from the hash recomputed here, not the stored one — to the checkpoint's root.
 */
async function checkInclusion(
  verification: Verification,
  computedHash: string,
): Promise<{ state: ProofState; text: string; trust: Trust | null }> {
  type Answer<T> = { status: "ok" } & T;
  type Unavailable = { status: "pending" | "unavailable"; detail: string; request_id: string | null };
  const get = async <T>(url: string) =>
    (await (await fetch(url, { credentials: "same-origin" })).json()) as Answer<T> | Unavailable;
  const unavailable = (answer: Unavailable) => ({
    state: answer.status,
    trust: null,
    text:
      answer.status === "pending"
        ? "Not yet in a signed checkpoint; verify again in a minute."
        : `Inclusion proof unavailable: ${answer.detail}${answer.request_id ? ` (request id ${answer.request_id})` : ""}`,
  });
  const proofAnswer = await get<{ proof: InclusionProof }>(verification.proof_url!);
  if (proofAnswer.status !== "ok") return unavailable(proofAnswer);
  const keyAnswer = await get<{ key: string }>(verification.key_url!);
  if (keyAnswer.status !== "ok") return unavailable(keyAnswer);
  const { proof } = proofAnswer;
  servedKey = keyAnswer.key.trim();
  const servedPrint = await keyFingerprint(servedKey);
  let trusted = readTrustedKey();
  if (!trusted) {
    const firstSeen: TrustedKey = { key: servedKey, how: "first-seen", at: new Date().toISOString() };
    if (writeTrustedKey(firstSeen)) trusted = firstSeen;
  }
  const trust: Trust = !trusted ? "unpinned" : trusted.key !== servedKey ? "changed" : trusted.how;
  const caveat = {
    pinned: `Verified against your pinned key (fingerprint ${servedPrint}).`,
    "first-seen": `Checked against the key this server served when you first verified here (trust on first use), not a key you pinned: compare its fingerprint ${servedPrint} with one obtained out of band, then pin it.`,
    unpinned: `Checked only against the key this server serves (fingerprint ${servedPrint}); that proves nothing against the server's own operator. Compare the fingerprint out of band.`,
    changed: `Key changed: this server now serves a key with fingerprint ${servedPrint}, not the one you trusted (fingerprint ${trusted ? await keyFingerprint(trusted.key) : "?"}); the checkpoint was checked against the key you trusted.`,
  }[trust];
  let checkpoint: Awaited<ReturnType<typeof openCheckpoint>>["checkpoint"];
  try {
    ({ checkpoint } = await openCheckpoint(proof.checkpoint, [trusted?.key ?? servedKey]));
  } catch {
    return {
      state: "unproven",
      trust,
      text: `Not proven: the latest checkpoint is not signed by the key you trusted. ${caveat}`,
    };
  }
  const event = verification.event;
  const leaf = eventLeafHash(Number(event.seq), String(event.id), computedHash);
  const included =
    checkpoint.size === proof.tree_size &&
    checkpoint.origin.endsWith(`/${String(event.tenant_id)}`) &&
    verifyInclusion(
      leaf,
      proof.leaf_index,
      proof.tree_size,
      proof.inclusion_path.map(decodeHash),
      checkpoint.rootHash,
    );
  return included
    ? {
        state: "proven",
        trust,
        text: `Included: leaf ${proof.leaf_index} of the checkpoint signed at tree size ${checkpoint.size} (${checkpoint.origin}). ${caveat}`,
      }
    : {
        state: "unproven",
        trust,
        text: `Not proven: this event as shown is not leaf ${proof.leaf_index} of the signed tree of size ${checkpoint.size}. ${caveat}`,
      };
}

function show(output: HTMLOutputElement, state: string, text: string): void {
  output.dataset.state = state;
  output.className = `verdict verdict-${state}`;
  output.textContent = text;
}

const button = document.getElementById("verify-button") as HTMLButtonElement | null;
const output = document.getElementById("verify-result") as HTMLOutputElement | null;
if (button && output) {
  button.addEventListener("click", async () => {
    button.disabled = true;
    try {
      const verification = JSON.parse(button.dataset.verification ?? "{}") as Verification;
      const computed = await recomputeEventHash(verification);
      if (computed === verification.event.hash)
        show(output, "match", `Match: the recomputed hash ${computed} equals the stored hash.`);
      else
        show(
          output,
          "mismatch",
          `Mismatch: the event's fields hash to ${computed}, but the stored hash is ${verification.event.hash}. This event was changed after it was stored.`,
        );
      const proofOutput = document.getElementById("proof-result") as HTMLOutputElement | null;
      if (proofOutput && verification.proof_url) {
        const result = await checkInclusion(verification, computed).catch((error: unknown) => ({
          state: "unproven" as const,
          trust: null,
          text: `Not proven: ${error instanceof Error ? error.message : String(error)}`,
        }));
        show(proofOutput, result.state, result.text);
        proofOutput.dataset.trust = result.trust ?? "";
        await showKeyTrust(result.trust);
      }
    } catch (error) {
      show(output, "error", `Could not verify: ${error instanceof Error ? error.message : String(error)}`);
    } finally {
      button.disabled = false;
    }
  });
}

const pinButton = document.getElementById("pin-button") as HTMLButtonElement | null;
const pinInput = document.getElementById("pin-input") as HTMLInputElement | null;
pinButton?.addEventListener("click", () => {
  const key = pinInput?.value.trim() || servedKey;
  if (!key || !VERIFIER_KEY_SHAPE.test(key)) {
    const status = document.getElementById("key-status");
    if (status) status.textContent = key ? "that is not a verifier key (name+keyid+base64)" : "verify first";
    return;
  }
  writeTrustedKey({ key, how: "pinned", at: new Date().toISOString() });
  if (pinInput) pinInput.value = "";
  void showKeyTrust(null);
});
document.getElementById("unpin-button")?.addEventListener("click", () => {
  writeTrustedKey(null);
  void showKeyTrust(null);
});
if (document.getElementById("key-trust")) void showKeyTrust(null);
