// Builds @vigil/sdk: ESM and CJS bundles per entry point (the shared redaction module is bundled in,
// so the package has no runtime dependency), their .d.ts/.d.cts, and the `vigil` CLI (Node only,
// with `ws` bundled for Node 20). Run: `pnpm --filter @vigil/sdk build`.
import { execFileSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
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

export async function buildSdk(): Promise<void> {
  rmSync(dist, { recursive: true, force: true });
  for (const format of ["esm", "cjs"] as const) {
    await build({
      entryPoints: ENTRIES.map((name) => path.join(root, "src", `${name}.ts`)),
      outdir: path.join(dist, format),
      outExtension: { ".js": format === "esm" ? ".js" : ".cjs" },
      bundle: true,
      format,
      platform: "neutral",
      target: "es2022",
      external: ["hono", "express"],
      logLevel: "warning",
    });
  }
  await buildCli(path.join(dist, "cli.mjs"));
  execFileSync(path.join(root, "node_modules/.bin/tsc"), ["-p", path.join(root, "tsconfig.build.json")], {
    stdio: "inherit",
  });
  // Declarations: dist/types/sdk/src/*.d.ts → dist/esm/*.d.ts (imports .js) and dist/cjs/*.d.cts (.cjs).
  const typesDir = path.join(dist, "types/sdk/src");
  for (const file of readdirSync(typesDir)) {
    if (!file.endsWith(".d.ts")) continue;
    const text = readFileSync(path.join(typesDir, file), "utf8");
    if (/from "\.\.\//.test(text)) throw new Error(`${file}: a public type refers outside the SDK`);
    const base = file.slice(0, -".d.ts".length);
    writeFileSync(path.join(dist, "esm", `${base}.d.ts`), text.replace(/(from "\.\/[^"]+)\.ts"/g, '$1.js"'));
    writeFileSync(
      path.join(dist, "cjs", `${base}.d.cts`),
      text.replace(/(from "\.\/[^"]+)\.ts"/g, '$1.cjs"'),
    );
  }
  rmSync(path.join(dist, "types"), { recursive: true, force: true });
  if (!existsSync(path.join(dist, "cli.mjs"))) throw new Error("the CLI bundle is missing");
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  await buildSdk();
  console.log(`built ${dist}`);
}
