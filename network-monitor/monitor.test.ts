/**
 * The monitor against real peers: two Debian snmpd agents (v3 authPriv and v2c), snmptrap,
 * a real nats-server and HTTP health endpoints; plus bad peers (garbage answers, silence,
 * wrong credentials, garbage traps). One snmpd is stopped mid-test to produce a down event
 * and its clinical impact; the other is restarted to check for false counter spikes.
 */
import t from 'tap';
import { execFile } from 'node:child_process';
import { createSocket, type Socket } from 'node:dgram';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startSnmpd, freeUdpPort } from '../test/helpers/snmpd.ts';
import { startNatsServer } from '../test/helpers/nats-server.ts';
import { waitFor } from '../test/helpers/wait.ts';
import { startNetworkMonitor, type InventoryInput, type NetEvent } from './index.ts';
import { createLogger } from './logger.ts';
import { AnomalyDetector } from './anomaly/detector.ts';
import { generateTraffic } from './anomaly/synthetic.ts';

const run = promisify(execFile);

async function httpServer(status: () => number): Promise<Server & { url: string }> {
  const s = createServer((_req, res) => { res.statusCode = status(); res.end('{}'); });
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  return Object.assign(s, { url: `http://127.0.0.1:${(s.address() as AddressInfo).port}/healthz` });
}

async function udpPeer(onMsg: (sock: Socket, msg: Buffer, rinfo: { address: string; port: number }) => void): Promise<{ port: number; close(): void }> {
  const sock = createSocket('udp4');
  sock.on('message', (msg, rinfo) => onMsg(sock, msg, rinfo));
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
  return { port: sock.address().port, close: () => sock.close() };
}

function metricValue(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(name + '{') && !line.startsWith(name + ' ')) continue;
    if (Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return undefined;
}

