import { watch, type FSWatcher } from 'node:fs';
import { TemplateError } from '../errors.js';
import type { Logger } from '../logger.js';
import { loadTemplateCatalog, type JobTemplate, type TemplateCatalog } from './template-catalog.js';

export interface TemplateWatcherOptions {
  /** `KJL_TEMPLATES_DIR`: in a cluster, a mounted ConfigMap */
  dir: string;
  /** `KJL_TEMPLATES`: the allowlist, loaded from `<dir>/<name>.yaml` */
  names: readonly string[];
  logger: Logger;
  /** how long the folder must be quiet before it is read again (a ConfigMap swap is several steps) */
  settleMs?: number;
}

/** What a reload did. */
export type ReloadResult = 'updated' | 'unchanged' | 'refused';

function fingerprint(catalog: TemplateCatalog): string {
  return JSON.stringify(catalog.names.map((name) => [name, catalog.get(name).manifest]));
}

/**
 * The allowlisted templates, kept current while the process runs. The folder is watched: a
 * mounted ConfigMap changes when the kubelet writes a new `..<timestamp>` folder and renames a
 * `..data` symlink over the old one (the files are symlinks into `..data/`), a plain folder when a
 * file is written. After each change the whole allowlist is loaded and validated again: a valid
 * set takes effect for the next Job; an invalid one is refused, logged with every file and field
 * at fault, and the previous set stays.
 */
export class TemplateWatcher {
  private catalog: TemplateCatalog;
  private watcher: FSWatcher | undefined;
  private timer: NodeJS.Timeout | undefined;
  private reloading: Promise<ReloadResult> | undefined;
  private again = false;

  private constructor(
    private readonly options: TemplateWatcherOptions,
    catalog: TemplateCatalog,
  ) {
    this.catalog = catalog;
  }

  /** Loads the templates (every problem is one TemplateError, as at start) and watches their folder. */
  static async start(options: TemplateWatcherOptions): Promise<TemplateWatcher> {
    const templates = new TemplateWatcher(options, await loadTemplateCatalog(options.dir, options.names));
    templates.watch();
    return templates;
  }

  get names(): string[] {
    return this.catalog.names;
  }

  /** The template called `name` in the set in force; TemplateError when it is not loaded. */
  get(name: string): JobTemplate {
    return this.catalog.get(name);
  }

  stop(): void {
    clearTimeout(this.timer);
    this.watcher?.close();
    this.watcher = undefined;
  }

  private watch(): void {
    const { dir, logger } = this.options;
    this.watcher = watch(dir, { persistent: false }, () => {
      clearTimeout(this.timer);
      this.timer = setTimeout(() => void this.reload(), this.options.settleMs ?? 200);
    });
    this.watcher.on('error', (error) => {
      logger.warn(
        { err: error, templatesDir: dir },
        'cannot watch the templates folder; templates stay as they are',
      );
    });
  }

  /** Loads the allowlist again now; one reload at a time (a change meanwhile reloads once more). */
  reload(): Promise<ReloadResult> {
    if (this.reloading) {
      this.again = true;
      return this.reloading;
    }
    this.reloading = this.load().finally(() => {
      this.reloading = undefined;
      if (this.again) {
        this.again = false;
        void this.reload();
      }
    });
    return this.reloading;
  }

  private async load(): Promise<ReloadResult> {
    const { dir, names, logger } = this.options;
    try {
      const next = await loadTemplateCatalog(dir, names);
      if (fingerprint(next) === fingerprint(this.catalog)) return 'unchanged';
      this.catalog = next;
      logger.info({ templatesDir: dir, templates: next.names }, 'templates reloaded: the next Jobs use them');
      return 'updated';
    } catch (error) {
      const issues = error instanceof TemplateError ? { issues: error.issues } : {};
      logger.error(
        { err: error, templatesDir: dir, ...issues },
        `templates not reloaded, the previous ones stay: ${(error as Error).message}`,
      );
      return 'refused';
    }
  }
}
