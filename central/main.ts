/** Central process entry: `CENTRAL_DATA_DIR=... CENTRAL_API_TOKEN=... tsx central/main.ts`. */
import { ConfigError, createLogger, exitWithParent } from '../contracts/runtime/index.ts';
import { loadCentralConfig } from './config.ts';
import { startCentral } from './app.ts';

const log = createLogger('central');
// Before start-up: a start that hangs must not outlive the supervisor either.
let shutdown: ((sig: string) => void) | null = null;
exitWithParent(() => (shutdown ? shutdown('parent exited') : process.exit(1)));
try {
  const central = await startCentral(loadCentralConfig(), log);
  console.log(JSON.stringify({ ready: true, url: central.http.url }));
  shutdown = (sig: string) => {
    log.info({ sig }, 'shutting down');
    central.stop().then(() => process.exit(0), () => process.exit(1));
  };
  process.once('SIGTERM', () => shutdown?.('SIGTERM'));
  process.once('SIGINT', () => shutdown?.('SIGINT'));
} catch (e) {
  if (e instanceof ConfigError) {
    console.error(e.message);
    process.exit(2);
  }
  log.fatal({ err: e }, 'central failed to start');
  process.exit(1);
}
