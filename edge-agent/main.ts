/** Edge agent process entry: `EDGE_CLINIC_ID=c01 EDGE_DATA_DIR=/var/lib/edge tsx edge-agent/main.ts`. */
// The clinic's day (schedule, settlement, statistics, worklist dates) is China time: an
// appliance installed with a UTC clock must not close the day at 08:00. TZ set outside wins.
process.env.TZ ??= 'Asia/Shanghai';
import { ConfigError, createLogger, exitWithParent } from '../contracts/runtime/index.ts';
import { loadEdgeConfig } from './config.ts';
import { startEdgeAgent } from './agent.ts';
import { seedDemo } from './demo-seed.ts';

const log = createLogger('edge-agent');
// Before start-up: a start that hangs must not outlive the supervisor either.
let shutdown: ((sig: string) => void) | null = null;
exitWithParent(() => (shutdown ? shutdown('parent exited') : process.exit(1)));
try {
  const config = loadEdgeConfig();
  const agent = await startEdgeAgent(config, log.child({ clinic: config.clinicId }));
  // A line tests and the demo can wait for.
  console.log(JSON.stringify({ ready: true, url: agent.http.url, clinicId: config.clinicId }));
  const demoPassword = process.env.EDGE_DEMO_SEED_PASSWORD;
  if (demoPassword) {
    // After "ready", so the demo can go on; a line it can wait for when it wants the data.
    void seedDemo(agent, demoPassword, log).then((lines) => console.log(JSON.stringify({ seeded: true, clinicId: config.clinicId, lines })),
      (e: Error) => { log.error({ err: e.message }, 'demo data not seeded'); console.log(JSON.stringify({ seeded: false, error: e.message })); });
  }
  shutdown = (sig: string) => {
    log.info({ sig }, 'shutting down');
    agent.stop().then(() => process.exit(0), () => process.exit(1));
  };
  process.once('SIGTERM', () => shutdown?.('SIGTERM'));
  process.once('SIGINT', () => shutdown?.('SIGINT'));
} catch (e) {
  if (e instanceof ConfigError) {
    log.fatal(e.message);
    console.error(e.message);
    process.exit(2);
  }
  log.fatal({ err: e }, 'edge agent failed to start');
  process.exit(1);
}
