// The memory baselines: a Node process that loads `imports` (none: bare Node; the launcher's
// modules: what loading its code costs) and then does nothing. Started by bench/lib/memory.js.
import process from 'node:process';

const { imports = [] } = JSON.parse(process.argv[2]);
for (const module of imports) await import(new URL(module, import.meta.url).href);
process.once('SIGTERM', () => process.exit(0));
process.send({ type: 'ready' });
setInterval(() => {}, 60_000);
