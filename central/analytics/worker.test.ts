/**
 * The fact refresh in its worker thread (own SQLite connection): the main thread's Analytics sees
 * fresh results and "as of" times after each pass, stored results still equal full recomputation,
 * and a worker that crashes is logged, counted and restarted while the warehouse keeps ingesting.
 */
import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { SqliteWarehouse } from '../warehouse/sqlite.ts';
import { Analytics, INDICATOR_BY_ID, DISTRICT_SCOPE } from './index.ts';
import { handWorkedDistrict } from './handworked.ts';
import { build as b, ingestRecords } from './testkit.ts';
import { parsePeriod } from './periods.ts';
import type { FactWorkerLog } from './worker-host.ts';
import { sqlFor, type SqlDb } from './sql.ts';

async function until(what: string, ok: () => boolean | Promise<boolean>, ms = 60_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await ok())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

function memLog(): FactWorkerLog & { lines: { level: string; msg: string; obj: object }[] } {
  const lines: { level: string; msg: string; obj: object }[] = [];
  return {
    lines,
    error: (obj, msg) => { lines.push({ level: 'error', msg, obj }); },
    warn: (obj, msg) => { lines.push({ level: 'warn', msg, obj }); },
    info: (obj, msg) => { lines.push({ level: 'info', msg, obj }); },
  };
}

async function district(t: { teardown(fn: () => Promise<void>): void }) {
  const dir = mkdtempSync(join(tmpdir(), 'an-w-'));
  const wh = new SqliteWarehouse(join(dir, 'wh.db'));
  const a = await handWorkedDistrict(wh);
  t.teardown(async () => { await a.stop(); await wh.close(); rmSync(dir, { recursive: true, force: true }); });
  return { wh, a, dir };
}

