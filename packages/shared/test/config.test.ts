// Configuration is parsed once from an explicit map here (never from this process's environment):
// defaults, empty-means-unset, and errors that name the variable.
import { describe, expect, test } from "vitest";
import { ConfigError, loadConfig } from "../src/config/config.ts";

const REQUIRED = {
  DATABASE_URL: "postgres://vigil@localhost:5432/vigil",
  SQS_QUEUE_URL: "http://localhost:4566/000000000000/vigil-events",
};

function configError(source: Record<string, string | undefined>): ConfigError {
  try {
    loadConfig(source);
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error("expected loadConfig to fail");
}

describe("loadConfig", () => {
  test("applies defaults when only the required variables are given", () => {
    const config = loadConfig(REQUIRED);
    expect(config).toMatchObject({
      NODE_ENV: "development",
      LOG_LEVEL: "info",
      API_PORT: 8080,
      STREAMER_PORT: 8081,
      AWS_REGION: "us-east-1",
      DATABASE_POOL_SIZE: 10,
      METRICS_ENABLED: true,
      INGEST_WAIT_TIMEOUT_MS: 10_000,
      VIGIL_ADMIN_EMAIL: "admin@localhost",
      CORS_ORIGINS: [],
    });
    expect(config.VIGIL_REDACT_KEYS).toContain("password");
    expect(config.SQS_ENDPOINT).toBeUndefined();
  });

  test("parses numbers, booleans and lists", () => {
    const config = loadConfig({
      ...REQUIRED,
      API_PORT: "9000",
      METRICS_ENABLED: "0",
      VIGIL_REDACT_KEYS: " pin , password ,, otp",
      CORS_ORIGINS: "https://a.example,https://b.example",
    });
    expect(config.API_PORT).toBe(9000);
    expect(config.METRICS_ENABLED).toBe(false);
    expect(config.VIGIL_REDACT_KEYS).toEqual(["pin", "password", "otp"]);
    expect(config.CORS_ORIGINS).toEqual(["https://a.example", "https://b.example"]);
  });

  test("empty strings mean unset: defaults apply and optional variables stay absent", () => {
    const config = loadConfig({
      ...REQUIRED,
      API_PORT: "",
      SQS_ENDPOINT: "",
      VIGIL_ADMIN_PASSWORD: "",
      LOG_LEVEL: undefined,
    });
    expect(config.API_PORT).toBe(8080);
    expect(config.SQS_ENDPOINT).toBeUndefined();
    expect(config.VIGIL_ADMIN_PASSWORD).toBeUndefined();
    expect(config.LOG_LEVEL).toBe("info");
  });

  test("an empty required variable is reported as missing, by name", () => {
    const error = configError({ ...REQUIRED, DATABASE_URL: "" });
    expect(error.issues).toHaveLength(1);
    expect(error.issues[0]).toMatch(/^DATABASE_URL: /);
  });

  test("every missing required variable is named", () => {
    const error = configError({});
    expect(error.issues.map((issue) => issue.split(":")[0]).sort()).toEqual([
      "DATABASE_URL",
      "SQS_QUEUE_URL",
    ]);
    expect(error.message).toMatch(/^Invalid configuration:/);
  });

  test.each([
    ["API_PORT", "eighty"],
    ["API_PORT", "70000"],
    ["API_PORT", "80.5"],
    ["DATABASE_URL", "mysql://localhost/vigil"],
    ["DATABASE_URL", "not a url"],
    ["SQS_QUEUE_URL", "queue"],
    ["LOG_LEVEL", "verbose"],
    ["NODE_ENV", "staging"],
    ["METRICS_ENABLED", "yes"],
    ["VIGIL_ADMIN_EMAIL", "admin"],
    ["VIGIL_ADMIN_PASSWORD", "short"],
    ["DATABASE_POOL_SIZE", "0"],
    ["WORKER_WAIT_TIME_SECONDS", "21"],
    ["INGEST_WAIT_TIMEOUT_MS", "60000"],
    ["OPENSEARCH_INDEX_PREFIX", "Vigil_Events"],
  ])("a bad %s (%j) is named in the error", (variable, value) => {
    const error = configError({ ...REQUIRED, [variable]: value });
    expect(error.issues).toHaveLength(1);
    expect(error.issues[0]!.startsWith(`${variable}: `)).toBe(true);
    expect(error.message).toContain(variable);
  });

  test("variables it does not know are ignored (the environment holds PATH and friends)", () => {
    expect(() => loadConfig({ ...REQUIRED, PATH: "/usr/bin", SOMETHING_ELSE: "x" })).not.toThrow();
  });

  test("an error does not echo the bad value (a URL may carry a password)", () => {
    const error = configError({ ...REQUIRED, DATABASE_URL: "mysql://vigil:s3cret-pw@localhost/vigil" });
    expect(error.message).not.toContain("s3cret-pw");
  });
});
