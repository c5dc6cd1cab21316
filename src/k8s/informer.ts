import type { V1ObjectMeta, Watch } from '@kubernetes/client-node';
import type { Logger } from '../logger.js';

/** What a list call returns (client-node's list types all have this shape). */
export interface KubeList<T> {
  items: T[];
  metadata?: { resourceVersion?: string };
}

export type ChangeType = 'added' | 'modified' | 'deleted';
export type ChangeListener<T> = (type: ChangeType, object: T, previous: T | undefined) => void;

export interface InformerOptions<T> {
  /** for log lines: `jobs`, `pods` */
  resource: string;
  /** the collection's API path, e.g. `/apis/batch/v1/namespaces/ns/jobs` */
  path: string;
  labelSelector: string;
  list: () => Promise<KubeList<T>>;
  watch: Pick<Watch, 'watch'>;
  /** keeps only what the launcher reads of an object (the cache holds these copies) */
  strip: (object: T) => T;
  onChange: ChangeListener<T>;
  logger: Logger;
  /** first wait after a failure; doubles up to maxDelayMs */
  minDelayMs?: number;
  maxDelayMs?: number;
  now?: () => number;
}

type WatchEnd = 'expired' | 'ended';

const isExpired = (error: unknown): boolean => {
  const status = (error as { statusCode?: unknown; code?: unknown } | null) ?? {};
  return status.statusCode === 410 || status.code === 410;
};

/**
 * A list+watch cache of one resource, by label selector: the informer of the Kubernetes client
 * libraries, with the restart rules kjl needs. Whatever fails — the list, the watch request, the
 * credentials plugin run before it — is retried with backoff for as long as the informer runs; a
 * 410 Gone (HTTP status or ERROR event) relists. `live` tells whether the watch is open (or was,
 * within `staleMs`), so readiness can say when the cache stops following the cluster.
 */
export class Informer<T extends { metadata?: V1ObjectMeta }> {
  private objects = new Map<string, T>();
  private resourceVersion = '';
  private controller: AbortController | undefined;
  private running = false;
  private loop: Promise<void> | undefined;
  private wake: (() => void) | undefined;
  private watching = false;
  /** last moment the watch was known open (epoch ms); 0 before the first one */
  private liveAt = 0;
  private synced = false;
  private readonly syncWaiters: (() => void)[] = [];
  private readonly now: () => number;
  /** last moment the cache was shown current (epoch ms); see `lastEventAt` */
  private lastSignAt: number;

  constructor(private readonly options: InformerOptions<T>) {
    this.now = options.now ?? Date.now;
    this.lastSignAt = this.now();
  }

  /** Starts listing and watching; resolves once the first list is in the cache. */
  start(): Promise<void> {
    if (!this.running) {
      this.running = true;
      this.loop = this.run();
    }
    return this.whenSynced();
  }

  async stop(): Promise<void> {
    this.running = false;
    this.controller?.abort();
    this.wake?.();
    await this.loop;
  }

  whenSynced(): Promise<void> {
    return this.synced ? Promise.resolve() : new Promise((resolve) => this.syncWaiters.push(resolve));
  }

  /** True once a list has filled the cache. */
  get hasSynced(): boolean {
    return this.synced;
  }

  /**
   * The last moment (epoch ms) the cache was shown to follow the cluster: a list, a watch opened
   * from the cached resourceVersion, or a watch event (BOOKMARKs count). A watch with nothing to
   * say is closed by client-node after 30 s and opened again, so a live informer shows a sign at
   * least that often; one that cannot list or watch shows none. Before the first: its creation.
   */
  get lastEventAt(): number {
    return this.lastSignAt;
  }

  /** True while the watch is open, or has been within the last `staleMs`. */
  isLive(staleMs: number): boolean {
    return this.synced && (this.watching || this.now() - this.liveAt < staleMs);
  }

  get(name: string): T | undefined {
    return this.objects.get(name);
  }

  values(): IterableIterator<T> {
    return this.objects.values();
  }

  get size(): number {
    return this.objects.size;
  }

