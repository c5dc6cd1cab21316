/** What is known about a queue entry and its target when a worker picks the entry up. */
export interface EntryState {
  requestId: string;
  /** the request holding the target (running its Job), if any */
  holder?: string;
  /** whether the holder's queue entry is still waiting or running (else its hold is stale) */
  holderLive: boolean;
  /** the target's newest request, by send time */
  latest?: string;
  cancelled: boolean;
  /** when the target last failed (epoch ms) */
  failedAt?: number;
  /** unfinished Jobs in the cluster, not counting this request's own */
  activeJobs: number;
}

export interface PolicyLimits {
  failureBackoffMs: number;
  maxConcurrentJobs: number;
  /** how soon an entry that waits for its target or for room is looked at again */
  pollMs: number;
}

export type Decision =
  /** cancelled: `running` when this entry had started (held its target) */
  | { action: 'cancel'; running: boolean }
  /** newer content for the target came before this entry started */
  | { action: 'supersede'; by: string }
  | { action: 'wait'; until: number; reason: string }
  /** build now; `takeOver` names a stale holder whose hold this entry replaces */
  | { action: 'run'; takeOver?: string };

/**
 * The dedup and backoff policy of DESIGN.md step 3, in the order it applies:
 * a cancelled entry ends; an entry that has not started yet is superseded by newer content for
 * its target; two Jobs for one target never run at once (an entry waits while another holds the
 * target, unless that hold is stale); a target waits out the failure backoff; the concurrent-job
 * limit holds against the Jobs the cluster runs. An entry that holds its target has started: it
 * goes on (a restarted worker adopts its Job) even if newer content came meanwhile.
 */
export function decide(state: EntryState, limits: PolicyLimits, now: number): Decision {
  const started = state.holder === state.requestId;
  if (state.cancelled) return { action: 'cancel', running: started };
  if (!started && state.latest && state.latest !== state.requestId)
    return { action: 'supersede', by: state.latest };
  const otherHolder = state.holder !== undefined && !started ? state.holder : undefined;
  if (otherHolder && state.holderLive) {
    return { action: 'wait', until: now + limits.pollMs, reason: `target busy with ${otherHolder}` };
  }
  if (state.failedAt !== undefined && now < state.failedAt + limits.failureBackoffMs) {
    return { action: 'wait', until: state.failedAt + limits.failureBackoffMs, reason: 'failure backoff' };
  }
  if (state.activeJobs >= limits.maxConcurrentJobs) {
    return { action: 'wait', until: now + limits.pollMs, reason: 'concurrent job limit reached' };
  }
  return otherHolder ? { action: 'run', takeOver: otherHolder } : { action: 'run' };
}
