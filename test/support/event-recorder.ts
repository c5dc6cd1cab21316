import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { ReceivedEvent } from './stack.js';

/** How the recorder answers: each delivery waits `latencyMs`, then fails with 503 at `failRate`. */
export interface RecorderBehaviour {
  latencyMs?: number;
  failRate?: number;
  /** per event type (`dev.kjl.build.failed`), overriding the above */
  byType?: Record<string, { latencyMs?: number; failRate?: number }>;
}

/**
 * An HTTP events sink for tests (KJL_EVENTS_SINK=<url>): records every delivery it answers with 2xx,
 * in arrival order, and can be slow or failing, per event type. `attempts` counts every POST,
 * answered or not, so a test can act while a delivery is held.
 */
export interface EventRecorder {
  url: string;
  events: ReceivedEvent[];
  /** every delivery attempt, by event type, including those held or refused */
  attempts: Record<string, number>;
  set(behaviour: RecorderBehaviour): void;
  /** resolves when a delivery of `type` arrives (answered or not) */
  nextAttempt(type: string): Promise<void>;
  /** calls `listener` with every delivery as it arrives, and the URL path it was sent to */
  onAttempt(listener: (event: ReceivedEvent, path: string) => void): void;
  stop(): Promise<void>;
}

function body(request: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    request.setEncoding('utf8');
    request.on('data', (chunk: string) => (text += chunk));
    request.on('end', () => resolve(text));
    request.on('error', reject);
  });
}

export async function startEventRecorder(initial: RecorderBehaviour = {}): Promise<EventRecorder> {
  let behaviour = initial;
  const events: ReceivedEvent[] = [];
  const attempts: Record<string, number> = {};
  const waiters: { type: string; resolve: () => void }[] = [];
  const held = new Set<NodeJS.Timeout>();
  const listeners: ((event: ReceivedEvent, path: string) => void)[] = [];
  const server: Server = createServer(async (request, response) => {
    const event = JSON.parse(await body(request)) as ReceivedEvent;
    attempts[event.type] = (attempts[event.type] ?? 0) + 1;
    for (const listener of listeners) listener(event, request.url ?? '/');
    for (const waiter of [...waiters]) {
      if (waiter.type !== event.type) continue;
      waiters.splice(waiters.indexOf(waiter), 1);
      waiter.resolve();
    }
    const rule = { ...behaviour, ...behaviour.byType?.[event.type] };
    const timer = setTimeout(() => {
      held.delete(timer);
      if (Math.random() < (rule.failRate ?? 0)) {
        response.writeHead(503).end();
        return;
      }
      events.push(event);
      response.writeHead(202).end();
    }, rule.latencyMs ?? 0);
    held.add(timer);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}/events`,
    events,
    attempts,
    set(next) {
      behaviour = next;
    },
    onAttempt(listener) {
      listeners.push(listener);
    },
    nextAttempt(type) {
      return new Promise((resolve) => waiters.push({ type, resolve }));
    },
    async stop() {
      for (const timer of held) clearTimeout(timer);
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
