import t from 'tap';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { ProfileError } from '../errors.ts';
import { evaluate, toRecord } from '../readings.ts';
import { generateValue, rng } from '../simulators/values.ts';
import { registerDeviceMetrics } from '../metrics.ts';
import type { DeviceDriver } from '../driver.ts';
import { loadProfileFile, loadProfiles, parseProfile } from './load.ts';

t.test('every shipped profile validates; the issue\'s eight devices are there', async (t) => {
  const all = loadProfiles();
  t.same([...all.keys()].sort(), ['bedside-monitor-hl7', 'biochemistry-analyser', 'bp-monitor', 'glucose-meter', 'haematology-analyser', 'height-weight-scale', 'pulse-oximeter', 'thermometer']);
  const codes = new Set([...all.values()].flatMap((p) => p.quantities.map((q) => q.code)));
  for (const c of ['8480-6', '8462-4', '8867-4', '59408-5', '14743-9', '8302-2', '29463-7', '8310-5', '2823-3', '718-7']) t.ok(codes.has(c), `LOINC ${c} present`);
});

t.test('a bad profile fails at load with file and field names', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'dd-prof-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const f = join(dir, 'bad.yaml');
  writeFileSync(f, 'id: x1\nname: X\nkind: vital-signs\nprotocol: modbus\nrecordType: observation\npollIntervalMs: 1000\nmodbus: {}\nquantities:\n  - { key: a, code: "12-X", codeSystem: LOINC, display: A, unit: x, dataType: string, plausible: { low: 5, high: 1 } }\n');
  const err = t.throws(() => loadProfileFile(f)) as ProfileError;
  t.ok(err instanceof ProfileError);
  t.match(err.message, /bad\.yaml/);
  t.match(err.issues.join('\n'), /quantities\.0\.plausible/);
  t.match(err.issues.join('\n'), /quantities\.0\.modbus/);
  t.match(err.issues.join('\n'), /not a LOINC code/);
  writeFileSync(f, 'id: [unclosed');
  t.throws(() => loadProfileFile(f), ProfileError);
  t.throws(() => parseProfile({ id: 'y', protocol: 'snmp' }), ProfileError);
});

t.test('simulated values land where they say: normal, critical, implausible', async (t) => {
  const r = rng(42);
  let critical = 0;
  let implausible = 0;
  for (const p of loadProfiles().values()) {
    for (const q of p.quantities) {
      for (let i = 0; i < 300; i++) {
        const v = generateValue(q, r, { criticalRate: 0.1, implausibleRate: 0.05 });
        const ev = evaluate(q, v.value);
        if (v.kind === 'implausible') { implausible++; if (!ev.implausible) { t.fail(`${p.id}.${q.key} ${v.value} should be implausible`); return; } }
        else if (v.kind === 'critical') { critical++; if (!ev.critical) { t.fail(`${p.id}.${q.key} ${v.value} should be critical`); return; } }
        else if (ev.critical || ev.implausible) { t.fail(`${p.id}.${q.key} ${v.value} should be unremarkable`); return; }
      }
    }
  }
  t.ok(critical > 100 && implausible > 50, `critical ${critical}, implausible ${implausible}`);
});

t.test('reading -> record mapping keeps the flags', async (t) => {
  const rec = toRecord({ type: 'observation', deviceId: 'd', profileId: 'p', quantity: 'k', at: '2024-01-01T00:00:00.000+08:00', implausible: true, critical: false, sourceId: 's', code: '8310-5', display: 'Body temperature', value: 50, unit: 'Cel' }, { id: 'o1' });
  t.same(rec, { type: 'observation', payload: { observationId: 'o1', code: '8310-5', display: 'Body temperature', value: 50, unit: 'Cel', effectiveAt: '2024-01-01T00:00:00.000+08:00', deviceId: 'd', implausible: true } });
});

t.test('prometheus metrics are read from the drivers at scrape time', async (t) => {
  const fake = {
    protocol: 'modbus',
    health: () => [{ deviceId: 'bp-1', state: 'up' as const, readings: 7, errors: 2, lastSeenAt: '2024-01-01T00:00:00Z', lastLatencyMs: 12 }],
    counters: () => ({ timeouts: 3 }),
  } as unknown as DeviceDriver;
  const reg = new Registry();
  registerDeviceMetrics(reg, () => [{ id: 'drv1', driver: fake }]);
  const text = await reg.metrics();
  t.match(text, /device_readings_total\{driver="drv1",device="bp-1",protocol="modbus"\} 7/);
  t.match(text, /# TYPE device_readings_total counter/);
  t.match(text, /device_up\{driver="drv1",device="bp-1",protocol="modbus"\} 1/);
  t.match(text, /device_poll_latency_seconds\{[^}]*\} 0.012/);
  t.match(text, /device_driver_events_total\{driver="drv1",protocol="modbus",event="timeouts"\} 3/);
});
