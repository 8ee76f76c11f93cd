// Preloaded (`node --import`) into every service the embedded launcher starts. Services run in their
// own process group, so a Ctrl-C in the terminal reaches only the launcher, which then drains and stops
// them in order. If the launcher itself dies (kill -9), nothing would stop them: this notices that the
// parent changed and sends the process its own SIGTERM, so it shuts down gracefully instead of
// lingering on its port.
const launcher = process.ppid;
setInterval(() => {
  if (process.ppid !== launcher) process.kill(process.pid, "SIGTERM");
}, 1_000).unref();
