// C2SP tlog-checkpoint: the signed statement of a tree, `<origin>\n<size>\n<root, base64>\n`
// optionally followed by extension lines. Vigil's origin is `<VIGIL_LOG_ORIGIN>/<tenant_id>`.
import { fromBase64, toBase64 } from "./encoding.ts";
import { HASH_SIZE, type Hash } from "./merkle-hash.ts";
import { isTreeSize } from "./tree-math.ts";

export interface Checkpoint {
  origin: string;
  size: number;
  rootHash: Hash;
  /** Extension lines after the root (without their newlines); Vigil writes none. */
  extensions?: string[];
}

export class CheckpointError extends Error {
  override readonly name = "CheckpointError";
}

/** The checkpoint body (the text a signed note signs), ending in a newline. */
export function formatCheckpoint(checkpoint: Checkpoint): string {
  const { origin, size, rootHash, extensions = [] } = checkpoint;
  if (origin === "" || /[\n\r]/.test(origin))
    throw new CheckpointError("the origin must be one non-empty line");
  if (!isTreeSize(size)) throw new CheckpointError(`invalid tree size ${size}`);
  if (rootHash.length !== HASH_SIZE) throw new CheckpointError("the root hash is not 32 bytes");
  for (const line of extensions) {
    if (line === "" || line.includes("\n"))
      throw new CheckpointError("an extension line must be one non-empty line");
  }
  return [origin, String(size), toBase64(rootHash), ...extensions].map((line) => `${line}\n`).join("");
}

/** Parses a checkpoint body (the note text, without signatures); strict about each line's form. */
export function parseCheckpoint(text: string): Checkpoint {
  if (!text.endsWith("\n")) throw new CheckpointError("a checkpoint ends with a newline");
  const lines = text.slice(0, -1).split("\n");
  const [origin, sizeText, rootText, ...extensions] = lines;
  if (origin === undefined || sizeText === undefined || rootText === undefined) {
    throw new CheckpointError("a checkpoint has at least three lines");
  }
  if (origin === "") throw new CheckpointError("the checkpoint origin is empty");
  if (!/^(0|[1-9][0-9]*)$/.test(sizeText) || !isTreeSize(Number(sizeText))) {
    throw new CheckpointError("the checkpoint size is not a decimal tree size");
  }
  const rootHash = fromBase64(rootText);
  if (rootHash?.length !== HASH_SIZE)
    throw new CheckpointError("the checkpoint root is not a base64 32-byte hash");
  if (extensions.some((line) => line === "")) throw new CheckpointError("a checkpoint has no blank lines");
  return { origin, size: Number(sizeText), rootHash, extensions };
}
