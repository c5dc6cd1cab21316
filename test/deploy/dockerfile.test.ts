import { cp, mkdir, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { homedir } from 'node:os';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { requestIdOf } from '../../src/build-request.js';
import { runCommand, spawnProcess, type KjlProcess } from '../support/cli.js';
import { envOf, execForm, parseDockerfile, type Stage } from '../support/dockerfile.js';
import { createSetup, ofType, useStack } from '../support/stack.js';
import { freePort } from '../../src/dev/redis-server.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const DOCKERFILE = join(ROOT, 'Dockerfile');
const stages = parseDockerfile(DOCKERFILE);
const runtime = stages.at(-1)!;
const args = (stage: Stage, instruction: string) =>
  stage.instructions.filter((entry) => entry.instruction === instruction).map((entry) => entry.args);

/** Commands of the runtime stage's RUN lines that shape the image outside /app (user, links): not re-run here. */
const IMAGE_ONLY = [
  /^chmod 0755 \/app\/dist\/cli\/main\.js$/,
  /^ln -s /,
  /^groupadd /,
  /^useradd /,
  /^npm cache clean/,
];

const stack = useStack();

describe('the Dockerfile', () => {
  it('passes dockerfilelint', async () => {
    const lint = join(ROOT, 'node_modules/dockerfilelint/bin/dockerfilelint');
    const result = await runCommand(process.execPath, [lint, '--json', DOCKERFILE]);
    const report = JSON.parse(result.stdout) as { totalIssues: number; files: { issues: unknown[] }[] };
    expect(report.files.flatMap((file) => file.issues)).toEqual([]);
    expect(result.code).toBe(0);
  });

  it('builds in one stage and runs Node 24 slim in another: production dependencies, a non-root user, a healthcheck on /healthz, kjl start', () => {
    expect(stages.map((stage) => [stage.name, stage.from])).toEqual([
      ['build', 'node:24-bookworm-slim'],
      ['runtime', 'node:24-bookworm-slim'],
    ]);
    expect(args(runtime, 'RUN').join(' && ')).toMatch(/(^| )npm ci --omit=dev /);
    const [user] = args(runtime, 'USER');
    expect(Number(user!.split(':')[0])).toBeGreaterThan(0);
    const [healthcheck] = args(runtime, 'HEALTHCHECK');
    expect(healthcheck).toMatch(/\/healthz/);
    expect(execForm(args(runtime, 'ENTRYPOINT')[0]!)).toEqual(['node', '/app/dist/cli/main.js', 'start']);
    expect(envOf(args(runtime, 'ENV').join(' ')).HOME).toBe('/tmp');
  });

  it('copies from the build context only what .dockerignore lets through', async () => {
    const allowed = (await readFile(join(ROOT, '.dockerignore'), 'utf8'))
      .split('\n')
      .filter((line) => line.startsWith('!'))
      .map((line) => line.slice(1).replace(/\/$/, ''));
    const sources = stages
      .flatMap((stage) => args(stage, 'COPY'))
      .filter((copy) => !copy.startsWith('--from='))
      .flatMap((copy) => copy.split(' ').slice(0, -1));
    expect(sources.filter((source) => !allowed.includes(source.replace(/\/$/, '')))).toEqual([]);
  });
});

describe('the runtime the Dockerfile describes, outside Docker', () => {
  let app: string | undefined;
  let kjl: KjlProcess | undefined;
  afterAll(async () => {
    await kjl?.stop('SIGKILL');
    if (app) await rm(app, { recursive: true, force: true });
  });

  it('installs with npm ci --omit=dev, runs kjl start under a read-only root (only /tmp writable) and answers its healthcheck', async () => {
    // The image's /app, outside /tmp so that it is read-only below.
    await mkdir(join(homedir(), '.cache'), { recursive: true });
    app = await mkdtemp(join(homedir(), '.cache', 'kjl-production-'));
    const build = stages.find((stage) => stage.name === 'build')!;
    const buildDir = args(build, 'WORKDIR')[0]!;
    expect(args(runtime, 'WORKDIR')).toEqual(['/app']);
    const inApp = (path: string) => resolve(app!, relative('/app', resolve('/app', path)));
    let env: Record<string, string> = {};
    let healthcheck: string[] = [];
    let entrypoint: string[] = [];
    for (const { instruction, args: line } of runtime.instructions) {
      if (instruction === 'ENV') env = { ...env, ...envOf(line) };
      else if (instruction === 'COPY') {
        const parts = line.split(' ');
        const from = parts[0]!.startsWith('--from=') ? parts.shift()!.slice('--from='.length) : undefined;
        const to = parts.pop()!;
        const intoFolder = parts.length > 1 || to.endsWith('/');
        for (const source of parts) {
          // the build stage compiled the repository's sources: its /src/dist is this checkout's dist/
          const path = from === 'build' ? join(ROOT, relative(buildDir, source)) : join(ROOT, source);
          const target = intoFolder ? join(inApp(to), basename(source)) : inApp(to);
          await mkdir(dirname(target), { recursive: true });
          await cp(path, target, { recursive: true });
        }
      } else if (instruction === 'RUN') {
        for (const command of line.split(' && ').map((part) => part.trim())) {
          if (command.startsWith('npm ci ')) {
            const result = await runCommand('npm', command.split(' ').slice(1), { cwd: app });
            expect(result.code, `${command}:\n${result.stderr}`).toBe(0);
          } else {
            expect(
              IMAGE_ONLY.some((known) => known.test(command)),
              `RUN ${command}: teach this test what it does`,
            ).toBe(true);
          }
        }
      } else if (instruction === 'HEALTHCHECK') healthcheck = execForm(line.slice(line.indexOf('CMD ') + 4));
      else if (instruction === 'ENTRYPOINT') entrypoint = execForm(line);
    }
    const installed = await readdir(join(app, 'node_modules'));
    expect(installed).toEqual(expect.arrayContaining(['bullmq', '@kubernetes', 'fastify', 'ioredis']));
    expect(
      installed.filter((name) =>
        ['vitest', 'eslint', 'prettier', 'dependency-cruiser', 'dockerfilelint'].includes(name),
      ),
    ).toEqual([]);

    const setup = await createSetup(stack.infra);
    const port = await freePort();
    const processEnv = {
      PATH: process.env.PATH!,
      ...env,
      ...setup.env,
      KJL_HTTP_PORT: String(port),
      KJL_LOG_LEVEL: 'info',
    };
    const [node, ...rest] = entrypoint.map((part) => (part.startsWith('/app/') ? inApp(part) : part));
    expect(node).toBe('node');
    // a mount namespace of its own: / read-only, /tmp writable, as `docker run --read-only --tmpfs /tmp`
    kjl = spawnProcess(
      'unshare',
      [
        '--mount',
        '--propagation',
        'private',
        'sh',
        '-c',
        'mount --bind /tmp /tmp && mount -o remount,bind,ro / && exec "$@"',
        'sh',
        process.execPath,
        ...rest,
      ],
      { env: processEnv, cwd: app },
    );
    await kjl.waitFor(/kjl started/, 60_000);
    const request = { thirdPartyId: 'image', parserId: 'production', contentHash: '0123abcdef' };
    await setup.publish([request]);
    await setup.waitForEvents(
      'the build',
      (all) => ofType(all, 'succeeded', requestIdOf(request)).length === 1,
    );

    const [probe, ...probeArgs] = healthcheck;
    expect(probe).toBe('node');
    const check = () => runCommand(process.execPath, probeArgs, { env: processEnv });
    expect((await check()).code).toBe(0);
    await kjl.stop('SIGTERM');
    expect(kjl.output()).not.toMatch(/EROFS|read-only file system/i);
    expect((await check()).code).toBe(1);
  }, 240_000);
});