t.test('worker passes: fresh results and as-of on the main thread, stored results = full recomputation', async (t) => {
  const { wh, a } = await district(t);
  const S = DISTRICT_SCOPE(a.org());
  const visits = INDICATOR_BY_ID.get('visits')!;
  const htn = INDICATOR_BY_ID.get('htn_standard_mgmt')!;
  // Registered and cached on the main thread before the worker starts.
  const periods = ['2025', '2026', '2026-Q1', '2026-Q4', '2026-03', '2026-12'];
  for (const ind of INDICATOR_BY_ID.values()) for (const p of periods) await a.engine.value(ind, 'district', p, S);
  t.equal((await a.engine.value(htn, 'c01-xinhua', '2026', S)).num, 1, 'before: R1 only');
  const errors: Error[] = [];
  const log = memLog();
  // A long interval: the passes below are the ones the test asks for (and the first timer pass).
  a.start(3_600_000, (e) => errors.push(e), { worker: { kind: 'sqlite', file: wh.file }, log });
  t.ok(a.worker, 'the refresh runs in a worker');
  await until('the worker to be ready', () => a.worker!.mode === 'ready');
  t.not(a.worker!.threadId, null);
  const asOf0 = await a.facts.asOf();

  await ingestRecords(wh, 'c01-xinhua', [b.followup('R2', 'HTN', '2026-12-01', { sbp: 130, dbp: 80, controlled: true })]);
  await sleep(5);
  const r = await a.facts.refresh();
  t.equal(r.records, 1, 'facts.refresh() on the main thread ran the worker\'s pass (only the new record read)');
  t.equal((await a.engine.value(htn, 'c01-xinhua', '2026', S)).num, 2, 'the main thread\'s cached result was dropped: R2 now has 4 follow-ups');
  const asOf1 = await a.facts.asOf();
  t.ok(asOf1 && (!asOf0 || asOf1 > asOf0), `as-of time moved on (${asOf0} -> ${asOf1})`);

  const before = (await a.engine.value(visits, 'district', '2026-03', S)).num;
  await ingestRecords(wh, 'c01-xinhua', [
    { ...b.followup('R1', 'HTN', '2026-11-10', { sbp: 150, dbp: 95, controlled: false }), version: 2 },
    { ...b.encounter('R3', '2026-03-06T10:00:00+08:00'), recordId: 'enc-w' },
    b.resident('R10', '冯十', '1948-02-02', '2'), b.healthRecord('R10', 'c01-xinhua', '2026-02-01'), b.enrol('R10', 'T2DM', '2026-02-01'),
    b.followup('R10', 'T2DM', '2026-03-01', { fbg: 6.1, controlled: true }),
  ]);
  const r2 = await a.refresh({ warm: false });
  t.equal(r2.records, 6);
  t.equal((await a.engine.value(visits, 'district', '2026-03', S)).num, before + 1, 'a new March visit is seen at once');
  await ingestRecords(wh, 'c01-xinhua', [
    { ...b.encounter('R3', '2026-03-06T10:00:00+08:00', { status: 'cancelled' }), recordId: 'enc-w', version: 2 },
    b.contract('R10', 'c01-t2', '2026-04-01', '2027-03-31', { keyPopulationTags: ['elderly'] }),
    { ...b.contract('R1', 'c01-t1', '2026-01-01', '2026-12-31', { status: 'terminated', terminatedDate: '2026-04-30', keyPopulationTags: ['elderly', 'hypertension'] }), version: 2 },
    b.charge('R1', '2026-03-15T09:40:00+08:00', 'western_drug', 4500),
  ]);
  await a.refresh({ warm: false });
  t.equal((await a.engine.value(visits, 'district', '2026-03', S)).num, before, 'its cancellation too');

  const b2 = await Analytics.open(wh);
  const norm = (rows: { clinic_id?: string | null; team_id?: string | null; v: unknown }[]) => rows.filter((x) => Number(x.v) !== 0).map((x) => `${x.clinic_id}|${x.team_id ?? ''}|${Number(x.v)}`).sort();
  const keys = await b2.db.all<{ mkey: string; period: string }>('SELECT mkey, period FROM an_agg_key');
  let bad = 0;
  for (const k of keys) {
    const m = JSON.parse(k.mkey);
    const p = parsePeriod(k.period);
    const stored = norm(await b2.engine.measureRows(m, p, S));
    const full = norm(await b2.engine.recompute(m, p));
    if (JSON.stringify(stored) !== JSON.stringify(full)) { bad++; t.same(stored, full, `${k.period} ${k.mkey}`); }
    // The main thread's own (cached) view equals it too.
    const mine = norm(await a.engine.measureRows(m, p, S));
    if (JSON.stringify(mine) !== JSON.stringify(full)) { bad++; t.same(mine, full, `main thread: ${k.period} ${k.mkey}`); }
  }
  t.ok(keys.length >= 100, `${keys.length} stored results checked`);
  t.equal(bad, 0, 'every stored result (and the main thread\'s copy) equals its full recomputation');
  t.same(errors, [], 'no refresh errors');
  t.equal(a.worker!.stats.crashes, 0);

  // Stop: one last pass (a record ingested just before stopping is in the facts), then the thread ends.
  await ingestRecords(wh, 's01-heping', [b.encounter('R5', '2026-03-21T09:00:00+08:00')]);
  const host = a.worker!;
  await a.stop();
  t.equal(host.mode, 'stopped');
  t.equal(host.threadId, null, 'worker thread gone');
  t.equal(a.worker, null);
  const cursor = await a.db.get<{ seq: number }>("SELECT seq FROM an_cursor WHERE clinic_id = 's01-heping'");
  const applied = await a.db.get<{ applied_seq: number }>("SELECT applied_seq FROM clinic_state WHERE clinic_id = 's01-heping'");
  t.equal(Number(cursor!.seq), Number(applied!.applied_seq), 'the last pass at stop caught up');
  // Stopped: refresh runs on this thread again, as without a worker.
  t.equal((await a.facts.refresh()).records, 0);
});

