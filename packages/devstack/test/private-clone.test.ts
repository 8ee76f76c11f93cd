// The README's start command from a fresh clone in a private (0700) folder, as root: embedded
// PostgreSQL runs as the OS user `postgres`, which cannot reach anything inside such a folder, so
// its binaries and data must live elsewhere (see embedded-postgres.ts). The clone installs from
// pnpm's local store (the same lockfile, no download) and runs `pnpm start` until /readyz answers.
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { REPO_ROOT, startLauncher } from "@vigil/testkit";
import { afterAll, describe, expect, test } from "vitest";

const isRoot = typeof process.getuid === "function" && process.getuid() === 0;
const cleanups: string[] = [];
afterAll(() => {
  for (const dir of cleanups) rmSync(dir, { recursive: true, force: true });
});

describe.skipIf(!isRoot)(
  "a fresh clone in a private folder, as root (skipped when not root: nothing to prove)",
  () => {
    test("pnpm install --frozen-lockfile && pnpm start reaches /readyz, and Ctrl-C stops it", async () => {
      const parent = mkdtempSync(path.join(tmpdir(), "vigil-private-"));
      cleanups.push(parent);
      expect(statSync(parent).mode & 0o777).toBe(0o700);
      const checkout = path.join(parent, "vigil");
      execFileSync("git", ["clone", "-q", REPO_ROOT, checkout], { stdio: "pipe" });
      // The README's first command; --prefer-offline takes every package from the local store.
      execFileSync("npx", ["-y", "pnpm@10", "install", "--frozen-lockfile", "--prefer-offline"], {
        cwd: checkout,
        stdio: "pipe",
        timeout: 60_000,
      });

      const launcher = await startLauncher({
        stateDir: path.join(checkout, ".vigil"),
        cwd: checkout,
        command: ["npx", "-y", "pnpm@10", "start"],
      });
      try {
        const moved = await launcher.waitFor(/data goes to (\S+)/, 60_000, true);
        cleanups.push(moved[1]!); // the data folder PostgreSQL can reach, outside the private one
        await launcher.waitFor(/press Ctrl-C/, 90_000, true);
        const ready = await fetch(`http://127.0.0.1:${launcher.ports.api}/readyz`);
        expect(ready.status).toBe(200);
        expect(launcher.output()).not.toMatch(/EACCES|Unhandled|start failed/);
      } finally {
        launcher.interrupt();
        await launcher.exited;
      }
      expect(launcher.output()).toContain("stopped");
    }, 180_000);
  },
);
