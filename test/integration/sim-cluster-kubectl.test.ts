import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSimCluster, type SimCluster } from '../../src/dev/sim-cluster/index.js';
import { runCommand, type CliResult } from '../support/cli.js';
import { waitFor } from '../support/wait.js';

let cluster: SimCluster;
let dir: string;

/** kubectl against the simulated cluster, with its own discovery cache (ports get reused). */
function kubectlArgs(args: string[]): string[] {
  return ['--kubeconfig', join(dir, 'kubeconfig'), '--cache-dir', join(dir, 'cache'), ...args];
}

function kubectl(...args: string[]): Promise<CliResult> {
  return runCommand('kubectl', kubectlArgs(args));
}

/** Splits kubectl's table output into rows of cells. */
const rows = (text: string): string[][] =>
  text
    .trim()
    .split('\n')
    .map((line) => line.trim().split(/\s{2,}/));

function jobYaml(name: string, lines: string[] = []): string {
  return [
    'apiVersion: batch/v1',
    'kind: Job',
    'metadata:',
    `  name: ${name}`,
    'spec:',
    '  template:',
    '    spec:',
    '      restartPolicy: Never',
    '      containers:',
    '        - name: main',
    '          image: busybox',
    ...lines,
  ].join('\n');
}

async function createJob(name: string): Promise<void> {
  const file = join(dir, `${name}.yaml`);
  await writeFile(file, jobYaml(name));
  const result = await kubectl('create', '-f', file);
  expect(result.stderr).toBe('');
  expect(result.stdout.trim()).toBe(`job.batch/${name} created`);
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kjl-sim-kubectl-'));
  cluster = await startSimCluster({ timeScale: 20, kubeconfigPath: join(dir, 'kubeconfig') });
  cluster.controllers.setRules([
    {
      match: { labels: { 'job-name': 'slow-*' } },
      action: 'succeed',
      seconds: 3600,
      logs: [{ after: 0, text: 'working' }],
    },
    {
      action: 'succeed',
      seconds: 2,
      logs: [
        { after: 0, text: 'hello from the pod' },
        { after: 1, text: 'done' },
      ],
    },
  ]);
});

afterAll(async () => {
  await cluster.stop();
  await rm(dir, { recursive: true, force: true });
});

