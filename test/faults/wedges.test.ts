import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { requestIdOf } from '../../src/build-request.js';
import { freePort } from '../../src/dev/redis-server.js';
import { jobNameFor } from '../../src/k8s/job-name.js';
import { runCommand, spawnKjl, type KjlProcess } from '../support/cli.js';
import { createSetup, ofType, useStack } from '../support/stack.js';
import { waitFor } from '../support/wait.js';

/**
 * Wedges: a process that stops doing its work, or stops stopping, while it looks alive. A watch
 * whose every restart fails in the credential plugin, or is refused by the API; a stop with a
 * build running; a stop after Redis died (`kjl dev`'s own, an intake's). Judged from the outside:
 * `/readyz`, the events, the simulated cluster's record, and when and how the process exits after
 * SIGTERM.
 */

const stack = useStack();
const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function tempDir(prefix: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Milliseconds from now until `kjl` exits, or Infinity when it is still running after `limitMs`. */
async function timeToExit(kjl: KjlProcess, limitMs: number): Promise<number> {
  const started = Date.now();
  const { child } = kjl;
  if (child.exitCode !== null || child.signalCode !== null) return 0;
  const exited = new Promise<number>((resolve) => child.once('exit', () => resolve(Date.now() - started)));
  const late = new Promise<number>((resolve) => setTimeout(() => resolve(Infinity), limitMs).unref());
  return Promise.race([exited, late]);
}

let serial = 0;
const request = (parserId: string) => ({
  thirdPartyId: 'wedge',
  parserId,
  contentHash: `${(++serial).toString(16).padStart(4, '0')}${Date.now().toString(16)}`,
});

/**
 * A credential plugin (client.authentication.k8s.io/v1) whose token expires within two seconds, so
 * that client-node runs it again for nearly every request; it fails while `flag` exists.
 */
function credentialPlugin(flag: string): string {
  return [
    '#!/bin/sh',
    `if [ -e '${flag}' ]; then echo 'credential plugin: refused' >&2; exit 1; fi`,
    "expires=$(date -u -d '+2 seconds' +%Y-%m-%dT%H:%M:%SZ)",
    'printf \'{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential",' +
      '"status":{"token":"sim-token","expirationTimestamp":"%s"}}\\n\' "$expires"',
    '',
  ].join('\n');
}

/** A kubeconfig for the simulated cluster whose user gets its token from `plugin`. */
function execKubeconfig(server: string, plugin: string): string {
  return stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'sim', cluster: { server, 'insecure-skip-tls-verify': true } }],
    users: [
      {
        name: 'sim-exec',
        user: {
          exec: {
            apiVersion: 'client.authentication.k8s.io/v1',
            command: plugin,
            interactiveMode: 'Never',
          },
        },
      },
    ],
    contexts: [{ name: 'sim', context: { cluster: 'sim', user: 'sim-exec', namespace: 'default' } }],
    'current-context': 'sim',
  });
}

interface Readiness {
  status: number;
  body: { status: string; checks: Record<string, string> };
}

async function readyz(port: number): Promise<Readiness> {
  const response = await fetch(`http://127.0.0.1:${port}/readyz`);
  return { status: response.status, body: (await response.json()) as Readiness['body'] };
}

describe('the informer dies silently', () => {
  it('a credential plugin failing every watch restart: not ready, then ready again, and new Jobs are seen', async () => {
    const dir = await tempDir('kjl-exec-');
    const flag = join(dir, 'refuse');
    const plugin = join(dir, 'credential.sh');
    await writeFile(plugin, credentialPlugin(flag), { mode: 0o755 });
    const kubeconfig = join(dir, 'kubeconfig');
    await writeFile(kubeconfig, execKubeconfig(stack.infra.cluster.url, plugin), { mode: 0o600 });
    const setup = await createSetup(stack.infra, { KJL_KUBECONFIG: kubeconfig });
    const port = await freePort();
    const kjl = await stack.spawn(setup, { KJL_WATCH_STALE_SECONDS: '3' }, ['--http-port', String(port)]);
    await waitFor('/readyz to answer 200', async () => (await readyz(port)).status === 200, 10_000);

    // every restart of a watch now fails in the credential plugin
    await writeFile(flag, '');
    stack.infra.cluster.faults.set({ cutWatches: { everySeconds: 1 } });
    await sleep(2500);
    stack.infra.cluster.faults.clear();
    const down = await waitFor(
      '/readyz to answer 503',
      async () => {
        const answer = await readyz(port);
        return answer.status === 503 ? answer : undefined;
      },
      10_000,
      200,
    );
    expect(down.body.checks.kubernetes).toBe('unavailable');
    // past the stale window: from here on only a watch open again makes the check pass
    await sleep(4000);
    expect(kjl.child.exitCode, 'kjl exited while its watch could not be restarted').toBeNull();

    // the plugin works again: the watch comes back by itself and follows the cluster
    await rm(flag);
    await waitFor(
      '/readyz to answer 200 again',
      async () => (await readyz(port)).status === 200,
      20_000,
      200,
    );
    const build = request('after-plugin');
    await setup.publish([build]);
    await setup.waitForEvents(
      'the build published afterwards to succeed',
      (all) => ofType(all, 'succeeded', requestIdOf(build)).length === 1,
      30_000,
    );
  });

  it('watch requests the API keeps refusing while it answers everything else: not ready until they pass again', async () => {
    const setup = await createSetup(stack.infra);
    const port = await freePort();
    await stack.spawn(setup, { KJL_WATCH_STALE_SECONDS: '3' }, ['--http-port', String(port)]);
    await waitFor('/readyz to answer 200', async () => (await readyz(port)).status === 200, 10_000);

    stack.infra.cluster.faults.set({ cutWatches: { everySeconds: 1 }, errors: { watch: { '503': 1 } } });
    const down = await waitFor(
      '/readyz to answer 503',
      async () => {
        const answer = await readyz(port);
        return answer.status === 503 ? answer : undefined;
      },
      10_000,
      200,
    );
    expect(down.body.checks).toMatchObject({ kubernetes: 'unavailable', redis: 'ok', sqs: 'ok' });

    stack.infra.cluster.faults.clear();
    await waitFor(
      '/readyz to answer 200 again',
      async () => (await readyz(port)).status === 200,
      20_000,
      200,
    );
    const build = request('after-refusals');
    await setup.publish([build]);
    await setup.waitForEvents(
      'the build published afterwards to succeed',
      (all) => ofType(all, 'succeeded', requestIdOf(build)).length === 1,
      30_000,
    );
  });
});

