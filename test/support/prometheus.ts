import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { waitFor } from './wait.js';
import { freePort } from '../../src/dev/redis-server.js';

/** One sample of a text exposition: `name{a="x",b="y"}` → value (labels in the order written). */
export type Samples = Map<string, number>;

/** The samples of a Prometheus text exposition (`# HELP`/`# TYPE` lines skipped). */
export function parseExposition(text: string): Samples {
  const samples: Samples = new Map();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const match = /^(\S+?(?:\{.*\})?) (\S+)$/.exec(line);
    if (!match) throw new Error(`not an exposition line: ${line}`);
    samples.set(match[1]!, Number(match[2]));
  }
  return samples;
}

/** A sample's value by name and labels (in any order); undefined when the exposition lacks it. */
export function sample(
  samples: Samples,
  name: string,
  labels: Record<string, string> = {},
): number | undefined {
  const wanted = Object.entries(labels);
  for (const [key, value] of samples) {
    const match = /^([^{]+)(?:\{(.*)\})?$/.exec(key);
    if (match?.[1] !== name) continue;
    const have = new Map(
      [...(match[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map(([, k, v]) => [k!, v!]),
    );
    if (have.size === wanted.length && wanted.every(([k, v]) => have.get(k) === v)) return value;
  }
  return undefined;
}

/** The path of a Prometheus binary, or a failure that says how to get it. */
export function prometheusBinary(name: 'prometheus' | 'promtool'): string {
  const found = spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' });
  const path = found.stdout.trim();
  if (found.status !== 0 || !path) {
    throw new Error(
      `${name} is not on the PATH: install Debian's prometheus package (./scripts/test.sh does it ` +
        `with apt-get when run as root: apt-get install -y --no-install-recommends prometheus)`,
    );
  }
  return path;
}

/** A vector result of the query API. */
export interface VectorSample {
  metric: Record<string, string>;
  value: [number, string];
}

/** An alert as `/api/v1/alerts` lists it. */
export interface ActiveAlert {
  labels: Record<string, string>;
  annotations: Record<string, string>;
  state: 'pending' | 'firing';
  value: string;
}

export interface PrometheusServer {
  url: string;
  /** the alerts pending or firing now */
  alerts(): Promise<ActiveAlert[]>;
  /** an instant query through `/api/v1/query`; the vector it returns */
  query(expr: string): Promise<VectorSample[]>;
  /** the first sample's value, or undefined when the result is empty */
  value(expr: string): Promise<number | undefined>;
  output(): string;
  stop(): Promise<void>;
}

/**
 * A real Prometheus of the test's own: a temporary folder for its configuration and its TSDB, a
 * free port, a scrape of `targets` every second and `ruleFiles` evaluated every second.
 */
export async function startPrometheus(
  targets: string[],
  options: { ruleFiles?: string[] } = {},
): Promise<PrometheusServer> {
  const binary = prometheusBinary('prometheus');
  const dir = await mkdtemp(join(tmpdir(), 'kjl-prometheus-'));
  const port = await freePort();
  const config = join(dir, 'prometheus.yml');
  await writeFile(
    config,
    [
      'global:',
      '  scrape_interval: 1s',
      '  scrape_timeout: 1s',
      '  evaluation_interval: 1s',
      ...(options.ruleFiles?.length
        ? ['rule_files:', ...options.ruleFiles.map((file) => `  - '${file}'`)]
        : []),
      'scrape_configs:',
      '  - job_name: kjl',
      '    static_configs:',
      `      - targets: [${targets.map((target) => `'${target}'`).join(', ')}]`,
      '',
    ].join('\n'),
  );
  const child: ChildProcess = spawn(
    binary,
    [
      `--config.file=${config}`,
      `--storage.tsdb.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--log.level=warn',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = `http://127.0.0.1:${port}`;
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await exited;
    await rm(dir, { recursive: true, force: true });
  };
  try {
    await waitFor(
      'Prometheus to be ready',
      async () => {
        if (child.exitCode !== null) throw new Error(`prometheus exited (${child.exitCode}):\n${output}`);
        return (await fetch(`${url}/-/ready`)).ok;
      },
      20_000,
      100,
    );
  } catch (error) {
    await stop();
    throw error;
  }
  const query = async (expr: string): Promise<VectorSample[]> => {
    const response = await fetch(`${url}/api/v1/query?query=${encodeURIComponent(expr)}`);
    const body = (await response.json()) as {
      status: string;
      error?: string;
      data?: { resultType: string; result: VectorSample[] };
    };
    if (body.status !== 'success') throw new Error(`query ${expr} failed: ${body.error}`);
    return body.data!.result;
  };
  return {
    url,
    query,
    async alerts() {
      const response = await fetch(`${url}/api/v1/alerts`);
      const body = (await response.json()) as { data: { alerts: ActiveAlert[] } };
      return body.data.alerts;
    },
    async value(expr) {
      const [first] = await query(expr);
      return first ? Number(first.value[1]) : undefined;
    },
    output: () => output,
    stop,
  };
}
