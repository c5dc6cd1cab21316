import { Queue } from 'bullmq';
import { describe, expect, it } from 'vitest';
import { requestIdOf } from '../../src/build-request.js';
import { sendMessages } from '../../src/intake/publisher.js';
import { jobNameFor } from '../../src/k8s/job-name.js';
import { redisOptionsFor } from '../../src/queue/redis-options.js';
import { runKjl, type KjlProcess } from '../support/cli.js';
import { startEventRecorder } from '../support/event-recorder.js';
import { byLabels, overlaps } from '../support/job-lifetimes.js';
import { INVALID_KINDS, message } from '../support/messages.js';
import { receiveAll } from '../support/sqs.js';
import { createSetup, ofType, useStack, type ReceivedEvent, type Setup } from '../support/stack.js';
import { waitFor } from '../support/wait.js';

/**
 * The randomized run: builds of every kind go through SQS to three `kjl start` processes while, at
 * moments a seeded generator picks, workers are SIGKILLed (some while they deliver a `failed`
 * event), Redis is killed and restarted (AOF on), a fifth of the API calls of every verb fail,
 * watches are cut every 2 s and one gets 410, the events sink is slow and flaky, and a one-shot
 * command runs with another limit. Invariants are judged from Redis, SQS, the events sink and the
 * simulated cluster's own record. `KJL_FAULTS_SEED=<n>` replays a seed; `npm run test:faults --
 * --long` runs the long form.
 */

const LONG = process.env.KJL_FAULTS_LONG === '1';
const SIZE = LONG
  ? { builds: 500, kills: 5, timeoutMs: 600_000 }
  : { builds: 100, kills: 2, timeoutMs: 180_000 };
const LIMIT = 8;
const MAX_ATTEMPTS = 2;
const WORKERS = 3;
const SEEDS = process.env.KJL_FAULTS_SEED
  ? [Number(process.env.KJL_FAULTS_SEED)]
  : Array.from({ length: LONG ? 1 : 3 }, () => Math.floor(Math.random() * 2 ** 31));

const stack = useStack();

