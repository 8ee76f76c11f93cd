// `pnpm vigil checkpoint-key new` through the real CLI: a signer key for CHECKPOINT_SIGNING_KEY and
// the verifier key that opens what it signs (and nothing signed by another key).
import { execFileSync } from "node:child_process";
import path from "node:path";
import { REPO_ROOT, TSX_LOADER } from "@vigil/testkit/services";
import { openNote, parseSignerKey, signNote } from "@vigil/verify";
import { describe, expect, it } from "vitest";

const newKey = (name: string) =>
  execFileSync(
    process.execPath,
    [
      "--import",
      TSX_LOADER,
      path.join(REPO_ROOT, "packages/cli/src/main.ts"),
      "checkpoint-key",
      "new",
      "--name",
      name,
    ],
    {
      cwd: REPO_ROOT,
      encoding: "utf8",
    },
  )
    .trim()
    .split("\n");

describe("vigil checkpoint-key new", () => {
  it("prints a signer key and the verifier key that opens its notes", async () => {
    const [signer, verifier] = newKey("vigil.example.com/log");
    expect(signer).toMatch(/^PRIVATE\+KEY\+vigil\.example\.com\/log\+[0-9a-f]{8}\+/);
    expect(verifier).toMatch(/^vigil\.example\.com\/log\+[0-9a-f]{8}\+/);
    const note = await signNote("vigil.example.com/log/t\n1\nAAAA\n", await parseSignerKey(signer!));
    expect((await openNote(note, [verifier!])).text).toContain("vigil.example.com/log/t");
    const [, otherVerifier] = newKey("vigil.example.com/log");
    await expect(openNote(note, [otherVerifier!])).rejects.toThrow();
  });
});
