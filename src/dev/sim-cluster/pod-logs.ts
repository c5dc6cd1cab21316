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

/**
 * Writes log lines as the kubelet's log writer does: the timestamp prefix (with `timestamps`) and
 * the line, the whole cut to the bytes `limitBytes` leaves (even mid-character), then the end.
 */
class LogWriter {
  private remaining: number;

  constructor(
    private readonly res: ServerResponse,
    private readonly options: LogQuery,
  ) {
    this.remaining = options.limitBytes ?? Infinity;
  }

  /** Writes one line; false when the response is (now) complete. */
  write(line: LogLine): boolean {
    if (this.res.writableEnded || this.res.destroyed) return false;
    const bytes = Buffer.from(`${this.options.timestamps ? `${line.time} ` : ''}${line.text}\n`);
    const written = bytes.length > this.remaining ? bytes.subarray(0, this.remaining) : bytes;
    this.res.write(written);
    this.remaining -= written.length;
    if (this.remaining > 0) return true;
    this.res.end();
    return false;
  }
}

/**
 * `GET …/pods/{name}/log`: the container's lines from the kubelet's log source, as the kubelet's
 * `ReadLogs` serves them: the last `tailLines` lines, of which those older than `sinceSeconds` are
 * skipped, cut at `limitBytes` counted from the start of that tail; then `follow`ed until the
 * container exits.
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
  const tail =
    options.tailLines === undefined ? lines : lines.slice(Math.max(0, lines.length - options.tailLines));
  const selected = since === undefined ? tail : tail.filter((l) => Date.parse(l.time) >= since);

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