  private async run(): Promise<void> {
    const { logger, resource } = this.options;
    const minDelay = this.options.minDelayMs ?? 200;
    const maxDelay = this.options.maxDelayMs ?? 5000;
    let failures = 0;
    while (this.running) {
      try {
        if (!this.resourceVersion) await this.relist();
        const openedAt = this.now();
        const end = await this.watchOnce(() => {
          if (failures > 0) logger.info({ resource }, 'watch live again');
          failures = 0;
        });
        if (end === 'expired') this.resourceVersion = '';
        // a watch that ends as soon as it opened must not turn into a busy loop
        else if (this.now() - openedAt < minDelay) await this.sleep(minDelay);
      } catch (error) {
        failures += 1;
        if (this.running) {
          const log = failures === 1 ? logger.warn.bind(logger) : logger.debug.bind(logger);
          log({ err: error, resource, failures }, 'watch failed; retrying with backoff');
        }
      }
      if (failures > 0) await this.sleep(Math.min(minDelay * 2 ** (failures - 1), maxDelay));
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.wake = done;
    });
  }

  private async relist(): Promise<void> {
    const list = await this.options.list();
    const fresh = new Map<string, T>();
    for (const item of list.items) {
      const object = this.options.strip(item);
      fresh.set(object.metadata!.name!, object);
    }
    const previous = this.objects;
    this.objects = fresh;
    this.resourceVersion = list.metadata?.resourceVersion ?? '';
    this.lastSignAt = this.now();
    for (const [name, old] of previous) {
      if (!fresh.has(name)) this.options.onChange('deleted', old, old);
    }
    for (const [name, object] of fresh) {
      const old = previous.get(name);
      if (old?.metadata?.resourceVersion !== object.metadata?.resourceVersion || !old) {
        this.options.onChange(old ? 'modified' : 'added', object, old);
      }
    }
    if (!this.synced) {
      this.synced = true;
      for (const resolve of this.syncWaiters.splice(0)) resolve();
    }
  }

  /** One watch request, from the cached resourceVersion; resolves when it ends, rejects when it fails. */
  private watchOnce(onOpen: () => void): Promise<WatchEnd> {
    return new Promise<WatchEnd>((resolve, reject) => {
      let ended = false;
      let expired = false;
      const done = (error: unknown) => {
        if (ended) return;
        ended = true;
        if (this.watching) this.liveAt = this.now();
        this.watching = false;
        this.controller = undefined;
        const name = (error as { name?: unknown } | null)?.name;
        if (!error || name === 'TimeoutError' || name === 'AbortError' || !this.running) {
          resolve(expired ? 'expired' : 'ended');
        } else if (isExpired(error)) resolve('expired');
        else reject(error);
      };
      const params = {
        resourceVersion: this.resourceVersion,
        labelSelector: this.options.labelSelector,
        allowWatchBookmarks: true,
      };
      this.options.watch
        .watch(
          this.options.path,
          params,
          (type: string, object: T & { code?: number }) => {
            if (type === 'ERROR') {
              if (object.code === 410) expired = true;
              return;
            }
            this.lastSignAt = this.now();
            this.apply(type, object);
          },
          done,
        )
        .then(
          (controller: AbortController) => {
            if (ended) return;
            this.controller = controller;
            this.watching = true;
            this.liveAt = this.now();
            this.lastSignAt = this.liveAt;
            onOpen();
            if (!this.running) controller.abort();
          },
          (error: unknown) => {
            if (ended) return;
            ended = true;
            reject(error);
          },
        );
    });
  }

  private apply(type: string, raw: T): void {
    const version = raw.metadata?.resourceVersion;
    if (version) this.resourceVersion = version;
    if (type === 'BOOKMARK') return;
    const name = raw.metadata?.name;
    if (!name) return;
    const previous = this.objects.get(name);
    if (type === 'DELETED') {
      this.objects.delete(name);
      this.options.onChange('deleted', this.options.strip(raw), previous);
      return;
    }
    const object = this.options.strip(raw);
    this.objects.set(name, object);
    this.options.onChange(previous ? 'modified' : 'added', object, previous);
  }
}
