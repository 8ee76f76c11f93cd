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
 * Checks the event's inclusion in the latest signed checkpoint: the checkpoint's signature with
 * the log's verifier key, then the RFC 9162 path from the leaf — built from the hash recomputed
 * here, not the stored one — to the checkpoint's root.
 */
async function checkInclusion(
  verification: Verification,
  computedHash: string,
): Promise<{ state: ProofState; text: string }> {
  type Answer<T> = { status: "ok" } & T;
  type Unavailable = { status: "pending" | "unavailable"; detail: string; request_id: string | null };
  const get = async <T>(url: string) =>
    (await (await fetch(url, { credentials: "same-origin" })).json()) as Answer<T> | Unavailable;
  const unavailable = (answer: Unavailable) => ({
    state: answer.status,
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
  const key = keyAnswer.key;
  const { checkpoint } = await openCheckpoint(proof.checkpoint, [key]);
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
        text: `Included: leaf ${proof.leaf_index} of the checkpoint signed at tree size ${checkpoint.size} (${checkpoint.origin}).`,
      }
    : {
        state: "unproven",
        text: `Not proven: this event as shown is not leaf ${proof.leaf_index} of the signed tree of size ${checkpoint.size}.`,
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
          text: `Not proven: ${error instanceof Error ? error.message : String(error)}`,
        }));
        show(proofOutput, result.state, result.text);
      }
    } catch (error) {
      show(output, "error", `Could not verify: ${error instanceof Error ? error.message : String(error)}`);
    } finally {
      button.disabled = false;
    }
  });
}
