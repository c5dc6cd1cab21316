// The simulated cluster in a process of its own, as a real API server would be: its controllers
// then do not compete with kjl for one event loop. Started by Stack.cluster through fork();
// reports Job creations and completions (with their times) and answers `stats` (with the watches
// open now) over IPC.
import process from 'node:process';
import { startSimCluster } from '../../dist/dev/sim-cluster/index.js';
import { watchJobs } from './cluster-watch.js';

const cluster = await startSimCluster(JSON.parse(process.argv[2]));
// every watch the API server serves listens to the store; what listens before any client is ours
const ownListeners = cluster.store.listenerCount('change') + 1;
const send = (message) => process.connected && process.send(message);
const unwatch = watchJobs(
  cluster.store,
  (id, at) => send({ type: 'created', id, at }),
  (id, at) => send({ type: 'done', id, at }),
);
let stopping;
const stop = () => {
  stopping ??= (async () => {
    unwatch();
    await cluster.stop();
    process.exit(0);
  })();
  return stopping;
};
process.on('message', (message) => {
  if (message.type === 'stats') {
    const openWatches = cluster.store.listenerCount('change') - ownListeners;
    send({ type: 'stats', stats: { ...cluster.stats(), openWatches } });
  }
  if (message.type === 'stop') void stop();
});
process.on('disconnect', () => void stop());
send({ type: 'ready', url: cluster.url });
