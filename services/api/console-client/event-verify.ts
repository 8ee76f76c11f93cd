// Verify on the event page: recomputes the event's hash in the browser — RFC 8785 canonical JSON
// (the same pure module the server hashes with) and SHA-256 from Web Crypto — and compares it with
// the stored hash. The page hands over the event and the hashed field list (HASHED_FIELDS; the
// schema module itself would bring zod into the browser).
import { canonicalFieldsJson } from "../../../packages/shared/src/events/canonical-json.ts";

interface Verification {
  event: Record<string, unknown> & { hash: string; salt?: string };
  /** The fields the hash covers, without `salt` (added when the event has one). */
  hashed_fields: string[];
}

async function sha256Hex(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return [...new Uint8Array(digest)].map((byte) => byte.toString(16).padStart(2, "0")).join("");
}

export async function recomputeEventHash(verification: Verification): Promise<string> {
  const { event, hashed_fields: fields } = verification;
  return sha256Hex(canonicalFieldsJson(typeof event.salt === "string" ? [...fields, "salt"] : fields)(event));
}

function show(output: HTMLOutputElement, state: "match" | "mismatch" | "error", text: string): void {
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
    } catch (error) {
      show(output, "error", `Could not verify: ${error instanceof Error ? error.message : String(error)}`);
    } finally {
      button.disabled = false;
    }
  });
}
