// The one S3 client setup (tlog/checkpoint-anchors.ts s3Client) that the checkpoint anchor, the
// archive, the dev checkpoint bucket and the log-stream deliverer share: against an endpoint it
// addresses buckets by path and signs with the emulator credentials; the deliverer's client makes a
// single attempt (its loop retries with its own backoff), the others keep the SDK's retries.
import { createServer, type IncomingMessage } from "node:http";
import type { AddressInfo } from "node:net";
import { HeadBucketCommand } from "@aws-sdk/client-s3";
import { s3Client } from "@vigil/shared/tlog/checkpoint-anchors";
import { afterAll, beforeAll, expect, test } from "vitest";

const requests: IncomingMessage[] = [];
const server = createServer((request, response) => {
  requests.push(request);
  request.resume();
  response.writeHead(503).end();
});
let endpoint: string;

beforeAll(async () => {
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => {
  server.closeAllConnections();
  server.close();
});

async function attemptsOf(client: ReturnType<typeof s3Client>): Promise<IncomingMessage[]> {
  requests.length = 0;
  try {
    await expect(client.send(new HeadBucketCommand({ Bucket: "anchors" }))).rejects.toThrow();
  } finally {
    client.destroy();
  }
  return [...requests];
}

test("against an endpoint: path-style bucket, emulator credentials, the SDK's retries by default", async () => {
  const attempts = await attemptsOf(s3Client("us-east-1", endpoint));
  expect(attempts.length).toBeGreaterThan(1);
  for (const request of attempts) {
    expect(request.url).toMatch(/^\/anchors\/?$/);
    expect(request.headers.authorization).toContain("Credential=vigil/");
  }
});

test("maxAttempts 1 (the log-stream deliverer's): one request per send", async () => {
  const attempts = await attemptsOf(s3Client("eu-west-1", endpoint, { maxAttempts: 1 }));
  expect(attempts).toHaveLength(1);
  expect(attempts[0]!.headers.authorization).toContain("/eu-west-1/s3/");
});
