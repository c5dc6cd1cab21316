import type { Logger } from '../logger.js';

/** Resolves with the name of the first SIGINT or SIGTERM; a second one exits at once (code 130). */
export function untilSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const onSignal = (signal: NodeJS.Signals) => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      process.once('SIGINT', () => process.exit(130));
      process.once('SIGTERM', () => process.exit(130));
      resolve(signal);
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
}

/**
 * Waits for SIGTERM or SIGINT, runs `stop`, and ends the process: exit code 0 when `stop` finished
 * within `seconds`, 1 when it did not (whatever still holds the event loop — a timer, a socket to a
 * Redis that is gone — is not waited for). Running Jobs are left to be adopted.
 */
export async function serveUntilSignal(
  seconds: number,
  stop: () => Promise<void>,
  logger: Logger,
): Promise<never> {
  const signal = await untilSignal();
  logger.info({ signal, deadlineSeconds: seconds }, 'stopping');
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<'late'>((resolve) => {
    timer = setTimeout(() => resolve('late'), seconds * 1000);
  });
  const outcome = await Promise.race([
    stop().then(
      () => 'done' as const,
      (error: unknown) => {
        logger.error({ err: error }, 'error while stopping');
        return 'failed' as const;
      },
    ),
    deadline,
  ]);
  clearTimeout(timer);
  if (outcome === 'late') logger.error({ seconds }, 'graceful stop took too long; exiting');
  else logger.info('stopped');
  // let the log line reach its destination before the process ends
  await new Promise((resolve) => setImmediate(resolve));
  process.exit(outcome === 'done' ? 0 : 1);
}
