// Builds the published package into dist/: an ESM and a CommonJS bundle of the library (no
// dependencies, platform-neutral), declaration files for both, and the CLI. With --check, also
// stages the package exactly as `pnpm publish` would (publishConfig applied) and runs publint and
// @arethetypeswrong/cli on it.
import { execFileSync } from "node:child_process";
import { chmodSync, cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { build } from "esbuild";

const root = path.resolve(import.meta.dirname, "..");
const dist = path.join(root, "dist");
const bin = (name: string) => path.join(root, "node_modules", ".bin", name);

export async function buildPackage(): Promise<void> {
  rmSync(dist, { recursive: true, force: true });
  const common = { bundle: true, target: "es2022", sourcemap: false, logLevel: "warning" as const };
  await build({
    ...common,
    entryPoints: [path.join(root, "src/index.ts")],
    platform: "neutral",
    format: "esm",
    outfile: path.join(dist, "esm/index.js"),
  });
  await build({
    ...common,
    entryPoints: [path.join(root, "src/index.ts")],
    platform: "neutral",
    format: "cjs",
    outfile: path.join(dist, "cjs/index.js"),
  });
  writeFileSync(path.join(dist, "cjs/package.json"), `${JSON.stringify({ type: "commonjs" })}\n`);
  await build({
    ...common,
    entryPoints: [path.join(root, "src/cli.ts")],
    platform: "node",
    format: "esm",
    banner: { js: "#!/usr/bin/env node" },
    outfile: path.join(dist, "cli.js"),
  });
  chmodSync(path.join(dist, "cli.js"), 0o755);

  // Declarations: emitted once, specifiers rewritten from .ts to .js, copied beside each bundle (the
  // CommonJS copy sits under dist/cjs/package.json's "type": "commonjs", so it types a CJS module).
  const types = path.join(dist, "types");
  execFileSync(bin("tsc"), ["-p", path.join(root, "tsconfig.build.json"), "--outDir", types], {
    stdio: "inherit",
  });
  for (const file of readdirSync(types)) {
    const text = readFileSync(path.join(types, file), "utf8").replace(/(from\s+"\.\/[^"]+)\.ts"/g, '$1.js"');
    writeFileSync(path.join(dist, "esm", file), text);
    writeFileSync(path.join(dist, "cjs", file), text);
  }
  rmSync(types, { recursive: true });
}

/** The package as published: package.json with publishConfig applied, README, dist. */
export function stagePackage(): string {
  const stage = mkdtempSync(path.join(tmpdir(), "vigil-verify-pack-"));
  const manifest = JSON.parse(readFileSync(path.join(root, "package.json"), "utf8"));
  const { publishConfig, devDependencies: _dev, scripts: _scripts, ...published } = manifest;
  writeFileSync(
    path.join(stage, "package.json"),
    `${JSON.stringify({ ...published, ...publishConfig }, null, 2)}\n`,
  );
  cpSync(path.join(root, "README.md"), path.join(stage, "README.md"));
  cpSync(dist, path.join(stage, "dist"), { recursive: true });
  return stage;
}

export function checkPackage(stage: string): void {
  execFileSync(bin("publint"), ["run", stage, "--strict"], { stdio: "inherit" });
  execFileSync(bin("attw"), ["--pack", stage, "--format", "table-flipped"], { stdio: "inherit" });
}

if (process.argv[1] === import.meta.filename) {
  await buildPackage();
  if (process.argv.includes("--check")) {
    const stage = stagePackage();
    try {
      checkPackage(stage);
    } finally {
      rmSync(stage, { recursive: true, force: true });
    }
  }
}
