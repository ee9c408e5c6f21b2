/** Structured JSON logs (pino) with the process name on every line. */
import { pino, type Logger } from 'pino';

export type { Logger };

export function createLogger(name: string, level = process.env.LOG_LEVEL ?? 'info'): Logger {
  return pino({ name, level, base: { proc: name }, timestamp: pino.stdTimeFunctions.isoTime });
}
