// The HTTP floor: the same server stack as the api (Hono on @hono/node-server, one process) with a
// handler that answers 202 and does no work. Nothing Vigil does per request can be faster than
// this on the same machine, so single-event ingest is reported as a fraction of it.
// `startHttpFloor()` spawns this file in its own process; stop it with `stop()`.
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { serve } from "@hono/node-server";
import { freePort } from "@vigil/testkit/ports";
import { REPO_ROOT, TSX_LOADER } from "@vigil/testkit/services";
import { Hono } from "hono";

export interface HttpFloor {
  url: string;
  pid: number;
  stop: () => Promise<void>;
}

export async function startHttpFloor(): Promise<HttpFloor> {
  const port = await freePort();
  const child = spawn(
    process.execPath,
    ["--import", TSX_LOADER, fileURLToPath(import.meta.url), String(port)],
    {
      cwd: REPO_ROOT,
      stdio: ["ignore", "pipe", "inherit"],
    },
  );
  const exited = new Promise<void>((resolve) => child.on("exit", () => resolve()));
  await new Promise<void>((resolve, reject) => {
    child.stdout.on("data", (chunk: Buffer) => chunk.toString().includes("listening") && resolve());
    child.on("exit", (code) => reject(new Error(`HTTP floor server exited (${code})`)));
  });
  return {
    url: `http://127.0.0.1:${port}`,
    pid: child.pid!,
    stop: async () => {
      if (child.exitCode === null) child.kill("SIGTERM");
      await exited;
    },
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const app = new Hono();
  app.post("/api/v1/logs", (c) => c.json({ status: "accepted" }, 202));
  serve({ fetch: app.fetch, hostname: "127.0.0.1", port: Number(process.argv[2]) }, () =>
    process.stdout.write("listening\n"),
  );
  process.on("SIGTERM", () => process.exit(0));
}