t.test('monitor with real snmpd, traps, probes and bad peers', async (t) => {
  const a = await startSnmpd({ sysName: 'router-a' });
  const b = await startSnmpd({ sysName: 'switch-b', community: 'b-ro' });
  const nats = await startNatsServer();
  let edgeStatus = 200;
  const edge = await httpServer(() => edgeStatus);
  const central = await httpServer(() => 200);
  // A peer that answers every request with garbage, and one that never answers.
  const garbage = await udpPeer((sock, _m, r) => sock.send(Buffer.from([0x30, 0x82, 0xff, 0xff, 0x02, 0x01]), r.port, r.address));
  const silent = await udpPeer(() => undefined);
  const unreachablePort = await freeUdpPort();
  const stateDir = mkdtempSync(join(tmpdir(), 'netmon-test-'));
  t.teardown(async () => {
    garbage.close(); silent.close(); edge.close(); central.close();
    await a[Symbol.asyncDispose](); await b[Symbol.asyncDispose](); await nats[Symbol.asyncDispose]();
    rmSync(stateDir, { recursive: true, force: true });
  });

  // Timeouts that express each peer's behaviour rather than race it: peers that answer get
  // far longer than any answer takes on a loaded machine (polling.timeoutMs below); peers
  // that never answer (silence, a wrong community, a closed port, only garbage) get a short
  // one, which they exceed by any margin.
  const NO_ANSWER_MS = 400;
  const v3 = { version: '3' as const, user: a.v3.user, authProtocol: 'sha' as const, authKey: a.v3.authKey, privProtocol: 'aes' as const, privKey: a.v3.privKey };
  const inventory: InventoryInput = {
    targets: [
      { name: 'router-a', kind: 'router', host: '127.0.0.1', port: a.port, snmp: v3, trapAddress: '10.0.0.1', serves: ['clinic-a'], links: [{ ifIndex: 2, ifName: 'ifb0', clinics: ['clinic-c'] }] },
      { name: 'switch-b', kind: 'switch', host: '127.0.0.1', port: b.port, snmp: { version: '2c', community: 'b-ro' }, parent: 'router-a', serves: ['clinic-b'], trapAddress: '10.0.0.2' },
      { name: 'edge-b', kind: 'edge-appliance', host: '127.0.0.1', port: unreachablePort, snmp: { version: '2c', community: 'x' }, timeoutMs: NO_ANSWER_MS, parent: 'switch-b', hostResources: false, trapAddress: '10.0.0.9' },
      { name: 'bad-creds', kind: 'firewall', host: '127.0.0.1', port: a.port, snmp: { ...v3, authKey: 'wrong-auth-key' }, trapAddress: '10.0.0.3' },
      { name: 'bad-community', kind: 'switch', host: '127.0.0.1', port: b.port, snmp: { version: '2c', community: 'wrong-community' }, timeoutMs: NO_ANSWER_MS, trapAddress: '10.0.0.6' },
      { name: 'garbage', kind: 'other', host: '127.0.0.1', port: garbage.port, snmp: { version: '2c', community: 'x' }, timeoutMs: NO_ANSWER_MS, trapAddress: '10.0.0.4' },
      { name: 'slow', kind: 'other', host: '127.0.0.1', port: silent.port, snmp: { version: '2c', community: 'x' }, timeoutMs: NO_ANSWER_MS, trapAddress: '10.0.0.5' },
    ],
    clinics: [
      { id: 'clinic-a', name: 'A centre', edgeHealthUrl: edge.url, devices: [{ id: 'us-1', kind: 'ultrasound' }] },
      { id: 'clinic-b', name: 'B station', devices: [{ id: 'bp-1', kind: 'blood-pressure' }, { id: 'dx-1', kind: 'radiography' }] },
      { id: 'clinic-c', devices: [] },
    ],
    central: { healthUrl: central.url, natsUrl: nats.url },
  };
  // A baseline for router-a ifb0 (an inventory link) saved before start: the monitor must
  // reload it and score the live traffic (ifb0 carries nothing, far below a clinic's day).
  const anomalyOpts = { bucketSeconds: 300, historyDays: 28, minHistoryBuckets: 864, retrainHours: 24, epochs: 5, threshold: 4, stateDir };
  const pre = new AnomalyDetector(anomalyOpts);
  const flat = generateTraffic({ startMs: Date.now() - 4 * 86400_000, days: 4, bucketSeconds: 300, seed: 5 }).map((p) => ({ ...p, bytesPerSecond: 1_000_000 }));
  pre.addHistory({ target: 'router-a', ifName: 'ifb0', direction: 'in' }, flat);
  await pre.train({ target: 'router-a', ifName: 'ifb0', direction: 'in' });
  await pre.save();
  pre.dispose();

  const logs: string[] = [];
  const mon = await startNetworkMonitor({
    http: { host: '127.0.0.1', port: 0 },
    inventory,
    polling: { intervalSeconds: 30, timeoutMs: 10_000, retries: 0, backoff: 1, downAfterFailures: 2, maxBackoffFactor: 4, maxRepetitions: 25 },
    traps: { enabled: true, host: '127.0.0.1', port: 0, communities: ['trapcomm'], users: [{ user: 'trapper', authProtocol: 'sha', authKey: 'trap-auth-123', privProtocol: 'aes', privKey: 'trap-priv-123' }] },
    anomaly: { enabled: true, scope: 'links', ...anomalyOpts },
    logLevel: 'info',
  }, { manual: true, logger: createLogger('info', { write: (s: string) => { logs.push(s); return true; } } as unknown as NodeJS.WritableStream) });
  t.teardown(() => mon.stop());

  const metrics = async () => (await fetch(`${mon.url}/metrics`)).text();
  const events = async (type?: string): Promise<NetEvent[]> => ((await (await fetch(`${mon.url}/api/events${type ? `?type=${type}` : ''}`)).json()) as { events: NetEvent[] }).events;

  await mon.pollAll();
  await mon.pollAll();

  t.test('healthy targets are polled over v3 and v2c', async (t) => {
    const text = await metrics();
    t.equal(metricValue(text, 'netmon_target_up', { target: 'router-a' }), 1);
    t.equal(metricValue(text, 'netmon_target_up', { target: 'switch-b' }), 1);
    t.ok(metricValue(text, 'netmon_if_in_octets_total', { target: 'router-a', ifName: 'lo' })! > 0, 'HC octets of lo');
    t.ok(metricValue(text, 'netmon_if_speed_bits_per_second', { target: 'router-a', ifName: 'lo' })! > 0);
    t.equal(metricValue(text, 'netmon_if_oper_up', { target: 'router-a', ifName: 'lo' }), 1);
    t.ok(metricValue(text, 'netmon_target_uptime_seconds', { target: 'switch-b' })! >= 0);
    t.ok(metricValue(text, 'netmon_oids_collected_total', { target: 'router-a' })! > 50);
    t.match(text, /netmon_target_info\{target="router-a",sysName="router-a"/);
    t.ok(metricValue(text, 'netmon_host_storage_size_bytes', { target: 'router-a' }) !== undefined, 'hrStorageTable');
  });

  t.test('bad peers are counted per target and never crash', async (t) => {
    // the garbage peer's answer is counted whenever it is read, even after the poll timed out
    await waitFor('garbage answer counted', async () => (metricValue(await metrics(), 'netmon_poll_errors_total', { target: 'garbage', reason: 'malformed' }) ?? 0) >= 1, 120_000);
    const text = await metrics();
    const st = ((await (await fetch(`${mon.url}/api/targets`)).json()) as { targets: { name: string; up: boolean; lastError?: string }[] }).targets;
    const by = Object.fromEntries(st.map((s) => [s.name, s]));
    t.equal(by['bad-creds']!.up, false);
    t.match(by['bad-creds']!.lastError, /^authentication failed/, 'wrong v3 key: the agent report fails its digest');
    t.equal(by['bad-community']!.up, false);
    t.equal(by['bad-community']!.lastError, 'no answer (check credentials)', 'wrong community only times out');
    t.equal(by['slow']!.up, false);
    t.equal(by['garbage']!.up, false);
    t.ok(metricValue(text, 'netmon_poll_errors_total', { target: 'bad-creds', reason: 'auth' })! >= 2);
    t.ok(metricValue(text, 'netmon_poll_errors_total', { target: 'bad-community', reason: 'timeout' })! >= 2);
    t.ok(metricValue(text, 'netmon_poll_errors_total', { target: 'garbage', reason: 'malformed' })! >= 1, 'garbage answers counted as malformed');
    t.equal(metricValue(text, 'netmon_target_up', { target: 'slow' }), 0);
    t.equal((await fetch(`${mon.url}/healthz`)).status, 200);
  });

  t.test('edge-b unreachable: impact is rooted at edge-b only while its parents are up', async (t) => {
    const imp = mon.impact();
    t.same(imp.filter((e) => e.target === 'edge-b').map((e) => e.clinic), [], 'edge-b serves no clinic itself');
  });

  t.test('probes: edge HTTP, central HTTP, NATS', async (t) => {
    let r = await mon.probeAll();
    t.same(r.map((x) => [x.probe, x.up]).sort(), [['central_http', true], ['central_nats', true], ['edge_http', true]]);
    edgeStatus = 503;
    r = await mon.probeAll();
    t.equal(r.find((x) => x.probe === 'edge_http')!.up, false);
    t.ok((await events('probe_down')).some((e) => e.message.includes('clinic-a')));
    t.equal(metricValue(await metrics(), 'netmon_probe_up', { probe: 'edge_http', clinic: 'clinic-a' }), 0);
    edgeStatus = 200;
  });

  t.test('traps from snmptrap become events and metrics; garbage is counted', async (t) => {
    const dest = `127.0.0.1:${mon.trapPort}`;
    const env = a.toolEnv;
    const base = ['-v', '2c', '-c', 'trapcomm', '-m', '', '-M', '/dev/null', dest, ''];
    await run('snmptrap', [...base, '1.3.6.1.6.3.1.1.5.3', '1.3.6.1.2.1.2.2.1.1.2', 'i', '2', '1.3.6.1.2.1.2.2.1.7.2', 'i', '1', '1.3.6.1.2.1.2.2.1.8.2', 'i', '2', '1.3.6.1.6.3.18.1.3.0', 'a', '10.0.0.1'], { env });
    await run('snmptrap', [...base, '1.3.6.1.6.3.1.1.5.1', '1.3.6.1.6.3.18.1.3.0', 'a', '10.0.0.2'], { env });
    await run('snmptrap', ['-Ci', '-t', '30', '-r', '1', ...base, '1.3.6.1.6.3.1.1.5.5', '1.3.6.1.6.3.18.1.3.0', 'a', '10.0.0.1'], { env }); // inform: snmptrap waits for our ack
    // SNMPv3 authPriv inform (SHA + AES): snmptrap waits for the receiver's acknowledgement.
    await run('snmptrap', ['-Ci', '-v', '3', '-u', 'trapper', '-l', 'authPriv', '-a', 'SHA', '-A', 'trap-auth-123', '-x', 'AES', '-X', 'trap-priv-123', '-t', '30', '-r', '1', '-m', '', '-M', '/dev/null', dest, '', '1.3.6.1.6.3.1.1.5.2', '1.3.6.1.6.3.18.1.3.0', 'a', '10.0.0.2'], { env });
    await run('snmptrap', ['-v', '2c', '-c', 'not-a-community', '-m', '', '-M', '/dev/null', dest, '', '1.3.6.1.6.3.1.1.5.2'], { env });
    const junk = createSocket('udp4');
    for (const bytes of [[0x00], [0x30, 0x03, 0x02, 0x01], [0x30, 0x82, 0x01, 0x00, 0xde, 0xad], Array.from({ length: 300 }, (_, i) => i & 0xff)]) {
      await new Promise<void>((r) => junk.send(Buffer.from(bytes), mon.trapPort!, '127.0.0.1', () => r()));
    }
    junk.close();
    await waitFor('trap events', async () => (await events('trap')).length >= 3 && (await events('auth_failure')).length >= 1, 120_000);
    const trapEvents = await events('trap');
    const down = trapEvents.find((e) => e.trap === 'linkDown')!;
    t.equal(down.target, 'router-a');
    t.equal(down.ifIndex, 2);
    t.ok(trapEvents.some((e) => e.trap === 'coldStart' && e.target === 'switch-b'));
    t.ok(trapEvents.some((e) => e.trap === 'warmStart' && e.target === 'switch-b' && e.message.startsWith('inform')), 'v3 authPriv inform received');
    t.ok(mon.impact().some((e) => e.target === 'router-a' && e.ifName === 'ifb0' && e.clinic === 'clinic-c'), 'linkDown on an inventory link -> impact');
    await waitFor('trap errors', async () => (metricValue(await metrics(), 'netmon_trap_errors_total', { reason: 'malformed' }) ?? 0) >= 3, 120_000);
    const text = await metrics();
    t.equal(metricValue(text, 'netmon_traps_total', { target: 'router-a', type: 'linkDown' }), 1);
    t.ok((metricValue(text, 'netmon_trap_errors_total', { reason: 'unauthorised' }) ?? 0) >= 1, 'unknown community counted');
    t.equal((await fetch(`${mon.url}/healthz`)).status, 200, 'still alive after garbage');
    // linkUp clears the link fault
    await run('snmptrap', [...base, '1.3.6.1.6.3.1.1.5.4', '1.3.6.1.2.1.2.2.1.1.2', 'i', '2', '1.3.6.1.6.3.18.1.3.0', 'a', '10.0.0.1'], { env });
    await waitFor('link up', () => !mon.impact().some((e) => e.ifName === 'ifb0'), 120_000);
    t.pass('linkUp cleared the impact');
  });

  t.test('second snmpd stopped: down event with its clinics, devices and streams', async (t) => {
    await b.stop();
    await mon.pollAll();
    await mon.pollAll();
    const downs = await events('target_down');
    t.ok(downs.some((e) => e.target === 'switch-b'));
    const imp = mon.impact().filter((e) => e.target === 'switch-b');
    t.same(imp.map((e) => e.clinic), ['clinic-b'], 'root cause switch-b; edge-b behind it is not listed separately');
    t.same(imp[0]!.devices.map((d) => d.id), ['bp-1', 'dx-1']);
    t.same(imp[0]!.streams, ['EDGE_RECORDS:clinic.clinic-b.rec.>', 'DICTIONARIES:central.dict.>']);
    const ev = (await events('impact')).at(-1)!;
    t.match(ev.message, /clinic-b/);
    const text = await metrics();
    t.equal(metricValue(text, 'netmon_impact_down', { target: 'switch-b', clinic: 'clinic-b', stream: 'EDGE_RECORDS:clinic.clinic-b.rec.>' }), 1);
    t.equal(metricValue(text, 'netmon_impact_device_down', { target: 'switch-b', clinic: 'clinic-b', device: 'dx-1' }), 1);
    await b.restart();
    await mon.pollAll();
    t.notOk(mon.impact().some((e) => e.target === 'switch-b'), 'impact cleared when back');
    t.ok((await events('target_up')).some((e) => e.target === 'switch-b'));
  });

  t.test('agent restart: sysUpTime backwards re-baselines counters (no spike)', async (t) => {
    const before = metricValue(await metrics(), 'netmon_if_in_octets_total', { target: 'router-a', ifName: 'lo' })!;
    await a.restart();
    await mon.pollAll();
    const text = await metrics();
    t.equal(metricValue(text, 'netmon_target_restarts_total', { target: 'router-a' }), 1);
    const after = metricValue(text, 'netmon_if_in_octets_total', { target: 'router-a', ifName: 'lo' })!;
    t.equal(after, before, 'restart interval contributes 0, not the whole counter');
    t.ok((await events('agent_restart')).some((e) => e.target === 'router-a'));
  });

  t.test('anomaly: reloaded baseline scores live traffic of an inventory link', async (t) => {
    t.equal(mon.detector?.modelCount, 1);
    const text = await metrics();
    t.ok(metricValue(text, 'netmon_anomaly_score', { target: 'router-a', ifName: 'ifb0', direction: 'in' })! > 4, 'idle link vs a 1 MB/s baseline');
    t.equal(metricValue(text, 'netmon_anomaly_score', { target: 'router-a', ifName: 'lo' }), undefined, 'scope links: lo is not scored');
    t.ok((await events('anomaly')).some((e) => e.target === 'router-a' && e.ifName === 'ifb0'));
  });

  t.test('api input validation', async (t) => {
    t.equal((await fetch(`${mon.url}/api/events?since=abc`)).status, 400);
    t.equal((await fetch(`${mon.url}/nope`)).status, 404);
  });

  t.ok(logs.some((l) => JSON.parse(l).proc === 'network-monitor'), 'JSON logs');
});
