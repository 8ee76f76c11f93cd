// The setup the SDK's ingest tests share: the real api and worker, and a fault proxy in front of the api.
import { createTestPipeline, type RunningService, type TestPipeline } from "@vigil/testkit";
import { type FaultProxy, startFaultProxy } from "./fault-proxy.ts";

export interface ProxiedPipeline {
  pipeline: TestPipeline;
  api: RunningService;
  proxy: FaultProxy;
  close: () => Promise<void>;
}

export async function startProxiedPipeline(): Promise<ProxiedPipeline> {
  const pipeline = await createTestPipeline();
  try {
    const [api] = await Promise.all([pipeline.start("api"), pipeline.start("worker")]);
    const proxy = await startFaultProxy(api.url);
    return {
      pipeline,
      api,
      proxy,
      close: async () => {
        await proxy.close();
        await pipeline.close();
      },
    };
  } catch (error) {
    await pipeline.close();
    throw error;
  }
}
