// Every documented default is a valid value of its own schema: the configuration table in the README
// (generated from the schema) is read back, each default set explicitly, and the result must equal
// the configuration with nothing set. `VIGIL_ADMIN_EMAIL=admin@localhost` was once refused this way.
import { configSchema, devStackSchema, loadConfig } from "@vigil/shared/config/config";
import { configReferenceMarkdown } from "@vigil/shared/config/config-docs";
import { expect, test } from "vitest";

const REQUIRED = {
  DATABASE_URL: "postgres://vigil@127.0.0.1:5432/vigil",
  SQS_QUEUE_URL: "http://127.0.0.1:4566/000000000000/vigil-events",
};

/** `variable → default` for every row of the generated table whose default is a literal value. */
function documentedDefaults(): Record<string, string> {
  const defaults: Record<string, string> = {};
  for (const line of configReferenceMarkdown().split("\n")) {
    const match = /^\| `([A-Z0-9_]+)` \| `([^`]*)` \|/.exec(line);
    if (match) defaults[match[1]!] = match[2]!;
  }
  return defaults;
}

test("each documented default, set explicitly, loads and equals the implicit default", () => {
  const defaults = documentedDefaults();
  // Every variable with a default appears in the table (required and optional ones have none).
  const withDefault = Object.keys(configSchema.shape).filter(
    (name) =>
      loadConfig(REQUIRED)[name as keyof typeof configSchema.shape] !== undefined && !(name in REQUIRED),
  );
  for (const name of withDefault) {
    const value = loadConfig(REQUIRED)[name as keyof typeof configSchema.shape];
    if (Array.isArray(value) && value.length === 0) continue; // an empty list is documented as "—"
    expect(defaults, name).toHaveProperty(name);
  }
  expect(defaults.VIGIL_ADMIN_EMAIL).toBe("admin@localhost");
  for (const [name, value] of Object.entries(defaults)) {
    expect(() => loadConfig({ ...REQUIRED, [name]: value }), `${name}=${value}`).not.toThrow();
  }
  expect(loadConfig({ ...REQUIRED, ...defaults })).toEqual(loadConfig(REQUIRED));
});

test("the embedded launcher's defaults, set explicitly, are accepted", () => {
  const implicit = devStackSchema.parse({});
  const explicit = Object.fromEntries(
    Object.entries(implicit).map(([name, value]) => [name, String(value)] as const),
  );
  expect(explicit).toMatchObject({ VIGIL_ADMIN_EMAIL: "admin@localhost", VIGIL_DEV_PG_PORT: "54329" });
  expect(devStackSchema.parse(explicit)).toEqual(implicit);
});

test("an admin address that is not an address is still refused", () => {
  expect(() => loadConfig({ ...REQUIRED, VIGIL_ADMIN_EMAIL: "admin" })).toThrow(/VIGIL_ADMIN_EMAIL/);
  expect(devStackSchema.safeParse({ VIGIL_ADMIN_EMAIL: "a b@c" }).success).toBe(false);
});