t.test('a page\'s first computation of a stored result runs in the worker, not on the main thread\'s connection', async (t) => {
  const { wh, a } = await district(t);
  // The main thread's statements, recorded (the connection itself is the real one).
  const raw = sqlFor(wh);
  const seen: string[] = [];
  const spy: SqlDb = {
    dialect: raw.dialect,
    stats: raw.stats,
    all: (sql, p) => { seen.push(sql); return raw.all(sql, p); },
    get: (sql, p) => { seen.push(sql); return raw.get(sql, p); },
    run: (sql, p) => { seen.push(sql); return raw.run(sql, p); },
    exec: (sql) => { seen.push(sql); return raw.exec(sql); },
    txGen: (gen) => raw.txGen(function* () { const g = gen(); let r = g.next(); while (!r.done) { seen.push(r.value.sql); r = g.next(yield r.value); } return r.value; }),
  };
  const main = await Analytics.fromSql(spy);
  t.teardown(() => main.stop());
  main.start(3_600_000, () => undefined, { worker: { kind: 'sqlite', file: wh.file } });
  await until('the worker to be ready', () => main.worker!.mode === 'ready');
  const htn = INDICATOR_BY_ID.get('htn_standard_mgmt')!;
  const S = DISTRICT_SCOPE(main.org());
  seen.length = 0;
  // 2024-Q2: a period nothing has stored yet.
  const v = await main.engine.value(htn, 'district', '2024-Q2', S);
  t.notOk(seen.some((s) => /FROM an_fact/.test(s)), `no fact query on the main thread's connection (${seen.length} statements: stored rows only)`);
  t.equal(main.engine.computing.size, 0, 'nothing left computing');
  const stored = await main.db.all<{ mkey: string }>('SELECT mkey FROM an_agg_key WHERE period = ?', ['2024-Q2']);
  t.equal(stored.length, 2, 'numerator and denominator stored by the worker');
  const full = async (m: typeof htn.numerator) => (await main.engine.recompute(m, parsePeriod('2024-Q2'))).reduce((n, r) => n + Number(r.v), 0);
  t.same([v.num, v.den], [await full(htn.numerator), await full(htn.denominator!)], 'the value equals a full recomputation');
});

t.test('timer passes: the worker refreshes by itself and the main thread follows', async (t) => {
  const { wh, a } = await district(t);
  const S = DISTRICT_SCOPE(a.org());
  const visits = INDICATOR_BY_ID.get('visits')!;
  const n0 = (await a.engine.value(visits, 'district', '2026-03', S)).num;
  a.start(50, () => undefined, { worker: { kind: 'sqlite', file: wh.file }, log: memLog() });
  await ingestRecords(wh, 'c02-dongfeng', [b.encounter('R9', '2026-03-03T09:00:00+08:00'), b.encounter('R9', '2026-03-04T09:00:00+08:00')]);
  await until('a timer pass to bring the new visits to the main thread', async () => (await a.engine.value(visits, 'district', '2026-03', S)).num === n0 + 2);
  t.ok(a.worker!.stats.passes >= 1, `${a.worker!.stats.passes} passes`);
  await t.resolves(a.stop());
});

t.test('delayed start: the worker starts late, or at once when a pass is asked for', async (t) => {
  const { wh, a } = await district(t);
  a.start(3_600_000, () => undefined, { worker: { kind: 'sqlite', file: wh.file }, log: memLog(), workerDelayMs: 600_000 });
  t.equal(a.worker!.mode, 'idle', 'not started yet');
  await ingestRecords(wh, 'c02-dongfeng', [b.encounter('R9', '2026-03-05T09:00:00+08:00')]);
  t.equal((await a.facts.refresh()).records, 1, 'a requested pass starts it and runs in it');
  t.equal(a.worker!.mode, 'ready');
  t.equal(a.worker!.stats.starts, 1);
  await a.stop();
});

