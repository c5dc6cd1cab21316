import { describe, expect, it } from 'vitest';
import { decide, type EntryState } from '../../src/app/dedup-policy.js';

const limits = { failureBackoffMs: 300_000, pollMs: 1000 };
const now = 1_700_000_000_000;
const entry = (state: Partial<EntryState> = {}): EntryState => ({
  requestId: 'rA',
  started: false,
  holderLive: false,
  cancelled: false,
  ...state,
});

describe('decide: the dedup and backoff policy', () => {
  it('runs a request with nothing in its way', () => {
    expect(decide(entry({ latest: 'rA' }), limits, now)).toEqual({ action: 'run' });
  });

  it('ends a cancelled request, telling whether it had started', () => {
    expect(decide(entry({ cancelled: true }), limits, now)).toEqual({ action: 'cancel', running: false });
    expect(decide(entry({ cancelled: true, started: true }), limits, now)).toEqual({
      action: 'cancel',
      running: true,
    });
  });

  it('supersedes a request that has not started when newer content came for its target', () => {
    expect(decide(entry({ latest: 'rB' }), limits, now)).toEqual({ action: 'supersede', by: 'rB' });
  });

  it('lets a started request go on even when newer content came (its Job is adopted)', () => {
    expect(decide(entry({ latest: 'rB', holder: 'rA', started: true }), limits, now)).toEqual({
      action: 'run',
    });
  });

  it('lets a started request go on through its failure backoff (a taken-over run adopts its Job)', () => {
    expect(decide(entry({ started: true, failedAt: now }), limits, now)).toEqual({ action: 'run' });
  });

  it('never runs two Jobs for one target: waits while another request holds it', () => {
    expect(decide(entry({ holder: 'rB', holderLive: true }), limits, now)).toEqual({
      action: 'wait',
      until: now + 1000,
      reason: 'target busy with rB',
    });
  });

  it('takes over a stale hold (its holder finished or vanished)', () => {
    expect(decide(entry({ holder: 'rB', holderLive: false }), limits, now)).toEqual({
      action: 'run',
      takeOver: 'rB',
    });
  });

  it('waits out the failure backoff of its target, to the millisecond', () => {
    const failedAt = now - 60_000;
    expect(decide(entry({ failedAt }), limits, now)).toEqual({
      action: 'wait',
      until: failedAt + 300_000,
      reason: 'failure backoff',
    });
    expect(decide(entry({ failedAt }), limits, failedAt + 300_000)).toEqual({ action: 'run' });
  });

  it('applies the rules in order: cancel, started, supersede, target, backoff', () => {
    const everything = entry({
      cancelled: true,
      latest: 'rB',
      holder: 'rC',
      holderLive: true,
      failedAt: now,
    });
    expect(decide(everything, limits, now).action).toBe('cancel');
    expect(decide({ ...everything, cancelled: false, started: true }, limits, now)).toEqual({
      action: 'run',
      takeOver: 'rC',
    });
    expect(decide({ ...everything, cancelled: false }, limits, now).action).toBe('supersede');
    expect(decide({ ...everything, cancelled: false, latest: 'rA' }, limits, now)).toMatchObject({
      reason: 'target busy with rC',
    });
    expect(
      decide({ ...everything, cancelled: false, latest: 'rA', holderLive: false }, limits, now),
    ).toMatchObject({ reason: 'failure backoff' });
  });
});
