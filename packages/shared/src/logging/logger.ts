// Structured JSON logs (pino). Secrets are stripped by path before anything is written. Lines go to
// stdout and, with LOG_FILE, the same lines also to a file rotated by size and time (pino-roll).
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import pino, { type DestinationStream, type Logger } from "pino";
// pino-roll ships no type declarations: an async factory of a sonic-boom stream.
// @ts-expect-error -- untyped module, used through the narrow type below
import pinoRollUntyped from "pino-roll";

export type { Logger };

const pinoRoll = pinoRollUntyped as (options: Record<string, unknown>) => Promise<DestinationStream>;

const REDACTED_PATHS = [
  "password",
  "*.password",
  "apiKey",
  "*.apiKey",
  "token",
  "*.token",
  "refresh_token",
  "*.refresh_token",
  "req.headers.authorization",
  "req.headers['x-api-key']",
  "headers.authorization",
  "headers['x-api-key']",
  "databaseUrl",
];

/** The logging part of the configuration (config.ts). */
export interface LoggingConfig {
  LOG_LEVEL: string;
  LOG_FILE?: string;
  LOG_FILE_MAX_SIZE: string;
  LOG_FILE_FREQUENCY: string;
  LOG_FILE_KEEP: number;
}

/**
 * A stream pino can write to synchronously while pino-roll opens the file (its factory is async):
 * lines written before the file is open are kept and written first. An unwritable path is reported
 * once on stderr; stdout logging goes on.
 */
function rotatingFile(service: string, config: LoggingConfig & { LOG_FILE: string }): DestinationStream {
  let file: DestinationStream | undefined;
  let failed = false;
  const pending: string[] = [];
  const path = config.LOG_FILE.replaceAll("{service}", service);
  // The folder is made here: pino-roll's own `mkdir` spins forever on a path that cannot exist (/proc/…).
  new Promise<void>((resolve) => {
    mkdirSync(dirname(path), { recursive: true });
    resolve();
  })
    .then(() =>
      pinoRoll({
        file: path,
        size: config.LOG_FILE_MAX_SIZE,
        frequency: config.LOG_FILE_FREQUENCY === "none" ? undefined : config.LOG_FILE_FREQUENCY,
        limit: { count: config.LOG_FILE_KEEP },
        // Every line reaches the file before the next is logged, so a graceful exit loses nothing.
        sync: true,
      }),
    )
    .then(
      (stream) => {
        file = stream;
        for (const line of pending.splice(0)) stream.write(line);
      },
      (error: Error) => {
        failed = true;
        pending.length = 0;
        process.stderr.write(
          `LOG_FILE ${config.LOG_FILE} cannot be written (${error.message}); logging to stdout only\n`,
        );
      },
    );
  return {
    write(line: string) {
      if (file) file.write(line);
      else if (!failed) pending.push(line);
    },
  };
}

export function createLogger(service: string, config: string | LoggingConfig = "info"): Logger {
  const level = typeof config === "string" ? config : config.LOG_LEVEL;
  const options: pino.LoggerOptions = {
    level,
    base: { service },
    redact: { paths: REDACTED_PATHS, censor: "[REDACTED]" },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
  };
  if (typeof config === "string" || !config.LOG_FILE || level === "silent") return pino(options);
  return pino(
    options,
    pino.multistream(
      [
        { level: level as pino.Level, stream: pino.destination({ dest: 1, sync: true }) },
        {
          level: level as pino.Level,
          stream: rotatingFile(service, { ...config, LOG_FILE: config.LOG_FILE }),
        },
      ],
      { dedupe: false },
    ),
  );
}
