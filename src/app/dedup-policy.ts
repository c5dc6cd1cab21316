/** What is known about a queue entry and its target when a worker picks the entry up. */
export interface EntryState {
  requestId: string;
  /** the entry has a run under way (its Job may exist): it goes on, adopting its Job */
  started: boolean;
  /** the request holding the target, if any */
  holder?: string;
  /** whether the holder's queue entry is still waiting or running (else its hold is stale) */
  holderLive: boolean;
  /** the target's newest request, by send time */
  latest?: string;
  cancelled: boolean;
  /** when the target last failed (epoch ms) */
  failedAt?: number;
}

export interface PolicyLimits {
  failureBackoffMs: number;
  /** how soon an entry that waits for its target is looked at again */
  pollMs: number;
}

export type Decision =
  /** cancelled: `running` when this entry had started a run */
  | { action: 'cancel'; running: boolean }
  /** newer content for the target came before this entry started */
  | { action: 'supersede'; by: string }
  | { action: 'wait'; until: number; reason: string }
  /** build now; `takeOver` names a stale holder whose hold this entry replaces */
  | { action: 'run'; takeOver?: string };

/**
 * The dedup and backoff policy, in the order it applies: a cancelled entry ends; a started one goes
 * on (a worker taking it over adopts its Job, whatever came meanwhile); an entry that has not
 * started is superseded by newer content for its target; two Jobs for one target never run at
 * once (an entry waits while another holds the target, unless that hold is stale); a target waits
 * out the failure backoff. The concurrent-job limit is the slot reservation that follows a `run`.
 * Pure: `now` is the clock.
 */
export function decide(state: EntryState, limits: PolicyLimits, now: number): Decision {
  if (state.cancelled) return { action: 'cancel', running: state.started };
  const otherHolder =
    state.holder !== undefined && state.holder !== state.requestId ? state.holder : undefined;
  if (state.started) return otherHolder ? { action: 'run', takeOver: otherHolder } : { action: 'run' };
  if (state.latest && state.latest !== state.requestId) return { action: 'supersede', by: state.latest };
  if (otherHolder && state.holderLive) {
    return { action: 'wait', until: now + limits.pollMs, reason: `target busy with ${otherHolder}` };
  }
  if (state.failedAt !== undefined && now < state.failedAt + limits.failureBackoffMs) {
    return { action: 'wait', until: state.failedAt + limits.failureBackoffMs, reason: 'failure backoff' };
  }
  return otherHolder ? { action: 'run', takeOver: otherHolder } : { action: 'run' };
}
