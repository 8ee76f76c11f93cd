// `pnpm vigil login|logout|tail|search|export|stats|history|verify`: the client commands, which talk
// to the HTTP API like any client. They are @vigil/sdk's `vigil` CLI, run here from its sources.
// `verify --tenant ID` stays the operator's database verify (main.ts); `verify` without it is the
// client's, over the API.
import { CLIENT_COMMANDS, main as runClientCli } from "../../sdk/src/cli/cli-main.ts";

export const CLIENT_USAGE = `
client commands (over the HTTP API; 'pnpm vigil <command> --help' for options):
  login --url URL (--username U --password-stdin | --api-key-stdin)   save credentials (0600)
  logout                                    revoke and forget the saved login
  tail [--since SEQ] [--json] [filters]     follow the live stream
  search [--q TEXT] [--from T] [--to T]     list matching events
  export --format ndjson|csv -o FILE        export with progress (rows, bytes)
  stats [--from T] [--to T] [--bucket B]    counts, top lists and a sparkline
  history <resource_type> <resource_id>     a resource's events with field diffs
  verify [--from-seq N] [--to-seq M] [--key K]   check a signed bundle offline (exit 3 on a problem)
`;

export function isClientCommand(argv: readonly string[]): boolean {
  const [command] = argv;
  if (command === "verify") return !argv.some((arg) => arg === "--tenant" || arg.startsWith("--tenant="));
  return command !== undefined && CLIENT_COMMANDS.has(command);
}

export { runClientCli };
