// `pnpm build`: each service (api, worker, streamer) as one ES module, services/<name>/dist/main.mjs,
// run with plain `node` — what the Docker image and the benchmark run. TypeScript is compiled once
// here instead of by the tsx loader at every start, which saves ~70 MB of RSS per process (the
// loader's compiler and caches). Dependencies are bundled too: under pnpm a service's folder can only
// resolve its own direct dependencies, not those of @vigil/shared. Tests and `pnpm start` keep
// running the sources through tsx.
import path from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import { writeConsoleAssets } from "../../../services/api/src/console/console-assets.ts";

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");

export const BUILT_SERVICES = ["api", "worker", "streamer"] as const;
export type BuiltService = (typeof BUILT_SERVICES)[number];

/**
 * Node flags each built service runs with (its package.json `start` script, and testkit's "built"
 * runtime). The api's heap maximum: V8 sizes heap growth to it, and the default follows the
 * machine's memory (~4 GB here), so a streamed export — ~5 MB of short-lived objects per 1,000 rows,
 * 20–45 MB live — let ~100 MB of garbage pile up before a full collection (peak RSS ~220 MB). At
 * 512 MB the peak is ~140 MB for ~6% more CPU per row (A/B on 100,000-row exports). The api's live
 * heap must stay below it: that is ~12 concurrent 8 MB bulk requests; raise it with the container.
 * A larger young generation (semi-space): ingest makes short-lived garbage per event (parsed bodies,
 * canonical JSON, queue messages) and V8 sizes the young generation from the heap limit (4 MB for
 * the api's 512 MB, 16 MB by default), so both scavenged constantly (GC 17–21% of their CPU). 64 MB
 * for both (A/B, bench/results/ingest-2026-12-07-semispace.md): end to end 7,658 → 8,479 events/s,
 * api CPU per 1,000 bulk events 45–62 → 33–49 ms, single POSTs 2,842 → 3,471 req/s; but after
 * ingest the api's export peak RSS reached 209 MB (bench/results/2026-12-07-session20.md, target
 * 200). The api takes 16 MB: 187 MB peak, single POSTs 3,297 req/s, 40–51 CPU ms per 1,000
 * events (bench/results/2026-12-07-session20-api16.md); the worker, which exports nothing, 64 MB.
 */
export const SERVICE_NODE_FLAGS: Record<BuiltService, readonly string[]> = {
  api: ["--max-old-space-size=512", "--max-semi-space-size=16"],
  worker: ["--max-semi-space-size=64"],
  streamer: [],
};

/** Where `pnpm build` writes a service's bundle. */
export function serviceBundlePath(name: BuiltService): string {
  return path.join(REPO_ROOT, "services", name, "dist/main.mjs");
}

export async function buildServices(names: readonly BuiltService[] = BUILT_SERVICES): Promise<void> {
  await Promise.all(
    names.map((name) =>
      build({
        entryPoints: [path.join(REPO_ROOT, "services", name, "src/main.ts")],
        outfile: serviceBundlePath(name),
        bundle: true,
        platform: "node",
        format: "esm",
        target: "node20",
        // Readable stack traces without --enable-source-maps: names and code are kept as written.
        minify: false,
        sourcemap: "linked",
        logLevel: "warning",
        // CommonJS dependencies call require() for node built-ins, which an ES module lacks.
        banner: {
          js: "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);",
        },
      }),
    ),
  );
  // The api serves the console's browser scripts from beside its bundle (dist/console).
  if (names.includes("api")) await writeConsoleAssets(path.dirname(serviceBundlePath("api")));
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  await buildServices();
  process.stdout.write(
    `built ${BUILT_SERVICES.map((name) => path.relative(REPO_ROOT, serviceBundlePath(name))).join(", ")}\n`,
  );
}
