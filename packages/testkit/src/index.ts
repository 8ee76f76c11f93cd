export * from "./database.ts";
export * from "./events.ts";
export * from "./http-client.ts";
export * from "./launcher.ts";
export * from "./pipeline.ts";
export * from "./ports.ts";
export * from "./services.ts";
