/**
 * Tests against real peers: Debian's pymodbus (TCP and RTU over a socat pty pair) as the
 * device our poller reads, mbpoll reading our Modbus simulator, python-hl7 sending ORU
 * messages to our MLLP server and parsing our ACKs.
 */
import t from 'tap';
import { execFile } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { builtinProfile } from '../profiles/load.ts';
import type { Hl7Profile, ModbusProfile } from '../profiles/schema.ts';
import type { ObservationReading, Reading } from '../readings.ts';
import { ModbusDriver } from '../modbus/driver.ts';
import { startModbusSimulator } from '../simulators/modbus-sim.ts';
import { Hl7Driver } from '../hl7/driver.ts';
import { PYTHON, startPymodbusRtu, startPymodbusTcp } from './peers.ts';
import { ptyPair } from './socat.ts';

const run = promisify(execFile);
const HERE = dirname(fileURLToPath(import.meta.url));
const bp = builtinProfile('bp-monitor') as ModbusProfile;
const thermo = builtinProfile('thermometer') as ModbusProfile;
const monitor = builtinProfile('bedside-monitor-hl7') as Hl7Profile;

const byKey = (rs: Reading[]) => Object.fromEntries(rs.map((r) => [r.quantity, (r as ObservationReading).value]));

t.test('our Modbus TCP poller reads a pymodbus server', async (t) => {
  const peer = await startPymodbusTcp({ hr: [182, 96, 71], ir: [-150 & 0xffff] });
  t.teardown(() => peer.stop());
  const d = new ModbusDriver({ deviceId: 'bp-py', profile: bp, transport: { type: 'tcp', host: '127.0.0.1', port: peer.port } });
  const r = await d.read();
  t.same(byKey(r), { systolic: 182, diastolic: 96, pulse: 71 });
  t.match(r.find((x) => x.quantity === 'systolic'), { critical: true, interpretation: 'HH' }, 'SBP >= 180 is critical');
  const th = new ModbusDriver({ deviceId: 'th-py', profile: thermo, transport: { type: 'tcp', host: '127.0.0.1', port: peer.port } });
  t.same(byKey(await th.read()), { temperature: -1.5 }, 'signed int16 with scale');
  t.match((await th.read())[0], { implausible: true });
  const wrongUnit = new ModbusDriver({ deviceId: 'x', profile: bp, unitId: 9, timeoutMs: 300, transport: { type: 'tcp', host: '127.0.0.1', port: peer.port } });
  const tc = await wrongUnit.testConnection();
  t.equal(tc.ok, false);
  t.match(tc.detail, /unit 9|exception/, `wrong unit id reported: ${tc.detail}`);
  await Promise.all([d.stop(), th.stop(), wrongUnit.stop()]);
});

t.test('our Modbus RTU poller reads pymodbus over a serial pty pair', async (t) => {
  const pty = await ptyPair();
  t.teardown(() => pty.close());
  const peer = await startPymodbusRtu(pty.b, { hr: [121, 79, 66] });
  t.teardown(() => peer.stop());
  const d = new ModbusDriver({ deviceId: 'bp-rtu', profile: bp, timeoutMs: 1000, transport: { type: 'rtu', path: pty.a, baudRate: 19200 } });
  t.teardown(() => d.stop());
  let r: Reading[] = [];
  for (let i = 0; i < 5 && r.length === 0; i++) {
    try { r = await d.read(); } catch { await new Promise((res) => setTimeout(res, 200)); }
  }
  t.same(byKey(r), { systolic: 121, diastolic: 79, pulse: 66 });
});

t.test('mbpoll reads our Modbus simulator', async (t) => {
  const sim = await startModbusSimulator({ profile: bp, seed: 5, updateMs: 60_000 });
  t.teardown(() => sim.stop());
  sim.set('systolic', 135);
  sim.set('diastolic', 88);
  sim.set('pulse', 77);
  // -0: 0-based addresses, -t 4: holding registers, -c 3: three of them, -1: poll once
  const { stdout } = await run('mbpoll', ['-m', 'tcp', '-a', '1', '-0', '-r', '0', '-c', '3', '-t', '4', '-1', '-p', String(sim.port), '127.0.0.1'], { timeout: 10_000 });
  const vals = [...stdout.matchAll(/^\[(\d+)\]:\s+(-?\d+)/gm)].map((m) => [Number(m[1]), Number(m[2])]);
  t.same(vals, [[0, 135], [1, 88], [2, 77]], stdout);
});

t.test('python-hl7 sends ORU (UTF-8 and GB18030) and parses our ACKs', async (t) => {
  const stored: Reading[] = [];
  const drv = new Hl7Driver({ profile: monitor });
  await drv.start({ store: async (r) => { stored.push(...r); } });
  t.teardown(() => drv.stop());
  for (const enc of ['utf-8', 'gb18030']) {
    const { stdout } = await run(PYTHON, [join(HERE, 'hl7_peer.py'), String(drv.port), enc, '3'], { timeout: 15_000 });
    const acks = stdout.trim().split('\n').map((l) => JSON.parse(l) as { controlId: string; ack: string });
    t.same(acks.map((a) => a.ack), ['AA', 'AA', 'AA'], `${enc}: AA for each message`);
    t.same(acks.map((a) => a.controlId), ['PY0000', 'PY0001', 'PY0002']);
  }
  t.equal(stored.length, 18);
  t.match(stored[0], { code: '8867-4', value: 70, patientId: '330100199001011234', at: '2024-05-01T10:15:00.000+08:00' });
  t.match(drv.health(), [{ deviceId: 'PYMON@ICU', state: 'up', readings: 18 }]);
});
