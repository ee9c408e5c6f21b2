/**
 * Group commit of the FHIR facade's audit entries. Every granted access is answered only after
 * its entry is stored (fail closed); storing each entry in its own transaction costs one disk
 * sync per request (SQLite with synchronous=FULL, PostgreSQL with synchronous_commit=on), which
 * bounds the facade to a few hundred requests a second. Entries that arrive while one insert is
 * being written are stored together by the next multi-row INSERT (one transaction, one sync); each
 * caller's promise resolves when the insert holding its entry has committed, or rejects with its
 * error. Same rows as `Warehouse.audit`.
 *
 * On SQLite the insert runs in a worker thread on its own connection to the warehouse file (WAL:
 * one writer at a time; the thread takes the warehouse's write gate, as the ingest and the
 * analytics fact worker do, so neither side sleeps in SQLite's busy handler), so the disk sync does
 * not stop the event loop that serves the next requests; the worker exits when idle. If it cannot
 * start or dies, inserts run on the warehouse's own connection instead.
 *
 *   const audit = new AuditWriter(wh);
 *   await audit.write({ actor, action, target, sourceIp, outcome });
 */
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import type { Pool } from 'pg';
import { PostgresWarehouse } from '../warehouse/postgres.ts';
import { sqlFor, type Sql } from '../warehouse/sql.ts';
import { SqliteWarehouse } from '../warehouse/sqlite.ts';
import { releaseWriteGate, writeGateBuffer } from '../warehouse/write-gate.ts';
import type { AuditEntry, Warehouse } from '../warehouse/types.ts';

/** Rows per INSERT (6 parameters each, under SQLite's 32,766 limit). */
const MAX_ROWS = 500;
/** The SQLite worker exits after this long without entries (started again on the next one). */
const IDLE_MS = 30_000;

interface Waiting { e: AuditEntry; at: string; resolve: () => void; reject: (err: Error) => void }
/**
 * PostgreSQL: one statement for any batch size (columns as arrays, rows in array order), prepared
 * once per connection, instead of a VALUES list of a new length (parsed and planned anew) per batch.
 */
const PG_INSERT = {
  name: 'fhir_audit_insert',
  text: 'INSERT INTO audit_log (at, actor, action, target, source_ip, outcome) SELECT * FROM unnest($1::timestamptz[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[])',
};
const insertSql = (n: number) => `INSERT INTO audit_log (at, actor, action, target, source_ip, outcome) VALUES ${Array.from({ length: n }, () => '(?, ?, ?, ?, ?, ?)').join(', ')}`;

export class AuditWriter {
  private readonly sql: Sql;
  private readonly worker: WorkerSink | undefined;
  private readonly pgPool: Pool | undefined;
  private queue: Waiting[] = [];
  private writing = false;
  private scheduled = false;
  /** Entries stored and inserts run (a batch is one INSERT). */
  readonly stats = { entries: 0, inserts: 0, workerFailures: 0 };

  constructor(wh: Warehouse) {
    this.sql = sqlFor(wh);
    if (wh instanceof SqliteWarehouse && wh.file !== ':memory:') this.worker = new WorkerSink(wh.file, () => { this.stats.workerFailures++; });
    if (wh instanceof PostgresWarehouse) this.pgPool = wh.pool;
  }

  /** Store what is queued (up to 5 s), then end the writer thread: central's stop calls it. */
  async close(): Promise<void> {
    const until = Date.now() + 5_000;
    while ((this.writing || this.scheduled || this.queue.length) && Date.now() < until) await new Promise((r) => setTimeout(r, 10));
    this.worker?.close();
  }

  write(e: AuditEntry): Promise<void> {
    return new Promise((resolve, reject) => {
      this.queue.push({ e, at: new Date().toISOString(), resolve, reject });
      this.schedule();
    });
  }

  /** Flush after the current I/O callbacks, so that the requests being handled now share one insert. */
  private schedule(): void {
    if (this.writing || this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      void this.flush();
    });
  }

  private async flush(): Promise<void> {
    if (this.writing || this.queue.length === 0) return;
    this.writing = true;
    const batch = this.queue.splice(0, MAX_ROWS);
    try {
      if (this.pgPool) {
        await this.pgPool.query({ ...PG_INSERT, values: [batch.map((w) => w.at), batch.map((w) => w.e.actor), batch.map((w) => w.e.action), batch.map((w) => w.e.target), batch.map((w) => w.e.sourceIp), batch.map((w) => w.e.outcome)] });
      } else {
        const params: unknown[] = [];
        for (const w of batch) params.push(w.at, w.e.actor, w.e.action, w.e.target, w.e.sourceIp, w.e.outcome);
        if (!this.worker || !(await this.worker.insert(batch.length, params))) await this.sql.run(insertSql(batch.length), params);
      }
      this.stats.entries += batch.length;
      this.stats.inserts++;
      for (const w of batch) w.resolve();
    } catch (err) {
      for (const w of batch) w.reject(err as Error);
    } finally {
      this.writing = false;
      if (this.queue.length) this.schedule();
    }
  }
}

