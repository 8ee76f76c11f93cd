// The example's configuration, read once from the environment (the server reads nothing else).
export const settings = {
  vigilUrl: process.env.VIGIL_URL ?? "http://127.0.0.1:8080",
  apiKey: process.env.VIGIL_API_KEY,
  port: Number(process.env.PORT ?? 3000),
};
