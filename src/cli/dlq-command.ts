import { Command } from 'commander';
import type { DeadLetterFilter } from '../app/ports.js';
import { UsageError } from '../errors.js';
import { commandConfig, oneShot, withService } from './command-service.js';

function filterOf(options: Record<string, unknown>): DeadLetterFilter {
  const max = options.max === undefined ? undefined : Number(options.max);
  if (max !== undefined && (!Number.isInteger(max) || max < 1)) {
    throw new UsageError(`--max: must be a whole number of 1 or more (got "${String(options.max)}")`);
  }
  return {
    ...(max !== undefined ? { max } : {}),
    ...(options.code ? { code: String(options.code) } : {}),
    ...(options.messageId ? { messageId: String(options.messageId) } : {}),
  };
}

const dlqCommand = (name: string, description: string) =>
  oneShot(new Command(name).description(description)).addHelpText(
    'after',
    '\nThe dead-letter queue is KJL_SQS_DLQ_URL (--sqs-dlq-url); messages go back to their kjl-source-queue, else KJL_SQS_QUEUE_URL.',
  );

/** `kjl dlq list|replay|purge`: the SQS dead-letter queue (messages that never became requests). */
export function deadLetterCommand(): Command {
  const dlq = new Command('dlq').description(
    'the SQS dead-letter queue: messages that never became build requests',
  );
  dlq.addCommand(
    dlqCommand('list', 'list dead-lettered messages with their error code and reason, without taking them')
      .option('--max <n>', 'at most this many')
      .option('--code <code>', 'only messages dead-lettered with this kjl-error-code')
      .option('--json', 'print JSON')
      .action(async (options: Record<string, unknown>) => {
        const config = await commandConfig(options);
        const letters = await withService(config, (service) => service.deadLetters(filterOf(options)));
        if (options.json) console.log(JSON.stringify(letters, null, 2));
        else if (letters.length === 0) console.log('the dead-letter queue is empty');
        else {
          for (const letter of letters) {
            const sent = letter.sentAt ? new Date(letter.sentAt).toISOString() : '';
            console.log(
              `${letter.messageId}  ${sent}  ${letter.code ?? '(no code)'}  ${letter.reason ?? ''}`,
            );
          }
        }
      }),
  );
  dlq.addCommand(
    dlqCommand(
      'replay',
      'move dead-lettered messages back to their source queue (the intake checks them again)',
    )
      .option('--max <n>', 'at most this many')
      .option('--code <code>', 'only messages dead-lettered with this kjl-error-code')
      .option('--message-id <id>', 'only this message')
      .action(async (options: Record<string, unknown>) => {
        const config = await commandConfig(options);
        const result = await withService(config, (service) =>
          service.replayDeadLetters(filterOf(options), (progress) => {
            const left = progress.remaining !== undefined ? `, ${progress.remaining} left` : '';
            process.stderr.write(`\rmoved ${progress.moved}${left}`);
          }),
        );
        if (result.moved > 0) process.stderr.write('\n');
        console.log(
          `moved ${result.moved} message(s) back to their source queue (${result.method === 'move-task' ? 'SQS message move task' : 'receive, send, delete'})`,
        );
      }),
  );
  dlq.addCommand(
    dlqCommand('purge', 'delete every message of the dead-letter queue')
      .option('--yes', 'yes, delete them')
      .action(async (options: Record<string, unknown>) => {
        if (!options.yes) throw new UsageError('purge deletes every dead-lettered message: give --yes');
        const config = await commandConfig(options);
        await withService(config, (service) => service.purgeDeadLetters());
        console.log('the dead-letter queue is purged');
      }),
  );
  return dlq;
}