/** The worker thread's code (plain JavaScript: it needs nothing but better-sqlite3). */
const WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.sqlite);
const db = new Database(workerData.file);
db.pragma('journal_mode = WAL');
db.pragma('synchronous = FULL');
db.pragma('busy_timeout = 10000');
// The warehouse's write gate (central/warehouse/write-gate.ts, same protocol: 0 free, 1 held):
// an insert begun while the ingest held SQLite's write lock would sleep in the busy handler, and
// an ingest begun while this insert held it would sleep on the main thread.
const gate = workerData.gate ? new Int32Array(workerData.gate) : null;
function gated(fn) {
  if (!gate) return fn();
  const deadline = Date.now() + 5000;
  while (Atomics.compareExchange(gate, 0, 0, 1) !== 0) {
    if (Date.now() > deadline) return fn();
    Atomics.wait(gate, 0, 1, 50);
  }
  try {
    return fn();
  } finally {
    Atomics.store(gate, 0, 0);
    Atomics.notify(gate, 0, 1);
  }
}
const stmts = new Map();
parentPort.on('message', (m) => {
  try {
    let st = stmts.get(m.n);
    if (!st) {
      if (stmts.size > 64) stmts.clear();
      st = db.prepare(${JSON.stringify(insertSql(1).replace(/ VALUES .*/, ' VALUES '))} + Array.from({ length: m.n }, () => '(?, ?, ?, ?, ?, ?)').join(', '));
      stmts.set(m.n, st);
    }
    gated(() => st.run(m.params));
    parentPort.postMessage({ id: m.id, ok: true });
  } catch (e) {
    parentPort.postMessage({ id: m.id, ok: false, message: String((e && e.message) || e) });
  }
});
`;

/**
 * One insert at a time in a worker thread. `insert` resolves true when committed, false when the
 * worker is unavailable (the caller inserts on the main connection), and rejects with the
 * database's error (the entries were not stored).
 */
class WorkerSink {
  private w: Worker | undefined;
  private broken = false;
  private ids = 0;
  private pending: { id: number; resolve: (ok: boolean) => void; reject: (e: Error) => void } | undefined;
  private idle: NodeJS.Timeout | undefined;

  constructor(private readonly file: string, private readonly onFailure: () => void) {}

  insert(n: number, params: unknown[]): Promise<boolean> {
    if (this.broken) return Promise.resolve(false);
    const w = this.start();
    clearTimeout(this.idle);
    return new Promise((resolve, reject) => {
      const id = ++this.ids;
      this.pending = { id, resolve, reject };
      w.ref(); // an insert in flight keeps the process alive; an idle worker does not
      w.postMessage({ id, n, params });
    });
  }

  private start(): Worker {
    if (this.w) return this.w;
    const w = new Worker(WORKER, { eval: true, workerData: { file: this.file, sqlite: createRequire(import.meta.url).resolve('better-sqlite3'), gate: writeGateBuffer() } });
    w.unref();
    w.on('message', (m: { id: number; ok: boolean; message?: string }) => {
      const p = this.pending;
      if (!p || p.id !== m.id) return;
      this.pending = undefined;
      w.unref();
      if (m.ok) p.resolve(true);
      else p.reject(new Error(`audit entries not stored: ${m.message}`));
      this.idle = setTimeout(() => this.stop(), IDLE_MS).unref();
    });
    const fail = () => {
      if (this.w !== w) return;
      this.w = undefined;
      this.broken = true;
      this.onFailure();
      // The batch in flight may or may not be stored: insert it again on the main connection
      // rather than lose it (an audit entry twice is better than none). A thread that died
      // inside its insert may have held the write gate: release it, as the fact worker's host does.
      if (this.pending) releaseWriteGate();
      this.pending?.resolve(false);
      this.pending = undefined;
    };
    w.on('error', fail);
    w.on('exit', fail);
    this.w = w;
    return w;
  }

  /** End the thread now; a batch still in flight is inserted on the main connection instead. */
  close(): void {
    const w = this.w;
    if (!w) return;
    this.w = undefined;
    this.broken = true;
    this.pending?.resolve(false);
    this.pending = undefined;
    void w.terminate();
  }

  private stop(): void {
    const w = this.w;
    if (!w || this.pending) return;
    this.w = undefined; // an exit we asked for is not a failure
    void w.terminate();
  }
}
