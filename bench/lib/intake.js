// Intake throughput: 5,000 messages sent while a launcher (`kjl start`, role intake) or the bare
// loop (bare-intake.js: receive(10) → addBulk → delete-batch, the same clients) waits on an empty
// queue; messages per second from the first send to the last entry's timestamp in the queue, with
// the Redis commands and the launcher's CPU over that window.
import { performance } from 'node:perf_hooks';
import { DEV_REGION } from '../../dist/dev/embedded-sqs.js';
import { sendMessages } from '../../dist/intake/publisher.js';
import { startBare, startLauncher } from './child.js';
import { benchRequest, validMessage } from './messages.js';
import { depth, queueName } from './stack.js';
import { waitFor } from './wait.js';

export const SETTINGS = { full: { messages: 5000 }, quick: { messages: 300 } };

/** Sends `messages` in `parallel` streams of batches (faster than either side takes them). */
async function sendAll(client, queueUrl, messages, parallel = 8) {
  const streams = Array.from({ length: parallel }, (_, stream) =>
    messages.filter((_, i) => Math.floor(i / 10) % parallel === stream),
  );
  await Promise.all(streams.map((stream) => sendMessages(client, queueUrl, stream)));
}

/**
 * One intake run: the process `start` starts (the launcher, or the bare loop) is ready on an empty
 * queue; then the messages arrive and the clock runs until the last one is in Redis and gone from
 * SQS. CPU (from /proc) and Redis commands (the server's counter) are counted over that window
 * only, so start-up costs nothing here.
 */
async function timeIntake(stack, start, count, tag) {
  const sqs = await stack.sqs();
  const name = queueName(`intake-${tag}`);
  const messages = Array.from({ length: count }, (_, i) => validMessage(benchRequest(`${tag}-intake`, i), i));
  const process = await start(sqs, name);
  const queue = stack.queue(name);
  try {
    const [commands0, cpu0] = [await stack.redisCommands(), await process.cpuSeconds()];
    const began = performance.now();
    const beganAt = Date.now();
    await sendAll(sqs.client, sqs.queues.builds, messages);
    const sentMs = performance.now() - began;
    await waitFor(
      `${tag}: ${count} messages taken from SQS`,
      async () => (await depth(sqs.client, sqs.queues.builds)) === 0,
      {
        timeoutMs: 120_000,
        everyMs: 10,
      },
    );
    const [commands1, cpu1] = [await stack.redisCommands(), await process.cpuSeconds()];
    const entries = await queue.getJobs(['waiting', 'prioritized'], 0, -1);
    const lastAt = Math.max(...entries.map((entry) => entry.timestamp));
    return {
      entries: entries.length,
      seconds: (lastAt - beganAt) / 1000,
      sentSeconds: sentMs / 1000,
      // the two counter reads themselves are 2 commands
      commandsPerMessage: (commands1 - commands0 - 2) / count,
      cpuMsPerMessage: ((cpu1 - cpu0) * 1000) / count,
    };
  } finally {
    await process.stop();
    await queue.obliterate({ force: true });
    await sqs.stop();
  }
}

/**
 * Intake: messages waiting in SQS → entries in Redis, kjl (role intake) against the bare loop
 * (bench/lib/bare-intake.js), alternating, on the same servers. Redis fsyncs every write.
 */
export async function run(stack, { settings, repeats, figure, check }) {
  const count = settings.messages;
  const kjl = [];
  const bare = [];
  for (let i = 0; i < repeats; i++) {
    kjl.push(
      await timeIntake(
        stack,
        (sqs, name) =>
          startLauncher(stack, { role: 'intake', sqs, queueName: name, env: { KJL_SQS_WAIT_SECONDS: '1' } }),
        count,
        `kjl${i}`,
      ),
    );
    bare.push(
      await timeIntake(
        stack,
        (sqs, name) =>
          startBare(stack, './bare-intake.js', {
            region: DEV_REGION,
            endpoint: sqs.endpoint,
            queueUrl: sqs.queues.builds,
            redisUrl: stack.redis.url,
            queueName: name,
          }),
        count,
        `bare${i}`,
      ),
    );
  }
  for (const [who, runs] of [
    ['kjl', kjl],
    ['bare loop', bare],
  ]) {
    check(
      `intake (${who}): every message became one entry`,
      runs.every((r) => r.entries === count),
      {
        entries: runs.map((r) => r.entries),
        expected: count,
      },
    );
  }
  const notes = `${count} msgs (3 formats) → Redis entries, Redis fsync always; bare: receive(10) → addBulk → delete batch`;
  const details = { messages: count, kjl, bare };
  figure({
    figure: 'intake throughput',
    unit: 'msg/s',
    digits: 0,
    runs: kjl.map((r) => count / r.seconds),
    baseline: { label: 'bare loop', runs: bare.map((r) => count / r.seconds) },
    goal: { min: 0.8, on: 'ratio' },
    notes,
    details,
  });
  figure({
    figure: 'intake Redis commands per message',
    unit: 'cmd',
    runs: kjl.map((r) => r.commandsPerMessage),
    baseline: { label: 'bare loop', runs: bare.map((r) => r.commandsPerMessage) },
    notes: "the Redis server's total_commands_processed over the run ÷ messages",
  });
  figure({
    figure: 'intake CPU per message',
    unit: 'ms',
    digits: 3,
    runs: kjl.map((r) => r.cpuMsPerMessage),
    baseline: { label: 'bare loop', runs: bare.map((r) => r.cpuMsPerMessage) },
    notes: "the process's user + system CPU over the run (/proc) ÷ messages",
  });
  for (const r of [...kjl, ...bare]) {
    check(
      'intake: the bench sent well ahead of the intake (it measured the intake, not the sender)',
      r.sentSeconds < r.seconds * 0.75,
      r,
    );
  }
}