describe('shutdown always finishes', () => {
  it('kjl start with a build running exits by its deadline; the Job runs on and is adopted', async () => {
    const setup = await createSetup(stack.infra, {
      KJL_SHUTDOWN_TIMEOUT_SECONDS: '3',
      KJL_WORKER_LOCK_SECONDS: '2',
    });
    const first = await stack.spawn(setup);
    const build = request('long-stop');
    const id = requestIdOf(build);
    await setup.publish([build]);
    await setup.waitForEvents('the build to start', (all) => ofType(all, 'started', id).length === 1);
    const job = () =>
      stack.infra.cluster.store.tryGet('jobs', setup.namespace, jobNameFor(build, setup.config.k8s.instance));
    await waitFor('the Job created', job);

    first.child.kill('SIGTERM');
    const elapsed = await timeToExit(first, 15_000);
    expect(elapsed, 'ms from SIGTERM to exit (Infinity: still running after 15 s)').toBeLessThan(5500);

    // the Job was left running, not deleted or failed
    const left = job() as { metadata: { deletionTimestamp?: string }; status?: { failed?: number } };
    expect(left).toBeDefined();
    expect(left.metadata.deletionTimestamp).toBeUndefined();
    expect(left.status?.failed ?? 0).toBe(0);

    await stack.spawn(setup);
    await setup.waitForEvents(
      'the adopted build to succeed',
      (all) => ofType(all, 'succeeded', id).length >= 1,
      40_000,
    );
    await sleep(1500);
    expect(ofType(setup.events, 'succeeded', id)).toHaveLength(1);
    expect(ofType(setup.events, 'failed', id)).toEqual([]);
    expect(stack.infra.cluster.stats().jobsCreated[jobNameFor(build, setup.config.k8s.instance)]).toBe(1);
  });

  it('kjl dev whose Redis died exits by its deadline, with no unhandled error event', async () => {
    const cwd = await tempDir('kjl-dev-');
    const dev = spawnKjl(['dev', '--sqs-port', '0', '--http-port', '0'], {
      cwd,
      env: { KJL_REDIS_URL: '', KJL_SHUTDOWN_TIMEOUT_SECONDS: '5' },
    });
    cleanups.push(() => dev.stop('SIGKILL'));
    const [, port] = await dev.waitFor(/Redis\s+redis:\/\/127\.0\.0\.1:(\d+)/);
    await dev.waitFor(/Ctrl-C stops everything/);

    // kill the redis-server child of this kjl dev: the process listening on its port
    const listening = await runCommand('ss', ['-Hltnp', `sport = :${port}`]);
    const pid = Number(listening.stdout.match(/pid=(\d+)/)?.[1]);
    expect(pid, `no process listening on ${port}: ${listening.stdout}${listening.stderr}`).toBeGreaterThan(0);
    expect((await readFile(`/proc/${pid}/comm`, 'utf8')).trim()).toBe('redis-server');
    process.kill(pid, 'SIGKILL');
    await sleep(2000);

    dev.child.kill('SIGTERM');
    const elapsed = await timeToExit(dev, 20_000);
    expect(elapsed, 'ms from SIGTERM to exit (Infinity: still running after 20 s)').toBeLessThan(8000);
    expect(dev.output()).not.toContain('Unhandled error event');
  });

  it('kjl start --role intake whose Redis died finishes its stop: exit code 0, before its deadline', async () => {
    const setup = await createSetup(stack.infra, {
      KJL_ROLE: 'intake',
      KJL_SHUTDOWN_TIMEOUT_SECONDS: '20',
      KJL_SQS_RETRY_BACKOFF_SECONDS: '1',
    });
    const intake = await stack.spawn(setup);
    cleanups.push(() => stack.infra.redis.restart());
    await stack.infra.redis.halt(true);
    await sleep(2000);

    intake.child.kill('SIGTERM');
    const elapsed = await timeToExit(intake, 30_000);
    // exit code 1 would mean the deadline (20 s) cut a stop that was still waiting on Redis
    expect(elapsed, 'ms from SIGTERM to exit (Infinity: still running after 30 s)').toBeLessThan(15_000);
    expect(intake.child.exitCode).toBe(0);
  });
});
