import type { ServerResponse } from 'node:http';
import type { SimClock } from './clock.js';
import type { PodLogSource } from './controllers/index.js';
import { StatusError } from './status.js';
import type { ObjectStore } from './store.js';

type LogLine = { time: string; text: string };

/** The `/log` query parameters (core/v1 `PodLogOptions`). */
interface LogQuery {
  container: string | undefined;
  follow: boolean;
  previous: boolean;
  timestamps: boolean;
  tailLines: number | undefined;
  sinceSeconds: number | undefined;
  limitBytes: number | undefined;
}

function positiveInt(query: URLSearchParams, name: string, min: number): number | undefined {
  const text = query.get(name);
  if (text === null) return undefined;
  const value = Number(text);
  if (!Number.isInteger(value) || value < min) {
    throw new StatusError(
      422,
      'Invalid',
      `PodLogOptions "" is invalid: ${name}: Invalid value: ${text}: must be greater than or equal to ${min}`,
    );
  }
  return value;
}

function parseLogQuery(query: URLSearchParams): LogQuery {
  const flag = (name: string) => query.get(name) === 'true' || query.get(name) === '1';
  return {
    container: query.get('container') || undefined,
    follow: flag('follow'),
    previous: flag('previous'),
    timestamps: flag('timestamps'),
    tailLines: positiveInt(query, 'tailLines', 0),
    sinceSeconds: positiveInt(query, 'sinceSeconds', 1),
    limitBytes: positiveInt(query, 'limitBytes', 1),
  };
}

/** Writes log text, ending the response once `limitBytes` is reached (the kubelet cuts mid-line). */
class LogWriter {
  private written = 0;

  constructor(
    private readonly res: ServerResponse,
    private readonly options: LogQuery,
  ) {}

  /** Writes one line; false when the response is (now) complete. */
  write(line: LogLine): boolean {
    if (this.res.writableEnded || this.res.destroyed) return false;
    let text = `${this.options.timestamps ? `${line.time} ` : ''}${line.text}\n`;
    const limit = this.options.limitBytes;
    if (limit !== undefined) {
      const bytes = Buffer.from(text);
      text = bytes.subarray(0, Math.max(0, limit - this.written)).toString('utf8');
      this.written += Buffer.byteLength(text);
    }
    this.res.write(text);
    if (limit !== undefined && this.written >= limit) {
      this.res.end();
      return false;
    }
    return true;
  }
}

/**
 * `GET …/pods/{name}/log`: the container's lines from the kubelet's log source, filtered by
 * `sinceSeconds` and `tailLines`, then `follow`ed until the container exits.
 */
export function servePodLogs(
  res: ServerResponse,
  deps: { store: ObjectStore; clock: SimClock; logs: PodLogSource },
  target: { namespace: string; name: string },
  query: URLSearchParams,
): void {
  const options = parseLogQuery(query);
  deps.store.get('pods', target.namespace, target.name);
  const { lines, finished } = deps.logs.read(target.namespace, target.name, options.container, {
    previous: options.previous,
  });
  const since =
    options.sinceSeconds === undefined ? undefined : deps.clock.now() - options.sinceSeconds * 1000;
  let selected = since === undefined ? lines : lines.filter((l) => Date.parse(l.time) >= since);
  if (options.tailLines !== undefined)
    selected = selected.slice(Math.max(0, selected.length - options.tailLines));

  res.writeHead(200, { 'content-type': 'text/plain', 'cache-control': 'no-cache, private' });
  const writer = new LogWriter(res, options);
  const open = selected.every((line) => writer.write(line));
  if (!open) return;
  if (!options.follow || options.previous || finished) {
    res.end();
    return;
  }
  res.flushHeaders();

  // `follow` replays the lines so far (already written above, after tail/since) before new ones
  let replayed = lines.length;
  let limitReached = false;
  const stop = deps.logs.follow(
    target.namespace,
    target.name,
    options.container,
    (line) => {
      if (replayed > 0) replayed--;
      // may run before `follow` returns, so the unsubscribe happens after it
      else if (!limitReached && !writer.write(line)) limitReached = true;
    },
    () => res.end(),
  );
  if (limitReached || res.writableEnded) stop();
  else res.on('close', stop);
}
