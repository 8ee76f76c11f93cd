// The contract's constants (spec §3) in one dependency-free module: the server's zod schema and
// configuration import them, and the SDK bundles this file, so client and server can never
// disagree on a limit, an enum or the default list of secret keys.

export const ACTION_TYPES = ["CREATE", "UPDATE", "DELETE", "VIEW"] as const;
export const SEVERITIES = ["INFO", "WARNING", "ERROR", "CRITICAL"] as const;
export const OUTCOMES = ["success", "failure"] as const;

export const EVENT_LIMITS = {
  maxEventBytes: 256 * 1024,
  maxStateBytes: 64 * 1024,
  maxJsonDepth: 16,
  maxBulkEvents: 1000,
  maxBulkBytes: 8 * 1024 * 1024,
  maxFutureSkewMs: 5 * 60 * 1000,
} as const;

/**
 * Keys whose values are redacted by default (VIGIL_REDACT_KEYS): the spec's list plus the short
 * forms and plurals people send (`pwd`, `passphrase`, `auth`, `credentials`, `cookies`).
 */
export const DEFAULT_REDACT_KEYS = [
  "password",
  "passwd",
  "pwd",
  "passphrase",
  "secret",
  "token",
  "api_key",
  "apikey",
  "authorization",
  "auth",
  "credentials",
  "cookie",
  "cookies",
  "set-cookie",
  "private_key",
  "client_secret",
  "credit_card",
  "card_number",
  "cvv",
  "ssn",
] as const;
