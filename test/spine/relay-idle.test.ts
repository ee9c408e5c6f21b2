/**
 * edge_relay_connected (alert EdgeRelayDisconnected) follows the relay's NATS link, not recent
 * publishing: a freshly started edge with nothing to send is connected; it reads 0 only while
 * the broker is really gone, and 1 again once the link is back.
 */
import t from 'tap';
import { startNatsServer } from '../helpers/nats-server.ts';
import { centralInProcess, clinicName, edgeInProcess, tempDir } from '../helpers/spine.ts';
import { waitFor } from '../helpers/wait.ts';
import { metricNames } from '../../contracts/index.ts';

t.test('an idle edge relay reports connected; disconnected only while the broker is down', async (t) => {
  await using ns = await startNatsServer();
  const tmp = tempDir('spine-idle');
  t.teardown(tmp.cleanup);
  const central = await centralInProcess(ns.url, `${tmp.dir}/central`);
  const edge = await edgeInProcess(ns.url, clinicName('idle'), `${tmp.dir}/e`);
  t.teardown(async () => { await edge.stop(); await central.stop(); });
  const gauge = async (): Promise<number | undefined> => {
    const text = await (await fetch(`${edge.http.url}/metrics`)).text();
    const line = text.split('\n').find((l) => l.startsWith(`${metricNames.edge.relayState}{`) || l.startsWith(`${metricNames.edge.relayState} `));
    return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
  };

  await edge.relay.whenReady();
  await waitFor('idle relay connected', async () => (await gauge()) === 1);
  t.equal(edge.store.stats().outboxDepth, 0, 'nothing was ever written');
  t.equal(edge.relay.counters.published, 0, 'nothing was published');
  t.equal(edge.relay.state, 'connected');

  await ns.stop();
  await waitFor('relay disconnected while the broker is down', async () => (await gauge()) === 0);
  t.equal(edge.relay.state, 'disconnected');

  await ns.restart();
  await waitFor('relay connected again after the broker is back', async () => (await gauge()) === 1);
  t.equal(edge.relay.counters.published, 0, 'still idle');
});
