/**
 * Every writer of the SQLite warehouse takes the write gate (central/warehouse/write-gate.ts),
 * not only the ingest, EMPI and the analytics fact worker: a write begun on central's main
 * thread while another thread holds SQLite's write lock sleeps in SQLite's busy handler (1, 2,
 * 5 ... 100 ms per retry) and holds the ingest with it. Checked here for the fleet heartbeat,
 * the warehouse audit insert, the SQL runner's single statements, the imaging index, EMPI, and the
 * FHIR audit writer's own thread; and that a gated write inside a gated transaction does not
 * wait for itself.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import t, { type Test } from 'tap';
import { AuditWriter } from '../../central/fhir/index.ts';
import { SqliteImagingIndex } from '../../central/imaging/index-store.ts';
import '../../central/imaging/migrations.ts';
import { all, sqlFor as empiSqlFor } from '../../central/empi/sql.ts';
import { sqliteSql } from '../../central/warehouse/sql.ts';
import { SqliteWarehouse } from '../../central/warehouse/sqlite.ts';
import { withWriteGate, writeGateBuffer, writeGateStats } from '../../central/warehouse/write-gate.ts';

function warehouse(t: Test): SqliteWarehouse {
  const dir = mkdtempSync(join(tmpdir(), 'write-gate-writers-'));
  const wh = new SqliteWarehouse(join(dir, 'central.db'));
  t.teardown(async () => {
    await wh.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return wh;
}

/** Gate acquisitions on this thread while `fn` runs. */
async function acquisitions(fn: () => Promise<unknown>): Promise<number> {
  const before = writeGateStats.acquired;
  await fn().catch(() => {});
  return writeGateStats.acquired - before;
}

t.test('main-thread writers of the warehouse take the gate', async (t) => {
  writeGateBuffer(); // the gate is active from here on, as when central starts the fact worker
  const wh = warehouse(t);
  t.equal(await acquisitions(() => wh.recordHeartbeat({ clinicId: 'wg-a', agentVersion: 't', at: new Date().toISOString(), lastSeq: 1, receiptSeq: 1, outboxDepth: 0, oldestPendingAgeSec: 0, relayState: 'connected', dictionaries: {} })), 1, 'fleet heartbeat');
  t.equal(await acquisitions(() => wh.audit({ actor: 'user:t', action: 'test', target: 'x', sourceIp: '127.0.0.1', outcome: 'ok' })), 1, 'warehouse audit insert');
  const sql = sqliteSql(wh.db);
  t.equal(await acquisitions(() => sql.run("UPDATE fleet SET agent_version = 'u' WHERE clinic_id = ?", ['wg-a'])), 1, 'SQL runner, one statement');
  const index = new SqliteImagingIndex(wh.db);
  t.equal(await acquisitions(() => index.addReport('2.25.1', { status: 'final', findings: 'f', impression: 'i', positive: false, radiologist: 'r' })), 1, 'imaging report (its transaction; here a study not in the archive)');
  const empi = empiSqlFor(wh);
  t.equal(await acquisitions(() => empi.ensure([{ sqlite: 'CREATE TABLE IF NOT EXISTS wg_t (x INTEGER)', pg: '' }])), 1, 'EMPI schema statements');
  t.equal(await acquisitions(() => empi.tx(function* () { return yield* all('SELECT count(*) AS n FROM wg_t'); })), 1, 'EMPI transaction');
  const fleet = await wh.fleet();
  t.equal(fleet.find((f) => f.clinicId === 'wg-a')?.agentVersion, 'u', 'the writes happened');
});

t.test('a gated write inside a gated transaction runs at once', async (t) => {
  writeGateBuffer();
  const before = { ...writeGateStats };
  const v = withWriteGate(() => withWriteGate(() => 7));
  t.equal(v, 7);
  t.equal(writeGateStats.acquired - before.acquired, 1, 'taken once');
  t.equal(writeGateStats.waited, before.waited, 'never waited for itself');
  t.equal(writeGateStats.gaveUp, before.gaveUp, 'never gave up (it would after 5 s)');
});

// Holds the gate (cell 0: 0 free, 1 held) until told to leave through ctl[1].
const HOLDER = `
const { workerData, parentPort } = require('node:worker_threads');
const gate = new Int32Array(workerData.gate);
const ctl = new Int32Array(workerData.ctl);
while (Atomics.compareExchange(gate, 0, 0, 1) !== 0) Atomics.wait(gate, 0, 1, 50);
parentPort.postMessage('holding');
while (Atomics.load(ctl, 1) === 0) Atomics.wait(ctl, 1, 0, 50);
Atomics.store(gate, 0, 0);
Atomics.notify(gate, 0);
`;

t.test('the FHIR audit writer thread waits for the gate', async (t) => {
  const wh = warehouse(t);
  const writer = new AuditWriter(wh);
  t.teardown(() => writer.close());
  // Start its thread with a first entry, then hold the gate from another thread.
  await writer.write({ actor: 'client:wg', action: 'fhir.read', target: 'Patient/1', sourceIp: '127.0.0.1', outcome: 'ok' });
  const ctl = new Int32Array(new SharedArrayBuffer(8));
  const h = new Worker(HOLDER, { eval: true, workerData: { gate: writeGateBuffer(), ctl: ctl.buffer } });
  // Listened for from the start: the holder may exit before the checks below are done.
  const exited = new Promise<void>((r) => h.once('exit', () => r()));
  await new Promise<void>((r) => h.once('message', () => r()));
  let stored = false;
  const second = writer.write({ actor: 'client:wg', action: 'fhir.read', target: 'Patient/2', sourceIp: '127.0.0.1', outcome: 'ok' }).then(() => { stored = true; });
  await new Promise((r) => setTimeout(r, 300));
  t.notOk(stored, 'not stored while another thread holds the gate');
  Atomics.store(ctl, 1, 1);
  Atomics.notify(ctl, 1);
  await second;
  t.ok(stored, 'stored once the gate is free');
  await exited;
  const n = (wh.db.prepare("SELECT count(*) AS n FROM audit_log WHERE actor = 'client:wg'").get() as { n: number }).n;
  t.equal(n, 2, 'both entries stored');
});
