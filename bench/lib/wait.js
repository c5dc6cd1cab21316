import { setTimeout as sleep } from 'node:timers/promises';

/** Polls `probe` every `everyMs` until it returns a truthy value; throws after `timeoutMs`. */
export async function waitFor(what, probe, { timeoutMs = 60_000, everyMs = 20 } = {}) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}
