import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Logger } from '../logger.js';
import type { KjlMetrics } from './metrics.js';
import { installErrorReplies } from './error-replies.js';

/** A named readiness check: true when that dependency is usable now. */
export type ReadinessCheck = () => Promise<boolean> | boolean;

export interface HttpServerOptions {
  port: number;
  host?: string;
  checks: Record<string, ReadinessCheck>;
  logger: Logger;
  /** served on `/metrics` when given */
  metrics?: Pick<KjlMetrics, 'contentType' | 'metrics'>;
  /** more routes on the same port (the API, the dashboard), each in its own scope under its prefix */
  surfaces?: { prefix: string; routes: (app: FastifyInstance) => Promise<void> }[];
}

/**
 * The launcher's HTTP port: `/healthz` (the process is alive) and `/readyz` (503 until every
 * dependency — Redis, SQS, the cluster watch — answers).
 */
export async function startHttpServer(options: HttpServerOptions): Promise<FastifyInstance> {
  const app: FastifyInstance = Fastify({
    loggerInstance: options.logger.child({ module: 'http' }) as FastifyBaseLogger,
    // probes hit these endpoints every few seconds: no access log lines
    logController: new LogController({ disableRequestLogging: true }),
    // an unknown field is an error to report, not one to drop
    ajv: { customOptions: { removeAdditional: false } },
  });
  installErrorReplies(app);
  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_request, reply) => {
    const results = await Promise.all(
      Object.entries(options.checks).map(async ([name, check]) => {
        try {
          return [name, (await check()) ? 'ok' : 'unavailable'] as const;
        } catch {
          return [name, 'unavailable'] as const;
        }
      }),
    );
    const checks = Object.fromEntries(results);
    const ready = results.every(([, state]) => state === 'ok');
    return reply.code(ready ? 200 : 503).send({ status: ready ? 'ready' : 'not ready', checks });
  });
  const { metrics } = options;
  if (metrics) {
    app.get('/metrics', async (_request, reply) =>
      reply.type(metrics.contentType).send(await metrics.metrics()),
    );
  }
  for (const surface of options.surfaces ?? [])
    await app.register(surface.routes, { prefix: surface.prefix });
  await app.listen({ port: options.port, host: options.host ?? '0.0.0.0' });
  return app;
}
