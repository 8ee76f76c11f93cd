// services/streamer entry point (placeholder until the live stream lands): health only.
import { createServer } from "node:http";
import { loadConfigOrExit } from "@vigil/shared/config/config";
import { createLogger } from "@vigil/shared/logging/logger";

const config = loadConfigOrExit();
const logger = createLogger("streamer", config.LOG_LEVEL);
const server = createServer((req, res) => {
  if (req.url === "/healthz") return void res.writeHead(200, { "Content-Type": "application/json" }).end('{"status":"ok"}');
  res.writeHead(404).end();
});
server.listen(config.STREAMER_PORT, config.HOST, () => logger.info({ port: config.STREAMER_PORT }, "streamer listening"));
for (const signal of ["SIGTERM", "SIGINT"] as const) process.on(signal, () => server.close(() => process.exit(0)));
