import type { ServerResponse } from 'node:http';
import { ZodError } from 'zod';
import {
  kubeletRulesSchema,
  type ClusterSettingsInput,
  type Controllers,
  type KubeletRule,
} from './controllers/index.js';
import type { FaultController, FaultSettingsInput } from './faults.js';
import { parseJsonObject, sendJson } from './http-io.js';
import type { Recorder } from './recorder.js';
import { StatusError } from './status.js';

export interface AdminContext {
  faults: FaultController;
  controllers: Controllers;
  recorder: Recorder;
}

function parseJson(body: string): unknown {
  try {
    return JSON.parse(body);
  } catch (error) {
    throw new StatusError(400, 'BadRequest', `invalid JSON: ${(error as Error).message}`);
  }
}

/** Runs a setter on a request body, reporting schema violations as 400 BadRequest. */
function validated<T>(apply: () => T): T {
  try {
    return apply();
  } catch (error) {
    if (error instanceof ZodError) {
      const issues = error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`);
      throw new StatusError(400, 'BadRequest', issues.join('; '));
    }
    throw error;
  }
}

/**
 * The simulator's own endpoints (never subject to faults):
 * `GET/PUT /sim/faults` (FaultSettings), `GET/PUT /sim/rules` (KubeletRule[]),
 * `GET/PUT /sim/settings` (ClusterSettings),
 * `GET /sim/stats` (SimStats), `GET /sim/jobs` (JobLifetime[]), `GET /sim/access` (AccessRecord[]),
 * `POST /sim/reset-stats` (204).
 */
export function serveAdmin(
  res: ServerResponse,
  method: string,
  path: string,
  body: string,
  context: AdminContext,
): void {
  const { faults, controllers, recorder } = context;
  switch (`${method} ${path}`) {
    case 'GET /sim/faults':
      return sendJson(res, 200, faults.settings());
    case 'PUT /sim/faults':
      return sendJson(
        res,
        200,
        validated(() => faults.set(parseJsonObject<FaultSettingsInput>(body))),
      );
    case 'GET /sim/rules':
      return sendJson(res, 200, controllers.rules());
    case 'PUT /sim/rules': {
      const rules = validated(() => kubeletRulesSchema.parse(parseJson(body)) as KubeletRule[]);
      controllers.setRules(rules);
      return sendJson(res, 200, controllers.rules());
    }
    case 'GET /sim/settings':
      return sendJson(res, 200, controllers.settings());
    case 'PUT /sim/settings':
      return sendJson(
        res,
        200,
        validated(() => controllers.setSettings(parseJsonObject<ClusterSettingsInput>(body))),
      );
    case 'GET /sim/stats':
      return sendJson(res, 200, recorder.stats());
    case 'GET /sim/jobs':
      return sendJson(res, 200, recorder.jobLifetimes());
    case 'GET /sim/access':
      return sendJson(res, 200, recorder.access.list());
    case 'POST /sim/reset-stats':
      recorder.reset();
      res.writeHead(204).end();
      return;
    default:
      throw new StatusError(404, 'NotFound', 'the server could not find the requested resource');
  }
}
