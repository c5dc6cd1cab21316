import { describe, expect, it } from 'vitest';
import { requestIdOf } from '../../src/build-request.js';
import { createSetup, ofType, useStack } from '../support/stack.js';

/**
 * Room under the limit left by a worker process above its fair share (it took the whole limit
 * alone, then another worker joined): it takes no new entry when a build ends, so the room is the
 * joining worker's — which waits on the queue, refused earlier at the limit. Judged from the
 * simulated cluster's own record of when each Job ended and was created.
 */

const PARSER_ID = 'kjl.dev/parser-id';
const stack = useStack({
  rules: [
    // the three builds that end while the others wait, two seconds apart
    { match: { labels: { [PARSER_ID]: 'first-0' } }, action: 'succeed', seconds: 15 },
    { match: { labels: { [PARSER_ID]: 'first-1' } }, action: 'succeed', seconds: 17 },
    { match: { labels: { [PARSER_ID]: 'first-2' } }, action: 'succeed', seconds: 19 },
    { match: { labels: { [PARSER_ID]: 'stay-*' } }, action: 'succeed', seconds: 60 },
    // the waiting builds stay too: each takes the room of one that ended, and gives none back
    { match: { labels: { [PARSER_ID]: 'next-*' } }, action: 'succeed', seconds: 60 },
  ],
});

const builds = (prefix: string, count: number) =>
  Array.from({ length: count }, (_, i) => ({
    thirdPartyId: 'room',
    parserId: `${prefix}-${i}`,
    contentHash: `${i.toString(16).padStart(4, '0')}2b2b2b2b`,
  }));

describe('worker processes sharing the limit', () => {
  it('gives the room a worker above its share leaves to a worker waiting at the limit, at once', async () => {
    const setup = await createSetup(stack.infra, { KJL_MAX_CONCURRENT_JOBS: '8' });
    await stack.spawn(setup, { KJL_ROLE: 'worker' });
    await stack.launch({ ...setup, config: { ...setup.config, role: 'intake' } });
    // the first worker alone takes the whole limit: three builds that end soon, five that stay
    await setup.publish([...builds('first', 3), ...builds('stay', 5)]);
    await setup.waitForEvents('eight builds started', (all) => ofType(all, 'started').length === 8, 30_000);
    // a second worker joins; both read their share (8 over 2, plus 1: 5) within 5 s
    await stack.spawn(setup, { KJL_ROLE: 'worker' });
    await new Promise((resolve) => setTimeout(resolve, 6000));
    const waiting = builds('next', 3);
    await setup.publish(waiting);
    await setup.waitForEvents(
      'the three waiting builds started',
      (all) => waiting.every((build) => ofType(all, 'started', requestIdOf(build)).length === 1),
      60_000,
    );

    const jobs = stack.infra.cluster.jobLifetimes().filter((job) => job.namespace === setup.namespace);
    const of = (prefix: string) => jobs.filter((job) => job.labels[PARSER_ID]?.startsWith(`${prefix}-`));
    const ends = of('first')
      .map((job) => Date.parse(job.finishedAt!))
      .sort((a, b) => a - b);
    const creates = of('next')
      .map((job) => Date.parse(job.createdAt))
      .sort((a, b) => a - b);
    expect(creates).toHaveLength(3);
    // each waiting build took the room of the k-th build to end within a second (BullMQ alone wakes
    // the waiting worker at its next 5 s block timeout: with ends 2 s apart, one gap at least is long)
    const gaps = creates.map((created, k) => created - ends[k]!);
    expect(
      gaps.every((gap) => gap >= 0 && gap < 1000),
      `gaps ${gaps.join(', ')} ms`,
    ).toBe(true);
    expect(stack.infra.cluster.stats().maxActiveJobsPerNamespace[setup.namespace]).toBeLessThanOrEqual(8);
  });
});
