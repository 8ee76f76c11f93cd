// `pnpm vigil`, `pnpm vigil help` and `--help` through the real CLI with no configuration at all:
// help is what someone without a database reads first, so it must not ask for DATABASE_URL.
import { spawnSync } from "node:child_process";
import path from "node:path";
import { REPO_ROOT, TSX_LOADER } from "@vigil/testkit/services";
import { describe, expect, it } from "vitest";

const vigil = (...args: string[]) =>
  spawnSync(
    process.execPath,
    ["--import", TSX_LOADER, path.join(REPO_ROOT, "packages/cli/src/main.ts"), ...args],
    {
      cwd: REPO_ROOT,
      encoding: "utf8",
      // Only what node needs: no DATABASE_URL, no SQS_QUEUE_URL.
      env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "" },
    },
  );

describe("vigil help", () => {
  it.each([["help"], ["--help"], ["-h"]])("%s prints the usage on stdout and exits 0", (flag) => {
    const result = vigil(flag);
    expect(result.status).toBe(0);
    expect(result.stdout).toContain("usage: pnpm vigil <command>");
    expect(result.stdout).toContain("migrate");
    expect(result.stderr).not.toContain("Invalid configuration");
  });

  it("no command prints the usage on stderr and exits 64 (usage error)", () => {
    const result = vigil();
    expect(result.status).toBe(64);
    expect(result.stderr).toContain("usage: pnpm vigil <command>");
    expect(result.stdout).toBe("");
  });
});
