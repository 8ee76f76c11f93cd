// The published shape of @vigil/sdk: the build writes ESM and CJS with types for ".", "./hono" and
// "./express"; publint and @arethetypeswrong/cli (node16 and bundler resolution) find no problem;
// the core bundle has no import of a Node built-in or any package; the `vigil` bin runs.
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import path from "node:path";
import { promisify } from "node:util";
import type { StoredEvent as ServerStoredEvent } from "@vigil/shared/events/event-schema";
import { beforeAll, describe, expect, expectTypeOf, test } from "vitest";
import { buildSdk } from "../scripts/build.ts";
import type { StoredEvent } from "../src/index.ts";

const run = promisify(execFile);
const root = path.resolve(import.meta.dirname, "..");
const bin = (name: string) => path.join(root, "node_modules/.bin", name);

describe("the @vigil/sdk package", () => {
  beforeAll(async () => {
    await buildSdk();
  }, 120_000);

  test("publint and arethetypeswrong report no problem", async () => {
    const publint = await run(bin("publint"), ["--pack", "npm", "--strict"], { cwd: root });
    expect(publint.stdout).toContain("All good!");
    const attw = await run(bin("attw"), ["--pack", ".", "--profile", "node16", "--format", "json"], {
      cwd: root,
    });
    const report = JSON.parse(attw.stdout);
    // node10 resolution has no `exports`, so subpaths cannot resolve there; the node16 profile ignores it.
    const problems = (report.analysis.problems ?? []).filter(
      (problem: { resolutionKind?: string }) => problem.resolutionKind !== "node10",
    );
    expect(problems).toEqual([]);
  }, 60_000);

  test("the core bundles import nothing: no package, no node: built-in", () => {
    for (const file of ["esm/index.js", "esm/hono.js", "esm/express.js", "cjs/index.cjs"]) {
      const code = readFileSync(path.join(root, "dist", file), "utf8");
      const imports = [...code.matchAll(/(?:from\s*|import\s*\(|require\()\s*["']([^"']+)["']/g)].map(
        (match) => match[1],
      );
      const allowed = file.includes("hono") ? ["hono"] : file.includes("express") ? ["express"] : [];
      expect(
        imports.filter((name) => !allowed.includes(name!)),
        file,
      ).toEqual([]);
    }
  });

  test("both module formats load and agree", async () => {
    const esm = await import(path.join(root, "dist/esm/index.js"));
    const cjs = (
      await run(
        process.execPath,
        ["-e", "console.log(Object.keys(require('./dist/cjs/index.cjs')).sort().join(','))"],
        { cwd: root },
      )
    ).stdout.trim();
    expect(Object.keys(esm).sort().join(",")).toBe(cjs);
    const client = new esm.VigilClient({ baseUrl: "http://127.0.0.1:9", apiKey: "vgl_x" });
    expect(
      client.log({ action_type: "VIEW", resource_type: "a", resource_id: "b", metadata: { token: "t" } }),
    ).toMatchObject({ accepted: true });
    expect((await client.shutdown({ timeoutMs: 10 })).pending).toBe(1);
  });

  test("the vigil bin prints its help and exits 0", async () => {
    const help = await run(process.execPath, [path.join(root, "dist/cli.mjs"), "--help"]);
    expect(help.stdout).toMatch(/^usage: vigil <command>/);
  });

  test("the SDK's StoredEvent is the server's", () => {
    expectTypeOf<StoredEvent>().toEqualTypeOf<ServerStoredEvent>();
  });
});
