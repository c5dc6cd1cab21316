import type { Logger } from '../logger.js';

/** Resolves with the name of the first SIGINT or SIGTERM. */
export function untilSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const onSignal = (signal: NodeJS.Signals) => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      resolve(signal);
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
}

/** Runs `stop` and gives up (exit code 1) when it takes longer than `seconds`. */
export async function stopWithin(seconds: number, stop: () => Promise<void>, logger: Logger): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<'late'>((resolve) => {
    timer = setTimeout(() => resolve('late'), seconds * 1000);
  });
  const outcome = await Promise.race([stop().then(() => 'done' as const), deadline]);
  clearTimeout(timer);
  if (outcome === 'late') {
    logger.error({ seconds }, 'graceful stop took too long; exiting');
    process.exitCode = 1;
  }
}
