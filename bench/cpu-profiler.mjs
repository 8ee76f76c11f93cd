// Loaded with `node --import` into the api and worker by `pnpm bench --profile=<dir>` (NODE_OPTIONS
// refuses --cpu-prof): records a V8 CPU profile and writes <dir>/<service>-<pid>.cpuprofile at exit.
// The in-thread inspector session answers synchronously, so stopping inside 'exit' works.
import { writeFileSync } from "node:fs";
import { Session } from "node:inspector";
import path from "node:path";

const directory = process.env.VIGIL_BENCH_PROFILE_DIR;
if (directory) {
  const session = new Session();
  session.connect();
  session.post("Profiler.enable");
  session.post("Profiler.start");
  process.on("exit", () => {
    session.post("Profiler.stop", (error, result) => {
      if (error) return;
      const service = path.basename(path.dirname(path.dirname(process.argv[1] ?? "node")));
      writeFileSync(
        path.join(directory, `${service}-${process.pid}.cpuprofile`),
        JSON.stringify(result.profile),
      );
    });
  });
}
