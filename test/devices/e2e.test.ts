import t from 'tap';
import { connect, type Socket } from 'node:net';
import { MllpClient, buildAstmMessage, buildOru, sendAstmMessage, type ByteLink } from '../../device-drivers/index.ts';
import { devicesByStore } from '../../edge-agent/devices/index.ts';
import { startNatsServer } from '../helpers/nats-server.ts';
import { centralInProcess, clinicName, edgeInProcess, tempDir } from '../helpers/spine.ts';
import { waitFor } from '../helpers/wait.ts';
import { addResident, freePort } from './helpers.ts';

const link = (s: Socket): ByteLink => ({ write: (b) => s.write(b), on: (e, f) => s.on(e, f), off: (e, f) => s.off(e, f) });
const oru = (controlId: string, patientId: string, app = 'MONITOR', hr = 78) => buildOru({
  controlId, sendingApp: app, sendingFacility: 'WARD1', patientId, patientName: '李建华', charset: 'GB18030',
  observations: [{ id: '8867-4', text: 'HR', value: hr, unit: '/min' }, { id: '59408-5', text: 'SpO2', value: 97, unit: '%' }],
});

t.test('monitor (HL7 ORU over MLLP) and analyser (ASTM) -> edge -> spine -> central, each reading once with its resident; bad input counted', async (t) => {
  await using ns = await startNatsServer();
  const tmp = tempDir('dev-e2e');
  t.teardown(tmp.cleanup);
  process.env.EDGE_DEVICES_HL7_PORT = String(await freePort());
  process.env.EDGE_DEVICES_ASTM_PORT = String(await freePort());
  const central = await centralInProcess(ns.url, `${tmp.dir}/central`);
  const clinic = clinicName('deve2e');
  const edge = await edgeInProcess(ns.url, clinic, `${tmp.dir}/edge`, { adminPassword: 'Admin-Pass-2026' });
  t.teardown(async () => { await edge.stop(); await central.stop(); });
  const s = devicesByStore.get(clinic)!;
  const hl7 = s.manager.listeners().hl7!;
  const astm = s.manager.listeners().astm!;
  t.equal(hl7.port, Number(process.env.EDGE_DEVICES_HL7_PORT), 'HL7 listener on the configured port');

  const idNumber = addResident(edge, 'r-li', '李建华', '19580607', '013');
  addResident(edge, 'r-wu', '吴桂兰', '19491120', '028');
  edge.store.write('order', 'o-1', { orderId: 'o-1', residentId: 'r-wu', kind: 'lab', code: 'BIO', display: '生化全项', status: 'requested', requestedAt: new Date().toISOString(), specimenId: 'S2026000123' });
  const by = { username: 'admin', ip: 'test' };
  const monitor = s.registry.create({ name: '监护仪 1 床', profileId: 'bedside-monitor-hl7', room: '观察室', connection: { type: 'listener' }, sourceName: 'MONITOR@WARD1' }, by);
  s.registry.create({ name: '生化分析仪', profileId: 'biochemistry-analyser', room: '检验科', connection: { type: 'listener' }, sourceName: 'BIOCHEM' }, by);

  // Bound by the ID number the monitor sends; ACK AA only after the durable commit.
  const c = await MllpClient.open('127.0.0.1', hl7.port);
  t.teardown(() => c.close());
  const a1 = await c.send(oru('M-1', idNumber));
  t.equal(a1.code, 'AA', 'monitor reading accepted');
  t.equal((await c.send(oru('M-1', idNumber))).code, 'AA', 're-sent message (lost ACK) acknowledged again');
  // Unknown patient id: waits in the unbound list, still AA (stored, not dropped).
  t.equal((await c.send(oru('M-2', 'P-UNKNOWN', 'MONITOR', 165))).code, 'AA', 'unbound reading accepted');
  t.equal(s.ingest.unboundCount(), 2, 'two unbound readings (HR, SpO2)');
  t.equal(s.alerts.openCount(), 1, 'HR 165 raised a critical alert (unbound)');

  // Bad input: garbage, a non-HL7 frame, an unregistered sender. The agent keeps going.
  const g = connect(hl7.port, '127.0.0.1');
  await new Promise((r) => g.once('connect', r));
  g.write(Buffer.from([0x00, 0xff, 0x13, 0x37, 0x0b, 0x41, 0x42, 0x1c, 0x0d, 0xde, 0xad]));
  g.destroy();
  const bad = await c.send(Buffer.from('THIS IS NOT HL7'));
  t.equal(bad.code, 'AR', 'garbage frame rejected with AR');
  const rogue = await c.send(oru('R-1', idNumber, 'ROGUE'));
  t.equal(rogue.code, 'AR', 'unregistered sender rejected');
  t.match(rogue.text, /unknown sending device/);

  // Lab analyser: specimen barcode -> the lab order's resident and order id.
  const sock = connect(astm.port, '127.0.0.1');
  await new Promise((r) => sock.once('connect', r));
  t.teardown(() => sock.destroy());
  await sendAstmMessage(link(sock), buildAstmMessage('BIOCHEM', { specimenId: 'S2026000123', patientId: '', results: [{ testId: 'GLU', value: '5.40', unit: 'mmol/L' }, { testId: 'K', value: '6.80', unit: 'mmol/L' }] }), { replyTimeoutMs: 5000 });
  t.equal(s.alerts.openCount(), 2, 'K 6.8 raised a critical alert');

  // Central has each bound reading once, with its resident.
  const rows = () => central.wh.db.prepare<[string], { type: string; record_id: string; payload: string }>("SELECT type, record_id, payload FROM records WHERE clinic_id = ? AND type IN ('observation','lab_result')").all(clinic);
  await waitFor('bound readings at central', () => rows().length === 4, 20_000);
  const obs = rows().map((r) => ({ type: r.type, id: r.record_id, p: JSON.parse(r.payload) as { residentId?: string; code?: string; testCode?: string; orderId?: string; interpretation?: string; flag?: string } }));
  t.same(obs.filter((o) => o.type === 'observation').map((o) => o.p.residentId), ['r-li', 'r-li'], 'monitor readings at central with the resident bound by ID number (once, despite the re-send)');
  t.same(obs.filter((o) => o.type === 'lab_result').map((o) => [o.p.residentId, o.p.orderId]), [['r-wu', 'o-1'], ['r-wu', 'o-1']], 'lab results bound by specimen to the order and its resident');
  t.ok(obs.some((o) => o.p.testCode === '2823-3' && o.p.flag === 'HH'), 'critical potassium flagged HH');

  // A person resolves the unbound readings: they replicate with the resident, once.
  for (const u of s.ingest.unbound()) await s.ingest.resolve(u.id, 'r-li', by);
  await waitFor('resolved readings at central', () => rows().length === 6, 20_000);
  const all = rows();
  t.equal(new Set(all.map((r) => r.record_id)).size, 6, 'each reading once at central');
  t.ok(all.every((r) => (JSON.parse(r.payload) as { residentId?: string }).residentId), 'every reading at central has a resident');
  t.equal(s.ingest.unboundCount(), 0);

  // Still alive and counting what was refused.
  t.equal((await c.send(oru('M-3', 'r-li', 'MONITOR', 80))).code, 'AA', 'agent still accepts after bad input (bound by resident id)');
  const metrics = await (await fetch(`${edge.http.url}/metrics`)).text();
  t.match(metrics, /device_driver_events_total\{[^}]*event="garbageBytes"[^}]*\} [1-9]/, 'garbage bytes counted');
  t.match(metrics, /device_driver_events_total\{[^}]*event="parseErrors"[^}]*\} [1-9]/, 'parse errors counted');
  t.match(metrics, /edge_device_ingest_total\{[^}]*outcome="unknown_sender"[^}]*\} 1/, 'unknown sender counted');
  t.match(metrics, /edge_device_ingest_total\{[^}]*outcome="duplicates"[^}]*\} 2/, 're-sent readings counted as duplicates');
  t.equal((await fetch(`${edge.http.url}/healthz`)).status, 200, 'healthz ok');
  t.same(s.registry.unknownSenders().map((u) => u.name), ['ROGUE@WARD1'], 'unregistered sender listed for the technician');
  t.equal(s.registry.get(monitor.id)!.enabled, true);

  // A Modbus device that does not answer: shown as error with a growing error count, agent unaffected.
  const dead = s.registry.create({ name: '坏血压计', profileId: 'bp-monitor', connection: { type: 'tcp', host: '127.0.0.1', port: await freePort() }, pollIntervalMs: 200 }, by);
  await waitFor('device in error', () => s.manager.liveState(s.registry.get(dead.id)!) === 'error' && (s.manager.health(s.registry.get(dead.id)!)?.errors ?? 0) > 0, 15_000);
  t.pass('unreachable Modbus device shown as error and counted');
  const test = await s.manager.testConnection(s.registry.get(dead.id)!);
  t.equal(test.ok, false, 'test connection reports the failure');
  t.match(test.detail, /ECONNREFUSED|refused|connect/i);
});
