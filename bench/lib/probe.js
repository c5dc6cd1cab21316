// Loaded with `--import` into every process the bench measures (the launcher, the bare loops):
// answers the bench's `probe` message with the process's memory after a full collection (the
// process runs with --expose-gc). It changes nothing else; the IPC channel does not keep the
// process alive.
import process from 'node:process';

if (process.send) {
  process.on('message', (message) => {
    if (message?.type !== 'probe') return;
    globalThis.gc?.();
    globalThis.gc?.();
    process.send({ type: 'probe', memory: process.memoryUsage() });
  });
  process.channel?.unref();
}
