import { defineConfig } from "vitest/config";

// One embedded PostgreSQL cluster for the whole run (globalSetup); each test file creates its own
// database and its own SQS queues, so files can run in parallel without sharing state.
export default defineConfig({
  test: {
    include: ["**/*.test.ts"],
    exclude: ["**/node_modules/**", ".vigil/**"],
    globalSetup: ["./test/global-setup.ts"],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: "forks",
    maxWorkers: 2,
    minWorkers: 1,
    reporters: ["default"],
  },
});
