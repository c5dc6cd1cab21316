import type { Config } from '../config/config.js';
import { createSqsClient } from '../intake/sqs-client.js';
import { SqsIntake } from '../intake/sqs-intake.js';
import type { Logger } from '../logger.js';
import { BuildQueue } from '../queue/build-queue.js';
import { UsageError } from '../errors.js';

/** A running kjl: the parts `kjl start` and `kjl dev` wire together. */
export interface Runtime {
  queue: BuildQueue;
  intake: SqsIntake | undefined;
  stop(): Promise<void>;
}

/** The composition root: builds every adapter from the config and connects them. */
export async function startRuntime(config: Config, logger: Logger): Promise<Runtime> {
  const runsIntake = config.role === 'all' || config.role === 'intake';
  if (runsIntake && !config.sqs.queueUrl) {
    throw new UsageError('KJL_SQS_QUEUE_URL: required when the intake runs (role all or intake)');
  }
  const queue = await BuildQueue.open({
    redisUrl: config.redis.url,
    name: config.queue.name,
    prefix: config.queue.prefix,
    maxConcurrentJobs: config.queue.maxConcurrentJobs,
    successDedupSeconds: config.queue.successDedupSeconds,
    logger: logger.child({ module: 'queue' }),
  });
  let intake: SqsIntake | undefined;
  if (runsIntake) {
    const sqs = createSqsClient({
      region: config.sqs.region,
      ...(config.sqs.endpoint ? { endpoint: config.sqs.endpoint } : {}),
    });
    intake = new SqsIntake({
      sqs,
      queueUrl: config.sqs.queueUrl!,
      ...(config.sqs.dlqUrl ? { dlqUrl: config.sqs.dlqUrl } : {}),
      batchSize: config.sqs.batchSize,
      waitTimeSeconds: config.sqs.waitTimeSeconds,
      visibilityTimeoutSeconds: config.sqs.visibilityTimeoutSeconds,
      heartbeatSeconds: config.sqs.heartbeatSeconds,
      retryBackoffSeconds: config.sqs.retryBackoffSeconds,
      parse: {
        eventType: config.intake.eventType,
        wrapSource: `kjl/sqs/${config.sqs.queueUrl!.split('/').at(-1)}`,
        limits: {
          templates: config.k8s.templates,
          defaultTemplate: config.k8s.defaultTemplate,
          maxEnvEntries: config.intake.maxEnvEntries,
          maxCpu: config.intake.maxCpu,
          maxMemory: config.intake.maxMemory,
        },
      },
      submitter: queue,
      logger: logger.child({ module: 'intake' }),
    });
    intake.start();
  }
  return {
    queue,
    intake,
    async stop() {
      await intake?.stop();
      await queue.close();
    },
  };
}
