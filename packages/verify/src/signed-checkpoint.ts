// A checkpoint as published: the checkpoint body signed as a note. One call each way.
import { type Checkpoint, formatCheckpoint, parseCheckpoint } from "./checkpoint.ts";
import { type NoteSigner, type OpenedNote, openNote, signNote, type VerifierKey } from "./signed-note.ts";

export async function signCheckpoint(
  checkpoint: Checkpoint,
  signers: NoteSigner | readonly NoteSigner[],
): Promise<string> {
  return signNote(formatCheckpoint(checkpoint), signers);
}

/** Opens a signed checkpoint with the trusted keys and parses it; throws NoteError or CheckpointError. */
export async function openCheckpoint(
  note: string,
  keys: ReadonlyArray<string | VerifierKey>,
): Promise<{ checkpoint: Checkpoint; note: OpenedNote }> {
  const opened = await openNote(note, keys);
  return { checkpoint: parseCheckpoint(opened.text), note: opened };
}
