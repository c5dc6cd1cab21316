import { performance } from 'node:perf_hooks';
import { ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import { sendMessages } from '../../dist/intake/publisher.js';
import { depth, queueName } from './stack.js';
import { benchRequest, invalidMessage, requestId, validMessage } from './messages.js';
import { round, seededRandom, shuffle } from './stats.js';
import { waitFor } from './wait.js';

/** Every message of the dead-letter queue, read without waiting. */
async function drain(client, queueUrl) {
  const messages = [];
  for (;;) {
    const { Messages } = await client.send(
      new ReceiveMessageCommand({
        QueueUrl: queueUrl,
        MaxNumberOfMessages: 10,
        MessageAttributeNames: ['All'],
        WaitTimeSeconds: 0,
      }),
    );
    if (!Messages?.length) return messages;
    messages.push(...Messages);
  }
}

/**
 * Pre-loads `messages` into a fresh SQS queue, starts a runtime with role `intake` and times it
 * from the call to `startRuntime` until every message is handled (queued, deduplicated or
 * dead-lettered) and the source queue is empty. Returns the timing, the intake's counters and the
 * queue's entry count (read before the runtime stops).
 */
export async function timeIntake(stack, scenario, messages, { keepRuntime = false } = {}) {
  const sqs = await stack.sqs();
  await sendMessages(sqs.client, sqs.queues.builds, messages);
  const name = queueName(scenario);
  const started = performance.now();
  const { runtime, stop } = await stack.runtime({ role: 'intake', sqs, queueName: name });
  const ready = performance.now();
  const counts = runtime.intake.counts;
  await waitFor(
    `${scenario}: ${messages.length} messages handled`,
    () => counts.queued + counts.deduplicated + counts.deadLettered >= messages.length,
    { timeoutMs: 90_000, everyMs: 5 },
  );
  await waitFor(
    `${scenario}: the source queue to empty`,
    async () => (await depth(sqs.client, sqs.queues.builds)) === 0,
    {
      timeoutMs: 30_000,
      everyMs: 5,
    },
  );
  const seconds = (performance.now() - started) / 1000;
  const entries = await runtime.queue.queue.getJobCountByTypes('waiting', 'prioritized', 'delayed', 'active');
  const deadLetters = await drain(sqs.client, sqs.queues.buildsDlq);
  if (!keepRuntime) {
    await stop();
    await sqs.stop();
  }
  return {
    seconds,
    startupMs: round(ready - started),
    counts: { ...counts },
    entries,
    deadLetters,
    queueName: name,
    runtime,
    stop,
    sqs,
  };
}

/** Row 1: 2,000 valid messages in the three formats; then 2,000 of which 20 % are invalid. */
export async function intakeThroughput(stack, { count, invalidShare, report, check }) {
  const random = seededRandom(1);
  const valid = shuffle(
    Array.from({ length: count }, (_, i) => validMessage(benchRequest('intake', i), i)),
    random,
  );
  const clean = await timeIntake(stack, 'intake', valid);
  check('intake: every valid message queued once', clean.counts.queued === count && clean.entries === count, {
    queued: clean.counts.queued,
    entries: clean.entries,
    expected: count,
  });
  report({
    metric: 'intake throughput (valid)',
    value: round(count / clean.seconds),
    unit: 'msg/s',
    notes: `${count} msgs, 3 formats, in ${round(clean.seconds, 2)} s (start-up ${clean.startupMs} ms)`,
    details: {
      messages: count,
      seconds: round(clean.seconds, 3),
      startupMs: clean.startupMs,
      counts: clean.counts,
    },
  });

  const invalidCount = Math.round(count * invalidShare);
  const validCount = count - invalidCount;
  const expectedCodes = {};
  const mixed = Array.from({ length: validCount }, (_, i) => validMessage(benchRequest('dlq', i), i));
  for (let i = 0; i < invalidCount; i++) {
    const { code, message } = invalidMessage(i);
    expectedCodes[code] = (expectedCodes[code] ?? 0) + 1;
    mixed.push(message);
  }
  shuffle(mixed, random);
  const dirty = await timeIntake(stack, 'intake-dlq', mixed);
  const codes = {};
  for (const message of dirty.deadLetters) {
    const code = message.MessageAttributes?.['kjl-error-code']?.StringValue ?? 'none';
    codes[code] = (codes[code] ?? 0) + 1;
  }
  const codesMatch =
    Object.keys(expectedCodes).length === Object.keys(codes).length &&
    Object.entries(expectedCodes).every(([code, n]) => codes[code] === n);
  check(
    'intake with invalid messages: valid ones queued, invalid ones dead-lettered with their codes',
    dirty.counts.queued === validCount &&
      dirty.entries === validCount &&
      dirty.counts.deadLettered === invalidCount &&
      dirty.deadLetters.length === invalidCount &&
      codesMatch,
    {
      counts: dirty.counts,
      entries: dirty.entries,
      deadLetters: dirty.deadLetters.length,
      codes,
      expectedCodes,
    },
  );
  report({
    metric: `intake throughput (${Math.round(invalidShare * 100)}% invalid)`,
    value: round(count / dirty.seconds),
    unit: 'msg/s',
    notes: `${validCount} queued + ${invalidCount} to DLQ in ${round(dirty.seconds, 2)} s`,
    details: {
      messages: count,
      invalid: invalidCount,
      seconds: round(dirty.seconds, 3),
      startupMs: dirty.startupMs,
      counts: dirty.counts,
      codes,
    },
  });
  return { clean, dirty };
}

/** Row 4: 100 unique requests × 10 duplicates each (different event ids and formats), shuffled. */
export async function dedupCost(stack, { unique, copies, perMessageMs, report, check }) {
  const messages = [];
  for (let i = 0; i < unique; i++) {
    const request = benchRequest('dedup', i);
    for (let copy = 0; copy < copies; copy++)
      messages.push(validMessage(request, i + copy, `dedup-${i}-${copy}`));
  }
  shuffle(messages, seededRandom(4));
  const run = await timeIntake(stack, 'dedup', messages, { keepRuntime: true });
  try {
    const ids = new Set(
      (await run.runtime.queue.queue.getJobs(['waiting', 'prioritized', 'delayed', 'active'])).map(
        (job) => job.id,
      ),
    );
    const expected = new Set(Array.from({ length: unique }, (_, i) => requestId(benchRequest('dedup', i))));
    const sameIds = ids.size === expected.size && [...expected].every((id) => ids.has(id));
    check(
      `dedup: ${unique * copies} messages make exactly ${unique} entries`,
      run.entries === unique &&
        sameIds &&
        run.counts.queued === unique &&
        run.counts.deduplicated === unique * (copies - 1),
      { entries: run.entries, counts: run.counts, sameIds },
    );
  } finally {
    await run.stop();
    await run.sqs.stop();
  }
  const total = unique * copies;
  const msPerMessage = (run.seconds * 1000) / total;
  report({
    metric: 'dedup drain',
    value: round(run.seconds, 2),
    unit: 's',
    notes: `${total} msgs (${unique} unique × ${copies}) → ${run.entries} entries, ${round(total / run.seconds)} msg/s`,
    details: {
      messages: total,
      unique,
      seconds: round(run.seconds, 3),
      counts: run.counts,
      entries: run.entries,
    },
  });
  report({
    metric: 'dedup cost per message',
    value: round(msPerMessage, 3),
    unit: 'ms/msg',
    notes:
      perMessageMs === undefined
        ? '90% duplicates'
        : `90% duplicates; all-new messages: ${round(perMessageMs, 3)} ms/msg (row 1)`,
  });
}
