/** Structured JSON logs (pino) with the process name on every line. */
import { pino, type Logger } from 'pino';

export function createLogger(level: string, destination?: NodeJS.WritableStream): Logger {
  return pino({ name: 'network-monitor', level, base: { proc: 'network-monitor' } }, destination ?? process.stdout);
}
