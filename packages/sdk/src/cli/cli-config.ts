// Where the client CLI keeps its credentials and which environment it reads — the only module of
// the CLI that touches either. Credentials live in the user's config dir
// ($XDG_CONFIG_HOME/vigil or ~/.config/vigil) in a 0600 file, inside a 0700 directory.
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import path from "node:path";

export interface SavedCredentials {
  url: string;
  stream_url?: string;
  api_key?: string;
  username?: string;
  refresh_token?: string;
}

/** Settings from the environment: VIGIL_URL, VIGIL_STREAM_URL, VIGIL_API_KEY, NO_COLOR, XDG_CONFIG_HOME. */
export const cliEnvironment = {
  url: process.env.VIGIL_URL,
  streamUrl: process.env.VIGIL_STREAM_URL,
  apiKey: process.env.VIGIL_API_KEY,
  noColor: process.env.NO_COLOR !== undefined && process.env.NO_COLOR !== "",
  configHome: process.env.XDG_CONFIG_HOME,
};

export function configDir(): string {
  return path.join(cliEnvironment.configHome || path.join(homedir(), ".config"), "vigil");
}

export function credentialsPath(): string {
  return path.join(configDir(), "credentials.json");
}

export function readCredentials(): SavedCredentials | undefined {
  const file = credentialsPath();
  if (!existsSync(file)) return undefined;
  return JSON.parse(readFileSync(file, "utf8")) as SavedCredentials;
}

/** Written to a 0600 temporary file and renamed over the old one, so a crash never leaves half a file. */
export function writeCredentials(credentials: SavedCredentials): string {
  const dir = configDir();
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
  const file = credentialsPath();
  const temporary = `${file}.${process.pid}.tmp`;
  writeFileSync(temporary, `${JSON.stringify(credentials, null, 2)}\n`, { mode: 0o600 });
  chmodSync(temporary, 0o600);
  renameSync(temporary, file);
  return file;
}

export function removeCredentials(): boolean {
  const file = credentialsPath();
  if (!existsSync(file)) return false;
  rmSync(file);
  return true;
}
