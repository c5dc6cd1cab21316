import { fork } from 'node:child_process';
import { once } from 'node:events';
import process from 'node:process';
import { clearTimeout, setTimeout } from 'node:timers';
import { fileURLToPath, URL } from 'node:url';
import { DEV_REGION } from '../../dist/dev/embedded-sqs.js';
import { freePort } from '../../dist/dev/redis-server.js';
import { cpuSeconds, rssMiB } from './proc.js';
import { waitFor } from './wait.js';

const PROBE = fileURLToPath(new URL('./probe.js', import.meta.url));
const MAIN = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));

/**
 * A process the bench measures from outside (CPU and RSS from /proc, heap after GC through the
 * probe). `ready` resolves once it can work: `http` polls its /readyz, otherwise it sends
 * `{ type: 'ready' }`. Output is kept (the last 4 KiB) to explain a process that died.
 */
async function startChild(stack, { script, args = [], env, http }) {
  const child = fork(script, args, {
    // KJL_BENCH_NODE_OPTIONS: more Node options for the measured processes (e.g. --cpu-prof)
    execArgv: [
      '--expose-gc',
      '--import',
      PROBE,
      ...(process.env.KJL_BENCH_NODE_OPTIONS?.split(' ').filter(Boolean) ?? []),
    ],
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  let output = '';
  const keep = (chunk) => (output = (output + chunk).slice(-4096));
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  const exited = once(child, 'exit');
  const died = exited.then(([code, signal]) => {
    throw new Error(`${script} exited (${code ?? signal}) before it was ready:\n${output}`);
  });
  died.catch(() => {});
  const ready = http
    ? waitFor(`${script} ready`, async () => (await fetch(`${http}/readyz`).catch(() => undefined))?.ok, {
        timeoutMs: 60_000,
        everyMs: 50,
      })
    : new Promise((resolve) => child.on('message', (m) => m?.type === 'ready' && resolve(m)));
  const readyMessage = await Promise.race([ready, died]);
  const stop = stack.use(async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    await exited;
    clearTimeout(timer);
  });
  return {
    pid: child.pid,
    ready: readyMessage,
    child,
    output: () => output,
    cpuSeconds: () => cpuSeconds(child.pid),
    rssMiB: () => rssMiB(child.pid),
    /** memory after a full GC, as the process itself sees it */
    async probe() {
      const reply = new Promise((resolve) => {
        const onMessage = (m) => {
          if (m?.type !== 'probe') return;
          child.off('message', onMessage);
          resolve(m.memory);
        };
        child.on('message', onMessage);
      });
      child.send({ type: 'probe' });
      return reply;
    },
    stop,
  };
}

/**
 * The launcher as users run it — `kjl start` from dist/, a process of its own — with the bench's
 * Redis, SQS server and (when given) simulated cluster. Logs at the default level go to a pipe the
 * bench keeps only the end of.
 */
export async function startLauncher(stack, { role, sqs, cluster, queueName, env = {} }) {
  const port = await freePort();
  return startChild(stack, {
    script: MAIN,
    args: ['start'],
    http: `http://127.0.0.1:${port}`,
    env: {
      KJL_ROLE: role,
      KJL_HTTP_PORT: String(port),
      KJL_REDIS_URL: stack.redis.url,
      KJL_QUEUE_NAME: queueName,
      AWS_REGION: DEV_REGION,
      ...(sqs
        ? {
            KJL_SQS_ENDPOINT: sqs.endpoint,
            KJL_SQS_QUEUE_URL: sqs.queues.builds,
            KJL_SQS_DLQ_URL: sqs.queues.buildsDlq,
          }
        : {}),
      ...(cluster ? { KJL_KUBECONFIG: cluster.kubeconfigPath } : {}),
      ...env,
    },
  });
}

/** A bare loop (bench/lib/bare-*.js) in a process of its own; `options` reach it as JSON. */
export function startBare(stack, script, options) {
  return startChild(stack, {
    script: fileURLToPath(new URL(script, import.meta.url)),
    args: [JSON.stringify(options)],
  });
}
