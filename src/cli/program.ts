import { Command, CommanderError } from 'commander';
import { ConfigError, KjlError, UsageError } from '../errors.js';
import { devCommand } from './dev-command.js';
import { publishCommand } from './publish-command.js';
import {
  cancelCommand,
  failedCommand,
  limitCommand,
  listCommand,
  logsCommand,
  statusCommand,
} from './build-commands.js';
import { deadLetterCommand } from './dlq-command.js';
import { simClusterCommand } from './sim-cluster-command.js';
import { startCommand } from './start-command.js';

/** Builds the `kjl` program; each command lives in its own file. */
export function buildProgram(): Command {
  const program = new Command('kjl')
    .description('kube-job-launcher: SQS build requests in, Kubernetes Jobs out')
    .exitOverride()
    .showHelpAfterError();
  for (const command of [
    startCommand(),
    devCommand(),
    publishCommand(),
    statusCommand(),
    listCommand(),
    logsCommand(),
    cancelCommand(),
    limitCommand(),
    failedCommand(),
    deadLetterCommand(),
    simClusterCommand(),
  ]) {
    program.addCommand(command.exitOverride().showHelpAfterError());
  }
  return program;
}

/** Runs the command line; returns the process exit code. */
export async function runCli(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
    return 0;
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode === 0 ? 0 : 2;
    if (error instanceof ConfigError || error instanceof UsageError) {
      console.error(`kjl: ${error.message}`);
      return 2;
    }
    if (error instanceof KjlError) {
      // an expected failure: one line with its code and context, no stack trace
      console.error(`kjl: ${error.code}: ${error.message}${contextText(error)}`);
      return 1;
    }
    console.error(`kjl: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    return 1;
  }
}

/** ` (key=value, …)` of an error's context, or nothing. */
function contextText(error: KjlError): string {
  const entries = Object.entries(error.context).filter(([, value]) => value !== undefined);
  return entries.length ? ` (${entries.map(([key, value]) => `${key}=${String(value)}`).join(', ')})` : '';
}
