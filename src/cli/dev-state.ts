import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';

/** What a running `kjl dev` tells other `kjl` commands in the same folder (`.kjl/dev.json`). */
export interface DevState {
  sqsEndpoint: string;
  region: string;
  queueUrl: string;
  dlqUrl: string;
  eventsQueueUrl: string;
  redisUrl: string;
  httpPort?: number;
  kubeconfig?: string;
}

export const DEV_STATE_FILE = resolve('.kjl', 'dev.json');

export async function writeDevState(state: DevState, file = DEV_STATE_FILE): Promise<void> {
  await mkdir(dirname(file), { recursive: true });
  await writeFile(file, `${JSON.stringify(state, null, 2)}\n`);
}

/** The state of a `kjl dev` started in this folder, if any. */
export async function readDevState(file = DEV_STATE_FILE): Promise<DevState | undefined> {
  try {
    return JSON.parse(await readFile(file, 'utf8')) as DevState;
  } catch {
    return undefined;
  }
}
