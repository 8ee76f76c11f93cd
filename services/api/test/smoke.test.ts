// The shortest end-to-end path: HTTP → api process → SQS emulator → worker process → PostgreSQL → HTTP read.

import {
  createTestPipeline,
  eventually,
  type RunningService,
  requestJson,
  type TestPipeline,
} from "@vigil/testkit";
import { afterAll, beforeAll, expect, test } from "vitest";

let pipeline: TestPipeline;
let api: RunningService;
beforeAll(async () => {
  pipeline = await createTestPipeline();
  api = await pipeline.start("api");
  await pipeline.start("worker");
});
afterAll(async () => pipeline?.close());

test("an event posted over HTTP is stored once, with seq 1 and its secrets redacted", async () => {
  const { key } = await pipeline.createTenantWithKey();
  const posted = await requestJson(`${api.url}/api/v1/logs`, {
    key,
    body: {
      action_type: "CREATE",
      resource_type: "invoice",
      resource_id: "inv-1",
      metadata: { password: "hunter2" },
    },
  });
  expect(posted.status).toBe(202);
  expect(posted.body.status).toBe("accepted");
  const stored = await eventually(async () => {
    const got = await requestJson(`${api.url}/api/v1/logs/${posted.body.id}`, { key });
    return got.status === 200 ? got.body : null;
  });
  expect(stored.seq).toBe(1);
  expect(stored.action).toBe("invoice.create");
  expect(stored.metadata).toEqual({ password: "[REDACTED]" });
  expect(stored.redacted).toEqual(["metadata.password"]);
});
