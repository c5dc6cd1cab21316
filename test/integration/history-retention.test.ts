import { describe, expect, it } from 'vitest';
import { requestIdOf } from '../../src/build-request.js';
import { useKjlDev } from '../support/kjl-dev.js';
import { waitFor } from '../support/wait.js';

/**
 * `KJL_HISTORY_RETENTION` against `kjl dev`: the history keeps the newest finished builds up to
 * the count, and none older than the age, as `kjl list` shows them.
 */

const { kjl } = useKjlDev('history', { KJL_HISTORY_RETENTION: '1m,2' });
const succeeded = async (): Promise<string[]> => {
  const result = await kjl('list', '--state', 'succeeded', '--json');
  expect(result.stderr).toBe('');
  return (JSON.parse(result.stdout) as { builds: { requestId: string }[] }).builds.map((b) => b.requestId);
};
const build = (n: number) => ({
  thirdPartyId: 'keep',
  parserId: `history-${n}`,
  contentHash: `${n}0c0c0c0c`,
});

/** Publishes build `n` and waits until the history lists it as succeeded. */
async function run(n: number): Promise<string> {
  const { thirdPartyId, parserId, contentHash } = build(n);
  await kjl(
    'publish',
    '--third-party-id',
    thirdPartyId,
    '--parser-id',
    parserId,
    '--content-hash',
    contentHash,
  );
  const id = requestIdOf(build(n));
  await waitFor(`build ${n} in the history`, async () => (await succeeded()).includes(id), 30_000);
  return id;
}

describe('KJL_HISTORY_RETENTION', () => {
  it('keeps the newest builds up to the count, and none older than the age', async () => {
    const first = await run(1);
    const second = await run(2);
    expect((await succeeded()).sort()).toEqual([first, second].sort());
    // a third finished build: the count (2) drops the oldest
    const third = await run(3);
    expect((await succeeded()).sort()).toEqual([second, third].sort());
    // past the age (1 m, the shortest allowed), the next build to finish leaves only itself
    await new Promise((resolve) => setTimeout(resolve, 61_000));
    const fourth = await run(4);
    expect(await succeeded()).toEqual([fourth]);
  }, 150_000);
});
