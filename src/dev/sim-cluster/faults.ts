import { EventEmitter } from 'node:events';
import { z } from 'zod';

/** The API verbs faults are chosen for (the Kubernetes authorization verbs the simulator serves). */
export const VERBS = ['get', 'list', 'watch', 'create', 'update', 'patch', 'delete'] as const;
export type Verb = (typeof VERBS)[number];

/** How a faulty request is answered: an HTTP status, or `drop` (socket destroyed, no response). */
export const FAULT_KINDS = ['429', '500', '503', '504', 'drop'] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

const share = z.number().min(0).max(1);
const shares = z
  .partialRecord(z.enum(FAULT_KINDS), share)
  .refine(
    (value) => Object.values(value).reduce((sum: number, s) => sum + (s ?? 0), 0) <= 1,
    'the shares of one verb must add up to at most 1',
  );

/**
 * Runtime fault settings (`PUT /sim/faults` body; every field optional, omitted ones reset to
 * their default). Example:
 * `{"latencyMs":50,"errors":{"*":{"503":0.1},"create":{"429":0.5}},"cutWatches":{"everySeconds":5},"expireWatches":{"count":1,"mode":"event"}}`
 */
export const faultSettingsSchema = z.strictObject({
  /** added to every API request before it is answered */
  latencyMs: z.number().int().min(0).default(0),
  /** per verb (or `*` for verbs not listed), the share of requests answered with each fault */
  errors: z.partialRecord(z.enum([...VERBS, '*']), shares).default({}),
  /** closes every open watch every `everySeconds` (0 = off): `close` ends it cleanly, `reset` destroys the socket */
  cutWatches: z
    .strictObject({ everySeconds: z.number().min(0), mode: z.enum(['close', 'reset']).default('close') })
    .default({ everySeconds: 0, mode: 'close' }),
  /** the next `count` watch requests are expired: `http` answers HTTP 410, `event` a 200 then an ERROR line */
  expireWatches: z
    .strictObject({ count: z.number().int().min(0), mode: z.enum(['http', 'event']).default('event') })
    .default({ count: 0, mode: 'event' }),
});
export type FaultSettings = z.output<typeof faultSettingsSchema>;
export type FaultSettingsInput = z.input<typeof faultSettingsSchema>;

/** What happened, for the recorder: an error/drop fault, an expired watch, or a cut watch. */
export type InjectedFault = FaultKind | 'expire-watch' | 'cut-watch';

export interface FaultControllerOptions {
  /** uniform [0, 1) source; a seam for tests */
  random?: () => number;
}

/**
 * Decides which requests fail, and cuts open watches on a timer. Settable at runtime through
 * `set()` or `PUT /sim/faults`. Emits `cut` (mode) when watches must be closed and `injected` for
 * every fault it causes.
 */
export class FaultController extends EventEmitter<{ cut: ['close' | 'reset']; injected: [InjectedFault] }> {
  private current: FaultSettings = faultSettingsSchema.parse({});
  private cutTimer: NodeJS.Timeout | undefined;
  private readonly random: () => number;

  constructor(options: FaultControllerOptions = {}) {
    super();
    this.setMaxListeners(0);
    this.random = options.random ?? Math.random;
  }

  settings(): FaultSettings {
    return structuredClone(this.current);
  }

  /** Replaces the settings (validated: throws a ZodError, also for untyped input from HTTP). */
  set(input: FaultSettingsInput): FaultSettings {
    this.current = faultSettingsSchema.parse(input);
    this.scheduleCuts();
    return this.settings();
  }

  /** Back to no faults. */
  clear(): void {
    this.set({});
  }

  stop(): void {
    clearInterval(this.cutTimer);
    this.cutTimer = undefined;
  }

  /** Latency to add to a request. */
  latencyMs(): number {
    return this.current.latencyMs;
  }

  /** The fault to inject into one request of `verb`, if any (one draw against the cumulative shares). */
  decide(verb: Verb): FaultKind | undefined {
    const shares = this.current.errors[verb] ?? this.current.errors['*'];
    if (!shares) return undefined;
    const draw = this.random();
    let cumulative = 0;
    for (const kind of FAULT_KINDS) {
      cumulative += shares[kind] ?? 0;
      if (draw < cumulative) {
        this.emit('injected', kind);
        return kind;
      }
    }
    return undefined;
  }

  /** Whether this watch request must be expired, and how; consumes one of the `expireWatches` count. */
  takeWatchExpiry(): 'http' | 'event' | undefined {
    const expiry = this.current.expireWatches;
    if (expiry.count === 0) return undefined;
    expiry.count--;
    this.emit('injected', 'expire-watch');
    return expiry.mode;
  }

  /** Counts one watch closed by `cutWatches` (the server does the closing). */
  noteCut(): void {
    this.emit('injected', 'cut-watch');
  }

  private scheduleCuts(): void {
    this.stop();
    const { everySeconds, mode } = this.current.cutWatches;
    if (everySeconds <= 0) return;
    this.cutTimer = setInterval(() => this.emit('cut', mode), everySeconds * 1000);
    this.cutTimer.unref();
  }
}
