/**
 * Timer mode (as in production): a target that never answers (long timeout, retries) must
 * not hold back a healthy target's polls, and the process keeps serving /metrics.
 */
import t from 'tap';
import { createSocket } from 'node:dgram';
import { startSnmpd } from '../test/helpers/snmpd.ts';
import { waitFor } from '../test/helpers/wait.ts';
import { startNetworkMonitor } from './index.ts';
import { createLogger } from './logger.ts';

t.test('a silent target does not delay a healthy one', async (t) => {
  const agent = await startSnmpd();
  const silent = createSocket('udp4');
  await new Promise<void>((r) => silent.bind(0, '127.0.0.1', () => r()));
  t.teardown(async () => { silent.close(); await agent[Symbol.asyncDispose](); });
  const mon = await startNetworkMonitor({
    http: { host: '127.0.0.1', port: 0 },
    traps: { enabled: false, host: '127.0.0.1', port: 0, communities: [], users: [] },
    anomaly: { enabled: false },
    polling: { intervalSeconds: 0.5, timeoutMs: 3000, retries: 2, backoff: 1, downAfterFailures: 1, maxBackoffFactor: 4, maxRepetitions: 25 },
    inventory: {
      targets: [
        { name: 'silent', kind: 'other', host: '127.0.0.1', port: silent.address().port, snmp: { version: '2c', community: 'x' } },
        { name: 'healthy', kind: 'switch', host: '127.0.0.1', port: agent.port, snmp: { version: '2c', community: agent.community }, hostResources: false },
      ],
    },
  }, { logger: createLogger('silent') });
  t.teardown(() => mon.stop());
  const count = async (target: string) => {
    const v = (await mon.metrics.polls.get()).values.find((x) => x.labels.target === target);
    return v?.value ?? 0;
  };
  const silentErrors = async () => (await mon.metrics.pollErrors.get()).values.filter((x) => x.labels.target === 'silent').reduce((s, x) => s + x.value, 0);
  // The silent target's first poll takes 3 x 3 s; the healthy one keeps its 0.5 s cadence meanwhile.
  await waitFor('healthy polled 4 times', async () => (await count('healthy')) >= 4, 20_000);
  t.equal(await silentErrors(), 0, 'silent target has not even finished its first poll');
  t.equal((await fetch(`${mon.url}/healthz`)).status, 200);
  t.match(await (await fetch(`${mon.url}/metrics`)).text(), /netmon_target_up\{target="healthy",kind="switch"\} 1/);
});