t.test('a crash in the worker is logged, counted and the worker restarted; ingest goes on meanwhile', async (t) => {
  const { wh, a } = await district(t);
  const S = DISTRICT_SCOPE(a.org());
  const visits = INDICATOR_BY_ID.get('visits')!;
  const log = memLog();
  const errors: Error[] = [];
  a.start(3_600_000, (e) => errors.push(e), { worker: { kind: 'sqlite', file: wh.file }, log });
  const host = a.worker!;
  await until('ready', () => host.mode === 'ready');
  await a.facts.refresh();
  const first = host.threadId;
  const n0 = (await a.engine.value(visits, 'district', '2026-03', S)).num;

  host.crashForTest();
  // While the worker is dead or restarting, the warehouse ingests on the main thread as usual.
  const recs = Array.from({ length: 50 }, (_, i) => b.encounter('R9', `2026-03-${String(1 + (i % 28)).padStart(2, '0')}T09:00:00+08:00`));
  for (let i = 0; i < recs.length; i += 5) await ingestRecords(wh, 'c02-dongfeng', recs.slice(i, i + 5));
  await until('the crash to be counted', () => host.stats.crashes === 1);
  t.ok(log.lines.some((l) => l.level === 'error' && /fact worker died/.test(l.msg) && /crash requested by a test/.test(String((l.obj as { err?: string }).err))), 'logged as an error with the cause');
  await until('the restarted worker to be ready', () => host.mode === 'ready');
  t.equal(host.stats.starts, 2, 'started again');
  t.not(host.threadId, first, 'a new thread');
  const r = await a.facts.refresh();
  t.equal(r.records, 50, 'the new worker catches up with everything ingested meanwhile');
  t.equal((await a.engine.value(visits, 'district', '2026-03', S)).num, n0 + 50);
  t.equal((await wh.watermark('c02-dongfeng')).appliedSeq > 0, true);
  t.same(errors, []);

  // A pass in flight when the worker dies is rejected (not left hanging); the next one works.
  const inflight = a.facts.refresh();
  host.crashForTest();
  await inflight.then(() => t.pass('the pass finished before the crash'), (e: Error) => t.match(e.message, /died/));
  await until('restarted again', () => host.mode === 'ready' && host.stats.crashes === 2);
  await t.resolves(a.facts.refresh());
});

t.test('a worker that cannot start at all: refresh falls back to the main thread', async (t) => {
  const { wh, a, dir } = await district(t);
  const log = memLog();
  // A "file" under a regular file: the worker's connection cannot be opened.
  a.start(3_600_000, () => undefined, { worker: { kind: 'sqlite', file: join(wh.file, 'nested', 'wh.db') }, log });
  const host = a.worker!;
  await until('the host to give up', () => host.mode === 'given-up', 120_000);
  t.equal(host.stats.crashes, 5, 'five failed starts');
  t.equal(a.worker, null, 'no worker any more');
  t.ok(log.lines.some((l) => /main thread instead/.test(l.msg)));
  await ingestRecords(wh, 'c01-xinhua', [b.encounter('R3', '2026-03-07T10:00:00+08:00')]);
  t.equal((await a.facts.refresh()).records, 1, 'refreshed on the main thread');
  t.ok(dir);
});

t.test('PostgreSQL: the worker uses a pool of its own', async (t) => {
  const { createTestDatabase } = await import('../../test/central/postgres.ts');
  const { PostgresWarehouse } = await import('../warehouse/postgres.ts');
  const tdb = await createTestDatabase('anw');
  const wh = await PostgresWarehouse.open(tdb.url);
  const a = await handWorkedDistrict(wh);
  t.teardown(async () => { await a.stop(); await wh.close(); await tdb.drop(); });
  const S = DISTRICT_SCOPE(a.org());
  const htn = INDICATOR_BY_ID.get('htn_standard_mgmt')!;
  t.equal((await a.engine.value(htn, 'c01-xinhua', '2026', S)).num, 1);
  a.start(3_600_000, () => undefined, { worker: { kind: 'postgres', url: tdb.url }, log: memLog() });
  await ingestRecords(wh, 'c01-xinhua', [b.followup('R2', 'HTN', '2026-12-01', { sbp: 130, dbp: 80, controlled: true })]);
  await a.facts.refresh();
  t.equal(a.worker!.mode, 'ready');
  t.equal((await a.engine.value(htn, 'c01-xinhua', '2026', S)).num, 2, 'seen on the main thread after the worker\'s pass');
  const m = htn.numerator;
  const norm = (rows: { clinic_id?: string | null; team_id?: string | null; v: unknown }[]) => rows.filter((x) => Number(x.v) !== 0).map((x) => `${x.clinic_id}|${x.team_id ?? ''}|${Number(x.v)}`).sort();
  t.same(norm(await a.engine.measureRows(m, parsePeriod('2026'), S)), norm(await a.engine.recompute(m, parsePeriod('2026'))), 'stored = full recomputation');
});
