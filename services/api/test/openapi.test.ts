// The OpenAPI document is generated from the same zod schemas that validate requests.

import { ACTION_TYPES } from "@vigil/shared/events/event-schema";
import { createTestPipeline, type RunningService, requestJson, type TestPipeline } from "@vigil/testkit";
import { afterAll, beforeAll, expect, test } from "vitest";

let pipeline: TestPipeline;
let api: RunningService;
beforeAll(async () => {
  pipeline = await createTestPipeline();
  api = await pipeline.start("api");
});
afterAll(async () => pipeline?.close());

test("GET /openapi.json is OpenAPI 3.1 with the event schema's own rules", async () => {
  const doc = await requestJson(`${api.url}/openapi.json`);
  expect(doc.status).toBe(200);
  expect(doc.body.openapi).toBe("3.1.0");
  for (const path of ["/api/v1/logs", "/api/v1/logs/bulk", "/api/v1/logs/{id}"])
    expect(doc.body.paths).toHaveProperty([path]);
  const ingest = doc.body.paths["/api/v1/logs"].post;
  const schema = ingest.requestBody.content["application/json"].schema;
  expect(schema.additionalProperties).toBe(false);
  expect(schema.required).toEqual(expect.arrayContaining(["action_type", "resource_type", "resource_id"]));
  expect(JSON.stringify(schema.properties.action_type)).toContain(ACTION_TYPES[0]);
  expect(schema.properties.action.anyOf?.[0]?.pattern ?? schema.properties.action.pattern).toBe(
    "^[a-z0-9_.:-]+$",
  );
  expect(ingest.responses).toHaveProperty(["422"]);
});

test("GET /docs serves the interactive reference", async () => {
  const page = await fetch(`${api.url}/docs`);
  expect(page.status).toBe(200);
  expect(await page.text()).toContain("/openapi.json");
});
