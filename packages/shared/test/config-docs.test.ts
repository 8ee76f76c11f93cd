// The README's configuration table is generated from the config schema; this keeps them in sync.
import { readFileSync } from "node:fs";
import path from "node:path";
import { expect, test } from "vitest";
import { configSchema } from "../src/config/config.ts";
import { configReferenceMarkdown } from "../src/config/config-docs.ts";

test("every configuration variable is documented, with its real default, in the README", () => {
  const table = configReferenceMarkdown();
  for (const variable of Object.keys(configSchema.shape)) expect(table).toContain(`| \`${variable}\` |`);
  expect(table).toContain("| `API_PORT` | `8080` |");
  expect(table).toContain("| `DATABASE_URL` | **required** |");
  const readme = readFileSync(path.resolve(import.meta.dirname, "../../../README.md"), "utf8");
  expect(readme, "run `pnpm vigil config docs` and paste the table into the README").toContain(table);
});
