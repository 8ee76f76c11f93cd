// Builds @vigil/sdk: ESM and CJS bundles per entry point (the shared redaction module is bundled in,
// so the package has no runtime dependency), their .d.ts/.d.cts, and the `vigil` CLI (Node only,
// with `ws` bundled for Node 20). Run: `pnpm --filter @vigil/sdk build`.
import { execFileSync } from "node:child_process";
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const dist = path.join(root, "dist");
const ENTRIES = ["index", "hono", "express"];

/** The `vigil` CLI as one Node file (`ws` and @vigil/verify bundled in). */
export async function buildCli(outfile: string): Promise<void> {
  await build({
    entryPoints: [path.join(root, "src/cli/cli-main.ts")],
    outfile,
    bundle: true,
    format: "esm",
    platform: "node",
    target: "node20",
    external: ["bufferutil", "utf-8-validate"],
    banner: {
      js: "#!/usr/bin/env node\nimport { createRequire as __vigilCreateRequire } from 'node:module'; const require = __vigilCreateRequire(import.meta.url);",
    },
    logLevel: "warning",
  });
}

/** Minified and min+gzip bytes of each entry point as an app bundler would ship it. */
export async function bundleSizes(): Promise<Record<string, { minified: number; gzip: number }>> {
  const { gzipSync } = await import("node:zlib");
  const sizes: Record<string, { minified: number; gzip: number }> = {};
  for (const entry of ENTRIES) {
    const output = await build({
      entryPoints: [path.join(root, "src", `${entry}.ts`)],
      bundle: true,
      minify: true,
      format: "esm",
      platform: "neutral",
      external: ["hono", "express"],
      write: false,
    });
    const code = output.outputFiles[0]!.contents;
    sizes[entry] = { minified: code.byteLength, gzip: gzipSync(code, { level: 9 }).byteLength };
  }
  return sizes;
}

/**
 * Builds into a private staging directory, then moves each file into dist/ with a rename: builds that
 * overlap (test files in parallel, both examples' `start`, the benchmark) and anything reading dist/
 * meanwhile never see a missing or half-written file; the sources are the same, so is the output.
 */
export async function buildSdk(): Promise<void> {
  const staging = mkdtempSync(path.join(tmpdir(), "vigil-sdk-build-"));
  try {
    for (const format of ["esm", "cjs"] as const) {
      await build({
        entryPoints: ENTRIES.map((name) => path.join(root, "src", `${name}.ts`)),
        outdir: path.join(staging, format),
        outExtension: { ".js": format === "esm" ? ".js" : ".cjs" },
        bundle: true,
        format,
        platform: "neutral",
        target: "es2022",
        external: ["hono", "express"],
        logLevel: "warning",
      });
    }
    await buildCli(path.join(staging, "cli.mjs"));
    const typesRoot = path.join(staging, "types");
    execFileSync(
      path.join(root, "node_modules/.bin/tsc"),
      ["-p", path.join(root, "tsconfig.build.json"), "--outDir", typesRoot],
      { stdio: "inherit" },
    );
    // Declarations: types/sdk/src/*.d.ts → esm/*.d.ts (imports .js) and cjs/*.d.cts (.cjs).
    const typesDir = path.join(typesRoot, "sdk/src");
    for (const file of readdirSync(typesDir)) {
      if (!file.endsWith(".d.ts")) continue;
      const text = readFileSync(path.join(typesDir, file), "utf8");
      if (/from "\.\.\//.test(text)) throw new Error(`${file}: a public type refers outside the SDK`);
      const base = file.slice(0, -".d.ts".length);
      writeFileSync(
        path.join(staging, "esm", `${base}.d.ts`),
        text.replace(/(from "\.\/[^"]+)\.ts"/g, '$1.js"'),
      );
      writeFileSync(
        path.join(staging, "cjs", `${base}.d.cts`),
        text.replace(/(from "\.\/[^"]+)\.ts"/g, '$1.cjs"'),
      );
    }
    rmSync(typesRoot, { recursive: true, force: true });
    if (!existsSync(path.join(staging, "cli.mjs"))) throw new Error("the CLI bundle is missing");
    publish(staging, dist);
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
}

/** Moves every file of `from` into `to` (each replaced in one rename), then removes files `to` no longer has. */
function publish(from: string, to: string): void {
  const built = new Set<string>();
  for (const relative of filesUnder(from)) {
    const target = path.join(to, relative);
    mkdirSync(path.dirname(target), { recursive: true });
    try {
      renameSync(path.join(from, relative), target);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EXDEV") throw error;
      // Another filesystem: copy beside the target first, so the replacing step is still a rename.
      const beside = `${target}.${process.pid}.tmp`;
      copyFileSync(path.join(from, relative), beside);
      renameSync(beside, target);
    }
    built.add(relative);
  }
  for (const relative of filesUnder(to)) {
    if (!built.has(relative) && !relative.endsWith(".tmp")) rmSync(path.join(to, relative), { force: true });
  }
}

function filesUnder(directory: string): string[] {
  if (!existsSync(directory)) return [];
  return readdirSync(directory, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => path.relative(directory, path.join(entry.parentPath, entry.name)));
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  await buildSdk();
  console.log(`built ${dist}`);
}
