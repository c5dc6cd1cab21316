import { resolve } from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import { createLogger } from '../logger.js';
import { addConfigFlags, configFromFlags } from './config-flags.js';
import { untilSignal } from './lifecycle.js';

interface SimClusterFlags extends Record<string, unknown> {
  port: number;
  host: string;
  kubeconfig: string;
  rules?: string;
  timeScale: number;
}

function number(min: number, integer: boolean) {
  return (text: string): number => {
    const value = Number(text);
    if (!Number.isFinite(value) || value < min || (integer && !Number.isInteger(value))) {
      throw new InvalidArgumentError(`must be ${integer ? 'an integer' : 'a number'} >= ${min}`);
    }
    return value;
  };
}

async function runSimCluster(flags: SimClusterFlags): Promise<void> {
  const [{ loadKubeletRules }, { startSimCluster }] = await Promise.all([
    import('../dev/sim-cluster/controllers/index.js'),
    import('../dev/sim-cluster/index.js'),
  ]);
  const logger = createLogger({ level: configFromFlags(flags).log.level });
  const kubeconfigPath = resolve(flags.kubeconfig);
  const cluster = await startSimCluster({
    port: flags.port,
    host: flags.host,
    timeScale: flags.timeScale,
    kubeconfigPath,
    logger,
    ...(flags.rules ? { rules: loadKubeletRules(flags.rules) } : {}),
  });
  console.log(`simulated cluster listening on ${cluster.url}`);
  console.log(`export KUBECONFIG=${kubeconfigPath}`);
  const signal = await untilSignal();
  logger.info({ signal }, 'stopping simulated cluster');
  await cluster.stop();
}

/** `kjl sim-cluster`: runs the simulated Kubernetes cluster until interrupted. */
export function simClusterCommand(): Command {
  const command = new Command('sim-cluster')
    .description(
      'run a simulated Kubernetes API server (Jobs, Pods, Events) for local use with kubectl and kjl',
    )
    .option('--port <port>', 'port to listen on (0 = any free port)', number(0, true), 0)
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option(
      '--kubeconfig <file>',
      'where to write the kubeconfig for the cluster',
      '.kjl/sim-kubeconfig.yaml',
    )
    .option('--rules <file>', 'kubelet rules (YAML or JSON): what simulated containers do')
    .option('--time-scale <x>', 'simulated seconds per real second', number(Number.MIN_VALUE, false), 1);
  return addConfigFlags(command, ['KJL_LOG_LEVEL']).action(async (flags: SimClusterFlags) =>
    runSimCluster(flags),
  );
}
