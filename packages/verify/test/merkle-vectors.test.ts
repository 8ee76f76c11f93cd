// Every inclusion and consistency case of the transparency-dev/merkle vectors
// (../shared/testdata/merkle-vectors): the valid ones verify, every mutation fails.
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { fromBase64, verifyConsistency, verifyInclusion } from "../src/index.ts";

const VECTORS = path.resolve(import.meta.dirname, "../../../../shared/testdata/merkle-vectors");

function jsonFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const full = path.join(dir, name);
    return statSync(full).isDirectory() ? jsonFiles(full) : name.endsWith(".json") ? [full] : [];
  });
}

/** Vectors hold some deliberately malformed base64 ("don't care"); decode leniently as Go does. */
function bytes(text: string): Uint8Array {
  return fromBase64(text) ?? new Uint8Array(Buffer.from(text, "base64"));
}

// The vectors live in the project's shared/ folder beside the checkout (CI lays it there); a clone
// without it says so instead of failing on a missing folder.
const HAVE_VECTORS = existsSync(VECTORS);
if (!HAVE_VECTORS) console.warn(`merkle-vectors test skipped: ${VECTORS} is not beside this checkout`);

describe.skipIf(!HAVE_VECTORS)("RFC 9162 proof verification against the transparency-dev vectors", () => {
  // Listed only when present: a skipped describe still runs its body to collect the tests.
  const inclusion = HAVE_VECTORS ? jsonFiles(path.join(VECTORS, "inclusion")) : [];
  const consistency = HAVE_VECTORS ? jsonFiles(path.join(VECTORS, "consistency")) : [];

  it("finds the vector files", () => {
    expect(inclusion.length).toBeGreaterThan(50);
    expect(consistency.length).toBeGreaterThan(50);
  });

  it.each(inclusion.map((file) => [path.relative(VECTORS, file), file]))("inclusion %s", (_name, file) => {
    const c = JSON.parse(readFileSync(file, "utf8"));
    const ok = verifyInclusion(
      bytes(c.leafHash),
      c.leafIdx,
      c.treeSize,
      (c.proof ?? []).map(bytes),
      bytes(c.root),
    );
    expect(ok).toBe(!c.wantErr);
  });

  it.each(
    consistency.map((file) => [path.relative(VECTORS, file), file]),
  )("consistency %s", (_name, file) => {
    const c = JSON.parse(readFileSync(file, "utf8"));
    const ok = verifyConsistency(
      c.size1,
      c.size2,
      (c.proof ?? []).map(bytes),
      bytes(c.root1),
      bytes(c.root2),
    );
    expect(ok).toBe(!c.wantErr);
  });
});
