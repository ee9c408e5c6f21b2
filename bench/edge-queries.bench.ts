/**
 * The edge's read paths at a year's scale: the reads behind the imaging worklist page, the
 * Modality Worklist C-FIND, a doctor's history, the lab review page and the forwarding gauge,
 * timed on one edge SQLite file holding a busy clinic's year (default: 20,000 imaging orders and
 * studies with 20 instances each, 300,000 device readings of which a tenth are lab results, 5,000
 * residents), with every module's migrations and no ANALYZE statistics (as the edge runs).
 * Each read: one untimed call, then the mean of --reps calls. Prints a table; does not write
 * RESULTS.md. Before the indexes of 2026-11-30 the worklist reads grew with the archive (with
 * 2,000 studies the recent-studies list took 5.5 s; with 20,000 the run did not end in 10 min).
 *   node --import tsx bench/edge-queries.bench.ts [--orders 20000] [--per-study 20] [--readings 300000] [--reps 20]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EdgeStore } from '../edge-agent/store/store.ts';
import { edgeModules } from '../edge-agent/modules.ts';
import { ImagingRepo } from '../edge-agent/imaging/repo.ts';
import { LabService } from '../edge-agent/devices/lab.ts';

const arg = (name: string, dflt: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && process.argv[i + 1] ? process.argv[i + 1]! : dflt;
};
const ORDERS = Number(arg('orders', '20000'));
const PER = Number(arg('per-study', '20'));
const READINGS = Number(arg('readings', '300000'));
const REPS = Number(arg('reps', '20'));
const RESIDENTS = 5000;
if ([ORDERS, PER, READINGS, REPS].some((v) => !Number.isInteger(v) || v <= 0)) {
  console.error('[edge-queries] --orders, --per-study, --readings and --reps take a positive integer: see the usage line at the top of bench/edge-queries.bench.ts');
  process.exit(2);
}
const log = (m: string) => console.error(`[edge-queries] ${m}`);

const dir = mkdtempSync(join(tmpdir(), 'edge-queries-'));
const store = new EdgeStore(join(dir, 'edge.db'), 'bench-q', edgeModules.flatMap((m) => m.migrations ?? []));
const db = store.db;
try {
  const t0 = Date.now();
  const day = (i: number) => new Date(Date.UTC(2026, 0, 1) + Math.floor(i / (ORDERS / 330)) * 86400e3).toISOString().slice(0, 10).replaceAll('-', '');
  db.transaction(() => {
    const r = db.prepare("INSERT INTO residents (resident_id, name, sex, birth_date, id_type, id_number, hlc) VALUES (?, ?, '1', '1960-01-01', '01', ?, ?)");
    for (let i = 0; i < RESIDENTS; i++) r.run(`r${i}`, `居民${i}`, `id${i}`, `h${i}`);
  }).immediate();
  // Written straight into the tables (the product's write path is measured by bench/imaging.bench.ts):
  // orders of the last days still open, the instances of the last studies still waiting for upload.
  const o = db.prepare("INSERT INTO imaging_orders (order_id, resident_id, accession_number, study_instance_uid, modality, code, display, station_ae, scheduled_date, scheduled_time, status, requested_by, payload, created_at) VALUES (?, ?, ?, ?, 'US', 'US-ABD', '腹部超声', NULL, ?, '0900', ?, 'd0001', '{}', ?)");
  const s = db.prepare("INSERT INTO imaging_studies (study_instance_uid, order_id, resident_id, accession_number, modality, match_kind, first_received_at, last_received_at) VALUES (?, ?, ?, ?, 'US', 'accession+study', ?, ?)");
  const n = db.prepare("INSERT INTO imaging_instances (sop_instance_uid, study_instance_uid, series_instance_uid, sop_class_uid, transfer_syntax_uid, size, sha256, path, modality, calling_ae, received_at, fwd_state, fwd_next_at) VALUES (?, ?, ?, '1.2.840.10008.5.1.4.1.1.6.1', '1.2.840.10008.1.2.1', 524288, ?, ?, 'US', 'US_ROOM1', ?, ?, ?)");
  const BATCH = 1000;
  for (let from = 0; from < ORDERS; from += BATCH) {
    db.transaction(() => {
      for (let i = from; i < Math.min(ORDERS, from + BATCH); i++) {
        const at = new Date(Date.UTC(2026, 0, 1) + i * 1000).toISOString();
        o.run(`o${i}`, `r${i % RESIDENTS}`, `A${i}`, `2.25.${i}`, day(i), i >= ORDERS - 40 ? 'scheduled' : 'completed', at);
        s.run(`2.25.${i}`, `o${i}`, `r${i % RESIDENTS}`, `A${i}`, at, at);
        for (let k = 0; k < PER; k++) n.run(`2.25.${i}.1.${k}`, `2.25.${i}`, `2.25.${i}.1`, 'a'.repeat(64), `/data/${i}/${k}.dcm`, at, i >= ORDERS - 10 ? 'pending' : 'done', at);
      }
    }).immediate();
    if ((from / BATCH) % 5 === 4) log(`imaging: ${Math.min(ORDERS, from + BATCH)} of ${ORDERS} orders and studies, ${Math.min(ORDERS, from + BATCH) * PER} instances (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
  }
  const rd = db.prepare("INSERT INTO device_readings (id, device_id, source_id, type, quantity, code, display, value, unit, at, received_at, reading, review_status, source, resident_id) VALUES (?, 'dev-1', ?, ?, 'glucose', 'GLU', '血糖', '5.6', 'mmol/L', ?, ?, '{}', ?, 'device', ?)");
  for (let from = 0; from < READINGS; from += 10 * BATCH) {
    db.transaction(() => {
      for (let i = from; i < Math.min(READINGS, from + 10 * BATCH); i++) {
        const lab = i % 10 === 0;
        const at = new Date(Date.UTC(2026, 0, 1) + i * 60e3).toISOString();
        rd.run(`rd${i}`, `s${i}`, lab ? 'lab_result' : 'observation', at, at, lab ? (i >= READINGS - 500 ? 'preliminary' : 'final') : null, `r${i % RESIDENTS}`);
      }
    }).immediate();
  }
  db.exec("UPDATE device_readings SET reviewed_at = received_at WHERE review_status = 'final'");
  log(`filled in ${((Date.now() - t0) / 1000).toFixed(1)} s: ${ORDERS} orders, ${ORDERS} studies, ${ORDERS * PER} instances, ${READINGS} readings, ${RESIDENTS} residents`);

  const repo = new ImagingRepo(db);
  // Only the store is used by the reads timed here.
  const lab = new LabService(store, null as never, null as never, null as never);
  const lastDay = day(ORDERS - 1);
  const reads: [string, () => unknown][] = [
    ['imaging: forwarding totals (gauge, worklist page)', () => repo.forwardStats().done],
    ["imaging: the day's orders (worklist page)", () => repo.ordersOn(lastDay).length],
    ['imaging: recent studies (worklist page)', () => repo.recentStudies(20).length],
    ['imaging: open orders (Modality Worklist C-FIND)', () => repo.openOrders().length],
    ['imaging: one order with its image counts', () => repo.order(`o${ORDERS >> 1}`)?.instances],
    ['imaging: reconciliation list', () => repo.unreconciled().length],
    ["doctor: a resident's studies (history)", () => db.prepare(`SELECT s.study_instance_uid, (SELECT count(*) FROM imaging_instances i WHERE i.study_instance_uid = s.study_instance_uid) AS n
      FROM imaging_studies s WHERE s.resident_id = ? ORDER BY s.last_received_at DESC LIMIT 50`).all('r7').length],
    ['lab: results waiting for review (count)', () => lab.pendingCount()],
    ['lab: results waiting for review (page)', () => lab.pending().length],
    ['lab: released results (page)', () => lab.released().length],
    ['store: outbox depth (heartbeat, metrics)', () => store.stats().outboxDepth],
  ];
  const out: string[] = ['| read | rows | mean ms |', '|---|---:|---:|'];
  for (const [name, f] of reads) {
    const rows = f();
    const s0 = process.hrtime.bigint();
    for (let i = 0; i < REPS; i++) f();
    const ms = Number(process.hrtime.bigint() - s0) / REPS / 1e6;
    out.push(`| ${name} | ${String(rows)} | ${ms.toFixed(2)} |`);
    log(`${name}: ${ms.toFixed(2)} ms`);
  }
  console.log(out.join('\n'));
  log(`done: ${reads.length} reads timed over ${REPS} calls each on ${ORDERS * PER} instances and ${READINGS} readings (${((Date.now() - t0) / 1000).toFixed(1)} s in all)`);
} finally {
  store.close();
  rmSync(dir, { recursive: true, force: true });
}
