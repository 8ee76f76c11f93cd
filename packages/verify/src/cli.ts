// `npx @vigil/verify bundle.tar --key <verifier key>`: verifies an export bundle offline. The only
// module of the package that uses Node APIs (files, the terminal, node:crypto's faster SHA-256).
// Exit codes: 0 verified, 1 verification failed, 2 usage error or unreadable input.
import { createHash } from "node:crypto";
import { createReadStream, existsSync, readFileSync } from "node:fs";
import { type BundleReport, type NoteError, parseVerifierKey, setSha256, verifyBundle } from "./index.ts";

const USAGE = `usage: vigil-verify <bundle.tar | -> --key <verifier key> [--key <verifier key>…] [--json] [--quiet]

Verifies a Vigil export bundle offline: the checkpoint's signature by one of the given keys,
every event's hash, every leaf, and the range proof against the signed root.

  --key <key>       a trusted verifier key, <name>+<key id>+<base64 key> (repeatable);
                    @<file> reads keys from a file, one per line
  --json            print the report as JSON
  --quiet, -q       no progress, only the result

Exit status: 0 verified, 1 verification failed, 2 usage error.`;

interface Options {
  bundle: string;
  keys: string[];
  json: boolean;
  quiet: boolean;
}

class UsageError extends Error {}

function parseArguments(args: string[]): Options {
  const options: Options = { bundle: "", keys: [], json: false, quiet: false };
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === "--key" || arg.startsWith("--key=")) {
      const value = arg === "--key" ? args[++i] : arg.slice("--key=".length);
      if (!value) throw new UsageError("--key needs a value");
      options.keys.push(...readKeys(value));
    } else if (arg === "--json") {
      options.json = true;
    } else if (arg === "--quiet" || arg === "-q") {
      options.quiet = true;
    } else if (arg.startsWith("-") && arg !== "-") {
      throw new UsageError(`unknown option ${arg}`);
    } else if (options.bundle) {
      throw new UsageError("give one bundle");
    } else {
      options.bundle = arg;
    }
  }
  if (!options.bundle) throw new UsageError("give the bundle to verify (a file, or - for standard input)");
  if (options.keys.length === 0) throw new UsageError("give at least one --key");
  for (const key of options.keys) {
    try {
      parseVerifierKey(key);
    } catch (error) {
      throw new UsageError(`bad verifier key ${JSON.stringify(key)}: ${(error as NoteError).message}`);
    }
  }
  return options;
}

function readKeys(value: string): string[] {
  if (!value.startsWith("@")) return [value];
  const file = value.slice(1);
  if (!existsSync(file)) throw new UsageError(`no key file ${file}`);
  return readFileSync(file, "utf8")
    .split("\n")
    .map((line) => line.trim())
    .filter((line) => line !== "" && !line.startsWith("#"));
}

function summary(name: string, report: BundleReport): string {
  const lines = [
    `${name}: ${report.ok ? "OK" : `FAILED (${report.problemCount} problem${report.problemCount === 1 ? "" : "s"})`}`,
  ];
  if (report.origin !== undefined) {
    lines.push(`  log      ${report.origin} (tree size ${report.treeSize}, root ${report.rootHash})`);
  }
  if (report.signedBy.length > 0) lines.push(`  signed   by ${report.signedBy.join(", ")}`);
  if (report.fromSeq !== undefined) {
    lines.push(
      `  events   seq ${report.fromSeq}..${report.toSeq}: ${report.events} read, ${report.hashesRecomputed} hashes recomputed, ${report.erasedCount} erased, ${report.removedCount} removal records`,
    );
  }
  for (const erased of report.erased) {
    lines.push(
      `  erased   seq ${erased.seq} (${erased.id}): ${erased.fields.join(", ") || "fields not listed"}`,
    );
  }
  if (report.erasedCount > report.erased.length)
    lines.push(`  erased   … ${report.erasedCount - report.erased.length} more`);
  for (const problem of report.problems) lines.push(`  problem  ${problem}`);
  if (report.problemCount > report.problems.length) {
    lines.push(`  problem  … ${report.problemCount - report.problems.length} more`);
  }
  return lines.join("\n");
}

async function main(args: string[]): Promise<number> {
  let options: Options;
  try {
    options = parseArguments(args);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    process.stderr.write(`vigil-verify: ${error.message}\n\n${USAGE}\n`);
    return 2;
  }
  if (options.bundle !== "-" && !existsSync(options.bundle)) {
    process.stderr.write(`vigil-verify: no such file ${options.bundle}\n`);
    return 2;
  }
  setSha256((data) => createHash("sha256").update(data).digest());
  const showProgress = !options.quiet && !options.json && process.stderr.isTTY;
  const source = options.bundle === "-" ? process.stdin : createReadStream(options.bundle);
  const report = await verifyBundle(source as AsyncIterable<Uint8Array>, {
    verifierKeys: options.keys,
    onProgress: showProgress
      ? ({ events, totalEvents }) => {
          const percent = totalEvents > 0 ? Math.floor((events / totalEvents) * 100) : 100;
          process.stderr.write(`\rverified ${events}/${totalEvents} events (${percent}%)`);
        }
      : undefined,
    progressEvery: 20_000,
  });
  if (showProgress) process.stderr.write("\n");
  process.stdout.write(
    `${options.json ? JSON.stringify(report, null, 2) : summary(options.bundle, report)}\n`,
  );
  return report.ok ? 0 : 1;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`vigil-verify: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 2;
  },
);
