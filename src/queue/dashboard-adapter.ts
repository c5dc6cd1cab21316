import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import type { QueuedBuild } from '../build-request.js';

/**
 * Bull Board's view of the builds queue. kjl writes no BullMQ job logs: an entry's logs are the
 * log tail kept with its last failure, what an operator opens a failed build for.
 */
export class DashboardAdapter extends BullMQAdapter {
  override async getJobLogs(id: string): Promise<string[]> {
    const outcome = ((await this.getJob(id))?.data as QueuedBuild | undefined)?.outcome;
    return outcome?.status === 'failed' ? outcome.logTail : [];
  }
}