/** mulberry32: a small seeded generator, so that a seed replays the same plan. */
function generator(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Kind = 'ok' | 'slow' | 'failure' | 'eviction' | 'poison';
const KINDS: [Kind, number][] = [
  ['ok', 0.45],
  ['slow', 0.15],
  ['failure', 0.15],
  ['eviction', 0.15],
  ['poison', 0.1],
];
const PARSER: Record<Exclude<Kind, 'poison'>, string> = {
  ok: 'ok',
  slow: 'hold',
  failure: 'invalid',
  eviction: 'evict',
};

interface Planned {
  kind: Exclude<Kind, 'poison'>;
  request: { thirdPartyId: string; parserId: string; contentHash: string };
  /** sent twice: the second is a duplicate */
  twice: boolean;
}

interface Plan {
  builds: Planned[];
  poison: { code: string; entry: ReturnType<(typeof INVALID_KINDS)[number]['make']> }[];
  /** ms after the start: when a worker is killed; `duringFailure` waits for a failed delivery first */
  kills: { at: number; duringFailure: boolean }[];
  redisRestartAt: number;
  commandAt: number;
}

function plan(seed: number): Plan {
  const random = generator(seed);
  const pick = (): Kind => {
    let draw = random();
    for (const [kind, share] of KINDS) if ((draw -= share) < 0) return kind;
    return 'ok';
  };
  const builds: Planned[] = [];
  const poison: Plan['poison'] = [];
  for (let i = 0; i < SIZE.builds; i++) {
    const kind = pick();
    if (kind === 'poison') {
      const invalid = INVALID_KINDS[Math.floor(random() * INVALID_KINDS.length)]!;
      poison.push({ code: invalid.code, entry: invalid.make(i) });
      continue;
    }
    builds.push({
      kind,
      request: {
        thirdPartyId: `s${seed.toString(36)}`,
        parserId: `${PARSER[kind]}-${i}`,
        contentHash: Math.floor(random() * 2 ** 48)
          .toString(16)
          .padStart(12, '0'),
      },
      // a duplicate of a failing build that arrives after it failed for good is built again (as
      // documented): only builds that succeed are sent twice, so that each plan has one outcome
      twice: (kind === 'ok' || kind === 'slow') && random() < 0.2,
    });
  }
  const span = SIZE.builds * 120;
  const kills = Array.from({ length: SIZE.kills }, (_, i) => ({
    at: Math.floor(1000 + random() * span),
    duringFailure: i % 2 === 0,
  })).sort((a, b) => a.at - b.at);
  return {
    builds,
    poison,
    kills,
    redisRestartAt: Math.floor(2000 + random() * span),
    commandAt: Math.floor(1000 + random() * span),
  };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** What each kind ends as: its final entry state and how many runs (Jobs) it takes. */
const EXPECTED: Record<Planned['kind'], { state: 'completed' | 'failed'; runs: number }> = {
  ok: { state: 'completed', runs: 1 },
  slow: { state: 'completed', runs: 1 },
  failure: { state: 'failed', runs: 1 },
  eviction: { state: 'failed', runs: MAX_ATTEMPTS },
};

async function drainDlq(setup: Setup): Promise<string[]> {
  const messages = await receiveAll(stack.infra.client, setup.env.KJL_SQS_DLQ_URL!);
  return messages.map((m) => m.MessageAttributes?.['kjl-error-code']?.StringValue ?? 'none');
}

/** The final event of a request: its success, or its failure that will not be retried. */
function finalIds(events: ReceivedEvent[], requestId: string): string[] {
  const finals = events.filter(
    (event) =>
      event.data.requestId === requestId &&
      (event.type === 'dev.kjl.build.succeeded' ||
        (event.type === 'dev.kjl.build.failed' && event.data.willRetry === false)),
  );
  return [...new Set(finals.map((event) => event.id))];
}

describe('the randomized run', () => {
  it.each(SEEDS)(
    'seed %i: every invariant holds under crashes, Redis restarts and API faults',
    { timeout: SIZE.timeoutMs + 90_000 },
    async (seed) => {
      const { infra } = stack;
      const chosen = plan(seed);
      const sink = await startEventRecorder({ latencyMs: 150, failRate: 0.05 });
      const setup = await createSetup(
        infra,
        {
          KJL_MAX_CONCURRENT_JOBS: String(LIMIT),
          KJL_MAX_ATTEMPTS: String(MAX_ATTEMPTS),
          KJL_FAILURE_BACKOFF_SECONDS: '1',
          KJL_WORKER_LOCK_SECONDS: '3',
          KJL_WAIT_POLL_MS: '200',
          KJL_SQS_VISIBILITY_TIMEOUT_SECONDS: '10',
          KJL_SQS_HEARTBEAT_SECONDS: '3',
          KJL_SWEEP_INTERVAL_SECONDS: '5',
          KJL_SHUTDOWN_TIMEOUT_SECONDS: '5',
          KJL_LOG_LEVEL: 'warn',
        },
        { sink },
      );
      const figures = {
        seed,
        builds: chosen.builds.length,
        poison: chosen.poison.length,
        kills: 0,
        killsDuringFailure: 0,
        redisRestarts: 0,
      };
      const workers: (KjlProcess | undefined)[] = [];
      // each worker sends its events to its own path, so a delivery tells who is delivering
      // a worker that cannot start (Redis is down at that moment) is started again, as a pod's
      // restart policy would
      const spawnWorker = async (slot: number): Promise<void> => {
        for (;;) {
          try {
            workers[slot] = await stack.spawn(setup, { KJL_EVENTS_SINK: `${sink.url}/w${slot}` });
            return;
          } catch {
            await sleep(1000);
          }
        }
      };
      const kill = async (preferred: number) => {
        const alive = workers.map((worker, slot) => (worker ? slot : -1)).filter((slot) => slot >= 0);
        const slot = alive.includes(preferred) ? preferred : alive[0];
        if (slot === undefined) return;
        const worker = workers[slot]!;
        workers[slot] = undefined;
        await worker.stop('SIGKILL');
        figures.kills += 1;
        await sleep(500 + Math.floor(generator(seed + slot)() * 2000));
        await spawnWorker(slot);
      };
      // the next `failed` delivery names its worker: that worker is killed while it delivers (when
      // no failure comes within 10 s, any worker is)
      const killDuringFailure = () =>
        new Promise<void>((resolve) => {
          let fired = false;
          setTimeout(() => {
            if (fired) return;
            fired = true;
            void kill(0).finally(resolve);
          }, 10_000);
          sink.onAttempt((event, path) => {
            const slot = Number(/\/w(\d+)$/.exec(path)?.[1]);
            if (fired || event.type !== 'dev.kjl.build.failed' || !workers[slot]) return;
            fired = true;
            figures.killsDuringFailure += 1;
            void kill(slot).finally(resolve);
          });
        });

      infra.cluster.faults.set({
        errors: { '*': { '429': 0.07, '500': 0.07, '503': 0.06 } },
        cutWatches: { everySeconds: 2 },
        expireWatches: { count: 1, mode: 'event' },
      });
      await fetch(`${infra.cluster.url}/sim/reset-stats`, { method: 'POST' });
      for (let slot = 0; slot < WORKERS; slot++) await spawnWorker(slot);
      const started = Date.now();

      // the timeline: publishing, kills, the Redis restart and the one-shot command, as planned
      const timeline: Promise<unknown>[] = [];
      timeline.push(
        (async () => {
          const messages = [
            ...chosen.builds
              .flatMap(({ request, twice }) => (twice ? [request, request] : [request]))
              .map((request, i) => message(request, 'structured', `m${seed}-${i}`)),
            ...chosen.poison.map(({ entry }) => entry),
          ];
          const order = generator(seed + 7);
          messages.sort(() => order() - 0.5);
          for (let i = 0; i < messages.length; i += 10) {
            await sendMessages(infra.client, setup.queueUrl, messages.slice(i, i + 10));
            await sleep(100);
          }
        })(),
      );
      for (const planned of chosen.kills) {
        timeline.push(
          (async () => {
            await sleep(planned.at);
            if (planned.duringFailure) await killDuringFailure();
            else await kill(Math.floor(generator(planned.at)() * WORKERS));
          })(),
        );
      }
      timeline.push(
        (async () => {
          await sleep(chosen.redisRestartAt);
          await infra.redis.halt(true);
          await sleep(2000);
          await infra.redis.restart();
          figures.redisRestarts += 1;
        })(),
      );
      timeline.push(
        (async () => {
          await sleep(chosen.commandAt);
          const some = requestIdOf(chosen.builds[0]!.request);
          await runKjl(['status', some], { env: { ...setup.env, KJL_MAX_CONCURRENT_JOBS: '50' } });
        })(),
      );

      const queue = new Queue(setup.config.queue.name, {
        connection: redisOptionsFor(infra.redis.url, 'worker'),
        prefix: setup.config.queue.prefix,
      });
      queue.on('error', () => {}); // Redis is restarted on purpose
      try {
        // wait until every valid request has its final state in Redis and its final event; what is
        // still missing after the timeout is listed by the comparison below
        await waitFor(
          'every build to reach its final state',
          async () => {
            for (const planned of chosen.builds) {
              const id = requestIdOf(planned.request);
              const job = await queue.getJob(id);
              if (!job || (await job.getState()) !== EXPECTED[planned.kind].state) return false;
              if (finalIds(sink.events, id).length === 0) return false;
            }
            return true;
          },
          SIZE.timeoutMs,
          1000,
        ).catch(() => undefined);
        await Promise.all(timeline);
        infra.cluster.faults.clear();
        await sleep(3000);

        const stats = infra.cluster.stats();
        const lifetimes = infra.cluster.jobLifetimes().filter((job) => job.namespace === setup.namespace);
        let lost = 0;
        let duplicated = 0;
        const wrong: object[] = [];
        for (const planned of chosen.builds) {
          const id = requestIdOf(planned.request);
          const job = await queue.getJob(id);
          const state = job ? await job.getState() : 'missing';
          const expected = EXPECTED[planned.kind];
          if (state !== expected.state) lost += 1;
          const jobs = stats.jobsCreated[jobNameFor(planned.request, setup.config.k8s.instance)] ?? 0;
          const runs = new Set(ofType(sink.events, 'started', id).map((event) => event.id)).size;
          if (jobs > expected.runs || runs > expected.runs) duplicated += 1;
          const finals = finalIds(sink.events, id).length;
          if (state !== expected.state || jobs !== expected.runs || runs !== expected.runs || finals !== 1) {
            const seen = sink.events
              .filter((event) => event.data.requestId === id)
              .map((event) =>
                [event.id, event.data.reason, event.data.willRetry].filter((x) => x !== undefined).join(' '),
              );
            wrong.push({ id, kind: planned.kind, state, jobs, runs, finals, events: seen });
          }
        }
        const dlq = await drainDlq(setup);
        const maxActive = stats.maxActiveJobsPerNamespace[setup.namespace] ?? 0;
        console.log(
          JSON.stringify({
            ...figures,
            seconds: Math.round((Date.now() - started) / 1000),
            faultsInjected: stats.faults,
            lost,
            duplicated,
            maxActive,
            deadLettered: dlq.length,
          }),
        );
        expect(wrong).toEqual([]);
        expect(lost).toBe(0);
        expect(duplicated).toBe(0);
        expect(overlaps(lifetimes, byLabels('kjl.dev/third-party-id', 'kjl.dev/parser-id'))).toEqual([]);
        expect(maxActive).toBeLessThanOrEqual(LIMIT);
        expect(dlq.sort()).toEqual(chosen.poison.map((p) => p.code).sort());
        expect(figures.kills).toBeGreaterThanOrEqual(SIZE.kills);
        expect(figures.redisRestarts).toBe(1);
      } finally {
        infra.cluster.faults.clear();
        await queue.close();
        await sink.stop();
      }
    },
  );
});