describe('kubectl against the simulated cluster', () => {
  it('answers get --raw /version', async () => {
    const result = await kubectl('get', '--raw', '/version');
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({
      major: '1',
      minor: '32',
      gitVersion: expect.any(String),
    });
  });

  it('creates from a file and lists with the server-side table columns', async () => {
    await createJob('pi');
    await waitFor('pi to complete', async () => (await kubectl('get', 'jobs')).stdout.includes('Complete'));
    const table = rows((await kubectl('get', 'jobs')).stdout);
    expect(table[0]).toEqual(['NAME', 'STATUS', 'COMPLETIONS', 'DURATION', 'AGE']);
    expect(table.find((row) => row[0] === 'pi')).toEqual([
      'pi',
      'Complete',
      '1/1',
      expect.stringMatching(/^\d+s$/),
      expect.stringMatching(/^\d+s$/),
    ]);

    const pods = rows((await kubectl('get', 'pods')).stdout);
    expect(pods[0]).toEqual(['NAME', 'READY', 'STATUS', 'RESTARTS', 'AGE']);
    expect(pods.find((row) => row[0]!.startsWith('pi-'))?.slice(1, 4)).toEqual(['0/1', 'Completed', '0']);
  });

  it('prints pods as JSON and serves raw lists without item kinds', async () => {
    const pods = JSON.parse((await kubectl('get', 'pods', '-l', 'job-name=pi', '-o', 'json')).stdout) as {
      items: { metadata: { name: string; ownerReferences: { kind: string }[] }; status: { phase: string } }[];
    };
    expect(pods.items).toHaveLength(1);
    expect(pods.items[0]!.metadata.ownerReferences[0]!.kind).toBe('Job');
    expect(pods.items[0]!.status.phase).toBe('Succeeded');

    const raw = JSON.parse(
      (await kubectl('get', '--raw', '/apis/batch/v1/namespaces/default/jobs')).stdout,
    ) as {
      kind: string;
      apiVersion: string;
      metadata: { resourceVersion: string };
      items: object[];
    };
    expect(raw).toMatchObject({
      kind: 'JobList',
      apiVersion: 'batch/v1',
      metadata: { resourceVersion: expect.stringMatching(/^\d+$/) },
    });
    for (const item of raw.items) expect(Object.keys(item)).not.toContain('kind');
  });

  it('describes a Job with its events', async () => {
    const result = await kubectl('describe', 'job', 'pi');
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^Name:\s+pi$/m);
    expect(result.stdout).toMatch(/Pods Statuses:\s+0 Active .* 1 Succeeded \/ 0 Failed/);
    expect(result.stdout).toMatch(/Normal\s+SuccessfulCreate\s+\S+\s+job-controller\s+Created pod: pi-/);
    expect(result.stdout).toMatch(/Normal\s+Completed\s+\S+\s+job-controller\s+Job completed/);
  });

  it('shows logs of a job and of a pod, with --tail and --timestamps', async () => {
    expect((await kubectl('logs', 'job/pi')).stdout).toBe('hello from the pod\ndone\n');
    const pod = (await kubectl('get', 'pods', '-l', 'job-name=pi', '-o', 'name')).stdout.trim();
    const tail = await kubectl('logs', pod, '--tail=1', '--timestamps');
    expect(tail.stdout).toMatch(/^\d{4}-\d\d-\d\dT\S+ done\n$/);
  });

  it('patches with --type merge', async () => {
    await createJob('slow-patch');
    const result = await kubectl(
      'patch',
      'job',
      'slow-patch',
      '--type',
      'merge',
      '-p',
      '{"spec":{"suspend":true}}',
    );
    expect(result.stdout.trim()).toBe('job.batch/slow-patch patched');
    await waitFor('the Suspended status', async () => {
      const table = rows((await kubectl('get', 'job', 'slow-patch')).stdout);
      return table[1]?.[1] === 'Suspended';
    });
  });

  it('watches with get -w and prints new rows as they come', async () => {
    const child = spawn('kubectl', kubectlArgs(['get', 'jobs', '-w']), { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    try {
      await waitFor('the initial table', () => output.includes('slow-patch'));
      await createJob('slow-watched');
      await waitFor('the new job row', () => output.includes('slow-watched'));
      expect(output.split('\n')[0]).toMatch(/^NAME\s+STATUS\s+COMPLETIONS\s+DURATION\s+AGE$/);
    } finally {
      child.kill();
    }
  });

  it('deletes a Job (Background by default in kubectl) and its pods', async () => {
    await createJob('slow-deleted');
    await waitFor('a running pod', async () =>
      (await kubectl('get', 'pods', '-l', 'job-name=slow-deleted')).stdout.includes('Running'),
    );
    const result = await kubectl('delete', 'job', 'slow-deleted');
    expect(result.stdout.trim()).toBe('job.batch "slow-deleted" deleted');
    expect(result.stderr).toBe('');
    await waitFor('the pods to go', async () => {
      const pods = await kubectl('get', 'pods', '-l', 'job-name=slow-deleted', '-o', 'name');
      return pods.code === 0 && pods.stdout.trim() === '';
    });
  });

  it('creates a ResourceQuota and shows its usage', async () => {
    const file = join(dir, 'quota.yaml');
    await writeFile(
      file,
      [
        'apiVersion: v1',
        'kind: Namespace',
        'metadata: { name: quota-ns }',
        '---',
        'apiVersion: v1',
        'kind: ResourceQuota',
        'metadata: { name: builds, namespace: quota-ns }',
        'spec: { hard: { pods: "5", count/jobs.batch: "2" } }',
      ].join('\n'),
    );
    const created = await kubectl('create', '-f', file);
    expect(created.stdout.trim().split('\n')).toEqual([
      'namespace/quota-ns created',
      'resourcequota/builds created',
    ]);
    const table = await waitFor('the quota status', async () => {
      const quotas = rows((await kubectl('get', 'quota', '-n', 'quota-ns')).stdout);
      return quotas[1]?.[2] ? quotas : undefined;
    });
    expect(table[0]).toEqual(['NAME', 'AGE', 'REQUEST', 'LIMIT']);
    expect(table[1]).toEqual(['builds', expect.stringMatching(/^\d+s$/), 'count/jobs.batch: 0/2, pods: 0/5']);
  });

  it('reports server errors the way kubectl does for a real cluster', async () => {
    const missing = await kubectl('get', 'job', 'nope');
    expect(missing.code).toBe(1);
    expect(missing.stderr.trim()).toBe('Error from server (NotFound): jobs.batch "nope" not found');

    const file = join(dir, 'invalid.yaml');
    await writeFile(file, jobYaml('invalid').replace('restartPolicy: Never', 'restartPolicy: Always'));
    const invalid = await kubectl('create', '-f', file);
    expect(invalid.code).toBe(1);
    expect(invalid.stderr).toContain(
      'The Job "invalid" is invalid: spec.template.spec.restartPolicy: Unsupported value: "Always": supported values: "OnFailure", "Never"',
    );
  });
});
