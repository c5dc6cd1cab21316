import type { BuildNotice, Notify } from '../build-notice.js';
import type { QueuedBuild } from '../build-request.js';
import type { Logger } from '../logger.js';

/** A notice's phase and details, without the build's identity. */
export type NoticeDetails = BuildNotice extends infer N
  ? N extends BuildNotice
    ? Omit<N, 'requestId' | 'thirdPartyId' | 'parserId' | 'contentHash' | 'attempt'>
    : never
  : never;

/** The notice about run `attempt` of `build`. */
export function noticeOf(build: QueuedBuild, attempt: number, details: NoticeDetails): BuildNotice {
  const { thirdPartyId, parserId, contentHash } = build.request;
  return {
    requestId: build.requestId,
    thirdPartyId,
    parserId,
    contentHash,
    attempt,
    ...details,
  } as BuildNotice;
}

/**
 * Sends a notice; false when it could not be delivered (after the sink's own retries). It is logged
 * and never fails or repeats a build: a final notice that did not go out is sent again later, with
 * the same id, from the outcome recorded on the entry.
 */
export async function announce(
  notify: Notify,
  build: QueuedBuild,
  attempt: number,
  details: NoticeDetails,
  log: Logger,
): Promise<boolean> {
  try {
    await notify(noticeOf(build, attempt, details));
    return true;
  } catch (error) {
    log.warn({ err: error, requestId: build.requestId, phase: details.phase }, 'could not send build notice');
    return false;
  }
}
