import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KjlError } from '../errors.js';

/** A free TCP port on the loopback interface. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

export interface RedisServerOptions {
  port?: number;
  /** data folder; a new temporary one (removed on stop) when unset */
  dir?: string;
  /** the binary; default `redis-server` from PATH */
  binary?: string;
}

/**
 * A `redis-server` child process on a free port, with append-only persistence (fsync always) in
 * its own folder, so that it can be stopped and restarted with its data (what "durably in Redis"
 * means for tests and `kjl dev`).
 */
export class RedisServer {
  private child: ChildProcess | undefined;
  private ownsDir = false;

  private constructor(
    readonly port: number,
    readonly dir: string,
    private readonly binary: string,
  ) {}

  static async start(options: RedisServerOptions = {}): Promise<RedisServer> {
    const port = options.port ?? (await freePort());
    const dir = options.dir ?? (await mkdtemp(join(tmpdir(), 'kjl-redis-')));
    const server = new RedisServer(port, dir, options.binary ?? 'redis-server');
    server.ownsDir = options.dir === undefined;
    await server.restart();
    return server;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  get running(): boolean {
    return this.child !== undefined;
  }

  /** Starts the server (again) on the same port with the same data. */
  async restart(): Promise<void> {
    if (this.child) return;
    const args = ['--port', String(this.port), '--bind', '127.0.0.1', '--dir', this.dir];
    args.push('--appendonly', 'yes', '--appendfsync', 'always', '--save', '', '--daemonize', 'no');
    const child = spawn(this.binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    await new Promise<void>((resolve, reject) => {
      const onData = (chunk: Buffer) => {
        output += chunk.toString();
        if (output.includes('Ready to accept connections')) resolve();
      };
      child.stdout!.on('data', onData);
      child.stderr!.on('data', onData);
      child.once('error', (error) =>
        reject(
          new KjlError('KJL_REDIS_START_FAILED', `could not start ${this.binary}: ${error.message}`, {
            cause: error,
            context: { port: this.port },
          }),
        ),
      );
      child.once('exit', (code) =>
        reject(
          new KjlError(
            'KJL_REDIS_START_FAILED',
            `${this.binary} exited with code ${code}: ${output.trim()}`,
            {
              context: { port: this.port },
            },
          ),
        ),
      );
    });
    child.stdout!.resume();
    child.stderr!.resume();
    this.child = child;
    child.once('exit', () => {
      if (this.child === child) this.child = undefined;
    });
  }

  /** Stops the server; `kill` = SIGKILL (a crash) instead of a clean shutdown. */
  async halt(kill = false): Promise<void> {
    const child = this.child;
    if (!child) return;
    this.child = undefined;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill(kill ? 'SIGKILL' : 'SIGTERM');
    await exited;
  }

  /** Stops the server and removes its temporary folder. */
  async stop(): Promise<void> {
    await this.halt();
    if (this.ownsDir) await rm(this.dir, { recursive: true, force: true });
  }
}
