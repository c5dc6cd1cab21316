import { Command } from 'commander';
import { createLogger } from '../logger.js';
import { addConfigFlags, configFromFlags } from './config-flags.js';
import { serveUntilSignal } from './lifecycle.js';
import { startRuntime } from './runtime.js';

/** `kjl start`: the service, with the role chosen by `--role` / `KJL_ROLE`. */
export function startCommand(): Command {
  const command = new Command('start').description(
    'run the launcher against real SQS, Redis and Kubernetes (every setting is also a flag: --max-concurrent-jobs, --redis-url, …)',
  );
  addConfigFlags(command, [
    'KJL_ROLE',
    'KJL_SQS_QUEUE_URL',
    'KJL_REDIS_URL',
    'KJL_HTTP_PORT',
    'KJL_LOG_LEVEL',
  ]);
  return command.action(async (options: Record<string, unknown>) => {
    const config = configFromFlags(options, {}, {}, 'service');
    const logger = createLogger({ level: config.log.level });
    const runtime = await startRuntime(config, logger, { http: true });
    logger.info({ role: config.role }, 'kjl started');
    await serveUntilSignal(config.shutdownTimeoutSeconds, () => runtime.stop(), logger);
  });
}
