// The console's browser scripts and styles, served from /console/assets with nothing from a CDN.
// From the sources (pnpm start, tests) the scripts are bundled by esbuild in memory when the api
// starts; `pnpm build` writes the same bundles next to the api's bundle (dist/console), which is
// what a built api serves. uPlot's stylesheet is served from the pinned npm package.
import { createHash } from "node:crypto";
import { copyFile, readFile } from "node:fs/promises";
import { createRequire as requireFromModule } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";

/** Browser entry points, by the name they are served under. */
export const CONSOLE_SCRIPTS = {
  "event-verify.js": "event-verify.ts",
  "live-tail.js": "live-tail.ts",
  "stats-chart.js": "stats-chart.ts",
  "vigil-log-viewer.js": "vigil-log-viewer.ts",
} as const;

const HERE = path.dirname(fileURLToPath(import.meta.url));
/** Running from `pnpm build`'s single-file bundle (dist/main.mjs) rather than the TypeScript sources. */
const FROM_BUNDLE = fileURLToPath(import.meta.url).endsWith(".mjs");
const CLIENT_DIR = path.resolve(HERE, "../../console-client");
/** Not `require`: the built bundle declares its own top-level `require` (build-services.ts banner). */
const resolveFromHere = requireFromModule(import.meta.url);

export interface ConsoleAsset {
  body: Uint8Array;
  contentType: string;
  etag: string;
}

function asset(body: Uint8Array, contentType: string): ConsoleAsset {
  return {
    body,
    contentType,
    etag: `"${createHash("sha256").update(body).digest("base64url").slice(0, 22)}"`,
  };
}

/** Bundles every browser script; `outdir` writes them (pnpm build), otherwise they stay in memory. */
export async function bundleConsoleScripts(outdir?: string): Promise<Map<string, Uint8Array>> {
  // Imported here, not at the top: a built api never bundles at run time (esbuild is a dev tool).
  const esbuildModule = "esbuild";
  const { build } = (await import(esbuildModule)) as typeof import("esbuild");
  const result = await build({
    entryPoints: Object.fromEntries(
      Object.entries(CONSOLE_SCRIPTS).map(([name, source]) => [
        name.replace(/\.js$/, ""),
        path.join(CLIENT_DIR, source),
      ]),
    ),
    outdir: outdir ?? "/console-assets",
    write: outdir !== undefined,
    bundle: true,
    format: "esm",
    platform: "browser",
    target: "es2022",
    minify: true,
    legalComments: "none",
    logLevel: "warning",
  });
  const files = new Map<string, Uint8Array>();
  for (const name of Object.keys(CONSOLE_SCRIPTS)) {
    files.set(name, outdir ? await readFile(path.join(outdir, name)) : new Uint8Array());
  }
  for (const file of result.outputFiles ?? []) files.set(path.basename(file.path), file.contents);
  return files;
}

/** Where `pnpm build` puts the console's files, beside dist/main.mjs. */
export function builtConsoleDir(bundleDir: string): string {
  return path.join(bundleDir, "console");
}

/** `pnpm build`: the console's scripts and stylesheet beside the api's bundle in `bundleDir`. */
export async function writeConsoleAssets(bundleDir: string): Promise<void> {
  const dir = builtConsoleDir(bundleDir);
  await bundleConsoleScripts(dir);
  await copyFile(path.join(CLIENT_DIR, "console.css"), path.join(dir, "console.css"));
}

export class ConsoleAssets {
  private loaded: Promise<Map<string, ConsoleAsset>> | null = null;

  /** Starts loading at once, so the first page does not wait for the bundler. */
  load(): Promise<Map<string, ConsoleAsset>> {
    this.loaded ??= (async () => {
      const assets = new Map<string, ConsoleAsset>();
      const scripts = FROM_BUNDLE
        ? new Map(
            await Promise.all(
              Object.keys(CONSOLE_SCRIPTS).map(
                async (name) => [name, await readFile(path.join(builtConsoleDir(HERE), name))] as const,
              ),
            ),
          )
        : await bundleConsoleScripts();
      for (const [name, body] of scripts) assets.set(name, asset(body, "text/javascript; charset=utf-8"));
      const css = FROM_BUNDLE
        ? await readFile(path.join(builtConsoleDir(HERE), "console.css"))
        : await readFile(path.join(CLIENT_DIR, "console.css"));
      assets.set("console.css", asset(css, "text/css; charset=utf-8"));
      const uplotCss = await readFile(resolveFromHere.resolve("uplot/dist/uPlot.min.css"));
      assets.set("uplot.css", asset(uplotCss, "text/css; charset=utf-8"));
      return assets;
    })();
    return this.loaded;
  }
}

/** The pinned Scalar API reference bundle for /docs (read once, on first use). */
let scalarBundle: Promise<ConsoleAsset> | null = null;
export function scalarReferenceBundle(): Promise<ConsoleAsset> {
  scalarBundle ??= (async () => {
    const entry = resolveFromHere.resolve("@scalar/api-reference");
    const file = path.join(path.dirname(entry), "browser/standalone.js");
    return asset(await readFile(file), "text/javascript; charset=utf-8");
  })();
  return scalarBundle;
}
