/**
 * Process entry: `node --import tsx network-monitor/main.ts` with NETMON_CONFIG=<file>
 * and/or NETMON_* variables. Exits 1 with the offending field on a bad config.
 */
import { loadConfig, ConfigError } from './config.ts';
import { InventoryError } from './inventory.ts';
import { startNetworkMonitor } from './monitor.ts';
import { createLogger } from './logger.ts';

// `npx tap network-monitor/` loads every file in the folder: with no config given, do nothing.
if (process.env.TAP === '1' && !process.env.NETMON_CONFIG && !process.env.NETMON_INVENTORY_FILE) process.exit(0);

const boot = createLogger(process.env.NETMON_LOG_LEVEL ?? 'info');
try {
  const cfg = loadConfig();
  const log = createLogger(cfg.logLevel);
  const mon = await startNetworkMonitor(cfg, { logger: log });
  const shutdown = (sig: string) => {
    log.info({ sig }, 'shutting down');
    void mon.stop().then(() => process.exit(0));
    setTimeout(() => process.exit(1), 10_000).unref();
  };
  process.once('SIGTERM', () => shutdown('SIGTERM'));
  process.once('SIGINT', () => shutdown('SIGINT'));
} catch (err) {
  if (err instanceof ConfigError || err instanceof InventoryError) {
    boot.fatal({ field: err.field }, err.message);
  } else {
    boot.fatal({ err }, 'network monitor failed to start');
  }
  process.exit(1);
}
