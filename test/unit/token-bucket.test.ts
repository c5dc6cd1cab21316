import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { TokenBucket } from '../../src/k8s/token-bucket.js';

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

describe('TokenBucket', () => {
  it('lets a burst through at once, then one request per 1/qps seconds, in order', async () => {
    const bucket = new TokenBucket(10, 3, () => Date.now());
    const done: number[] = [];
    const takes = Array.from({ length: 6 }, (_, i) => bucket.take().then(() => done.push(i)));
    await vi.advanceTimersByTimeAsync(0);
    expect(done).toEqual([0, 1, 2]);
    await vi.advanceTimersByTimeAsync(100);
    expect(done).toEqual([0, 1, 2, 3]);
    await vi.advanceTimersByTimeAsync(200);
    await Promise.all(takes);
    expect(done).toEqual([0, 1, 2, 3, 4, 5]);
  });

  it('saves up to the burst while idle, not more', async () => {
    const bucket = new TokenBucket(10, 2, () => Date.now());
    await bucket.take();
    await bucket.take();
    await vi.advanceTimersByTimeAsync(10_000);
    const done: number[] = [];
    for (let i = 0; i < 3; i++) void bucket.take().then(() => done.push(i));
    await vi.advanceTimersByTimeAsync(0);
    expect(done).toEqual([0, 1]);
  });
});
