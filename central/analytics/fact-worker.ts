/**
 * Worker-thread entry of the fact refresh (see `worker-host.ts`). It opens its own connection to
 * the warehouse (SQLite file in WAL: a second connection reads while central's ingest writes, and
 * takes its turn as the one writer; PostgreSQL: its own small pool), and runs the same loop
 * `Analytics.start` ran on central's main thread: reload the organisation tree, `facts.refresh()`
 * (fact batches with their stored indicator results, one transaction each), then `engine.warm()`.
 * After every pass it tells the host what changed, so the main thread's engine drops the memory
 * copies of changed periods and re-reads the organisation tree. It also computes a page's
 * missing stored results on request (`load`), so a first computation (seconds of SQLite at 1 M
 * residents) never runs on the main thread's connection, which would block central's ingest.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { Analytics, DISTRICT_SCOPE } from './index.ts';
import { INDICATORS } from './indicators.ts';
import type { FactMeasure } from './engine.ts';
import { currentPeriodKey, parsePeriod } from './periods.ts';
import type { SqlDb } from './sql.ts';
import type { FactWorkerData, FromFactWorker, ToFactWorker } from './worker-protocol.ts';

const port = parentPort!;
const data = workerData as FactWorkerData;
const post = (m: FromFactWorker) => port.postMessage(m);

async function openSql(): Promise<{ db: SqlDb; close: () => Promise<void> }> {
  const { sqliteDb, pgSqlDb } = await import('./sql.ts');
  if (data.target.kind === 'sqlite') {
    if (data.writeGate) (await import('../warehouse/write-gate.ts')).joinWriteGate(data.writeGate);
    const { openDb } = await import('../../contracts/runtime/sqlite.ts');
    const raw = openDb(data.target.file);
    return { db: sqliteDb(raw), close: async () => { raw.close(); } };
  }
  const pg = (await import('pg')).default;
  // int8 (COUNT, SUM) as numbers, as the warehouse's own pool returns them.
  const types: import('pg').CustomTypesConfig = {
    getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
      oid === pg.types.builtins.INT8 && format !== 'binary' ? (v: string) => Number(v) : pg.types.getTypeParser(oid, format as 'text')) as typeof pg.types.getTypeParser,
  };
  const pool = new pg.Pool({ connectionString: data.target.url, max: 2, types });
  pool.on('error', () => undefined);
  return { db: pgSqlDb(pool), close: () => pool.end() };
}

async function main(): Promise<void> {
  const { db, close } = await openSql();
  const a = await Analytics.fromSql(db);
  let stopping = false;
  let timer: NodeJS.Timeout | null = null;
  let ticking: Promise<void> = Promise.resolve();

  /** One pass: what the main thread needs to know afterwards goes with the answer. */
  const pass = async (warm: boolean) => {
    await a.reloadOrg();
    const orgBefore = a.facts.orgChanges;
    const r = await a.facts.refresh(data.batch);
    const warmed = warm ? await a.engine.warm(INDICATORS, new Date(), () => stopping) + await a.qc.warm(parsePeriod(currentPeriodKey('year')), () => stopping) : 0;
    if (warm && !stopping) await a.pruneCases();
    return { ...r, gen: a.facts.ownGen, orgChanged: a.facts.orgChanges !== orgBefore, warmed, tx: { ...a.facts.stats } };
  };
  const tick = () => {
    timer = null;
    ticking = pass(true).then((r) => post({ t: 'refreshed', r }), (e: Error) => post({ t: 'error', message: e.message }))
      .finally(() => { if (!stopping) timer = setTimeout(tick, data.intervalMs); });
  };

  port.on('message', (m: ToFactWorker) => {
    if (m.t === 'load') {
      a.engine.measureRows(JSON.parse(m.mkey) as FactMeasure, parsePeriod(m.period), DISTRICT_SCOPE(a.org()))
        .then(() => post({ t: 'loaded', id: m.id }), (e: Error) => post({ t: 'error', message: e.message, id: m.id }));
    } else if (m.t === 'refresh') {
      pass(m.warm).then((r) => post({ t: 'refreshed', r, id: m.id }), (e: Error) => post({ t: 'error', message: e.message, id: m.id }));
    } else if (m.t === 'crash') {
      // Test hook: an uncaught exception in the worker (the host must log, count and restart it).
      setImmediate(() => { throw new Error('fact worker crash requested by a test'); });
    } else if (m.t === 'stop') {
      stopping = true;
      if (timer) clearTimeout(timer);
      // As before the worker existed: one last pass so the portal's facts are current at shutdown.
      void ticking.then(() => a.facts.refresh(data.batch)).then((r) => post({ t: 'refreshed', r: { ...r, gen: a.facts.ownGen, orgChanged: false, warmed: 0, tx: { ...a.facts.stats } } }), (e: Error) => post({ t: 'error', message: e.message }))
        .finally(async () => { await close().catch(() => undefined); post({ t: 'stopped' }); port.close(); });
    }
  });
  post({ t: 'ready' });
  if (data.intervalMs > 0) timer = setTimeout(tick, 0);
}

main().catch((e: Error) => post({ t: 'fatal', message: String(e.stack ?? e) }));
