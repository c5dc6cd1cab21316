import { pino, type Logger } from 'pino';

export type { Logger } from 'pino';

/** Paths that never reach a log line in clear text. */
export const REDACTED_PATHS = [
  'token',
  '*.token',
  'password',
  '*.password',
  'authorization',
  '*.authorization',
  'headers.authorization',
  '*.headers.authorization',
  'secretAccessKey',
  '*.secretAccessKey',
];

export interface LoggerSettings {
  level: string;
}

/** The one pino root of a process; modules take `logger.child({ module })`. */
export function createLogger(settings: LoggerSettings): Logger {
  return pino({
    level: settings.level,
    base: { service: 'kjl' },
    redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
    timestamp: pino.stdTimeFunctions.isoTime,
  });
}
