/**
 * The edge store: every domain write goes through `transact`, which commits the domain rows
 * and their outbox rows (per-clinic contiguous seq) in ONE SQLite transaction.
 *
 *   store.transact((tx) => {
 *     tx.db.prepare('INSERT INTO ...').run(...);
 *     tx.emit('observation', obs.observationId, obs);
 *   });
 */
import { EventEmitter } from 'node:events';
import { z } from 'zod';
import { closeSync, fsyncSync, openSync } from 'node:fs';
import { KeptDescriptor } from '../../contracts/runtime/kept-fd.ts';
import { uuidv7 } from '../../contracts/ids.ts';
import {
  HybridLogicalClock,
  SCHEMA_VERSION,
  maintenanceNoticeSchema,
  recordTypes,
  type DictionarySnapshot,
  type MaintenanceNotice,
  type Envelope,
  type RecordPayload,
  type RecordType,
} from '../../contracts/index.ts';
import { migrate, openDb, type Db, type Migration } from '../../contracts/runtime/index.ts';
import { edgeMigrations } from './migrations.ts';

export class RecordValidationError extends Error {
  override name = 'RecordValidationError';
  constructor(readonly type: string, readonly issues: { path: string; message: string }[]) {
    super(`invalid ${type}: ${issues.map((i) => `${i.path || '(root)'}: ${i.message}`).join('; ')}`);
  }
}

export class ClinicMismatchError extends Error {
  override name = 'ClinicMismatchError';
}

export interface OutboxRow {
  seq: number;
  recordId: string;
  type: RecordType;
  envelope: string;
  createdAt: string;
}

export interface EmitOptions {
  /**
   * Publish ahead of the FIFO backlog (critical values). Defaults to `isCriticalRecord`.
   * The seq stays contiguous: central still applies it in seq order (see sync/README.md).
   */
  priority?: boolean;
}

export interface Tx {
  db: Db;
  /** Validate, version and queue a record for replication in the current transaction. Returns its seq. */
  emit<T extends RecordType>(type: T, recordId: string, payload: RecordPayload<T>, opts?: EmitOptions): number;
}

/**
 * The envelope as published: the head's fields in this order, then the payload JSON as is (so a
 * payload is serialised once, and an envelope rebuilt from `records` (sync/reseed.ts) is the same
 * bytes as the one first published).
 */
export function envelopeJson(recordId: string, type: string, clinicId: string, seq: number, version: number, hlc: string, schemaVersion: number, createdAt: string, payloadJson: string): string {
  const head: Omit<Envelope, 'payload'> = { recordId, type, clinicId, seq, version, hlc, schemaVersion, createdAt };
  return `${JSON.stringify(head).slice(0, -1)},"payload":${payloadJson}}`;
}

/** Critical device readings and lab results (HH/LL) go in the priority lane by default. */
export function isCriticalRecord(type: RecordType, payload: unknown): boolean {
  if (type === 'observation') { const i = (payload as { interpretation?: string }).interpretation; return i === 'HH' || i === 'LL'; }
  if (type === 'lab_result') { const f = (payload as { flag?: string }).flag; return f === 'HH' || f === 'LL'; }
  return false;
}

export interface StoreStats {
  lastSeq: number;
  receiptSeq: number;
  outboxDepth: number;
  oldestPendingAt: string | null;
}

/**
 * How a group commit (`transactAsync`) becomes durable. `async` (default for a file): COMMIT
 * with synchronous=NORMAL (a write to the WAL, no fsync), then fsync the WAL file on libuv's
 * thread pool and resolve the callers after it; the main thread is free while the disk
 * flushes, and batches that commit meanwhile are flushed by their own fsync. `inline`: COMMIT
 * with synchronous=FULL, the fsync inside COMMIT on the main thread (before 2026-11-29).
 * `EDGE_GROUP_COMMIT_FSYNC=inline` selects the latter (comparison, diagnosis).
 */
export type GroupCommitFsync = 'async' | 'inline';

/** A write offered to a store that is closed (the agent is stopping). */
export class StoreClosedError extends Error {
  override name = 'StoreClosedError';
  constructor(file: string) {
    super(`${file}: the store is closed (the edge agent is stopping); the write was not made`);
  }
}

/**
 * The outbox's seq range and its oldest entry: three primary-key look-ups. Each aggregate is a
 * subquery of its own because SQLite answers `min()` or `max()` from the index only when it is
 * the query's single result column: `SELECT min(seq), max(seq) FROM outbox` scans every row
 * (10 ms per call at 200,000 rows, read by each heartbeat and metrics scrape).
 */
export const OUTBOX_DEPTH_SQL = 'SELECT (SELECT min(seq) FROM outbox) AS lo, (SELECT max(seq) FROM outbox) AS hi, (SELECT created_at FROM outbox ORDER BY seq LIMIT 1) AS oldest';

export class EdgeStore extends EventEmitter {
  readonly db: Db;
  private readonly hlc: HybridLogicalClock;
  private readonly st: ReturnType<EdgeStore['prepare']>;
  readonly groupCommitFsync: GroupCommitFsync;
  /**
   * Lowest outbox seq that is committed but not yet fsynced (0: none), shared with the relay
   * worker: rows at or above it are visible to readers but not yet durable, so they must not be
   * published yet (a power loss could take them back and reuse their seq for other records).
   */
  readonly durability = new BigInt64Array(new SharedArrayBuffer(8));
  /** Group commits waiting for their fsync, oldest first. */
  private readonly unsynced: { id: number; firstSeq: number; done: () => void; fail: (e: Error) => void }[] = [];
  private commitIds = 0;
  /** The WAL, fsynced after each group commit through one kept descriptor. */
  private readonly walFd: KeptDescriptor;
  private syncedUpTo = 0;

  constructor(readonly file: string, readonly clinicId: string, extraMigrations: readonly Migration[] = []) {
    super();
    this.db = openDb(file);
    this.walFd = new KeptDescriptor(`${file}-wal`);
    migrate(this.db, [...edgeMigrations, ...extraMigrations]);
    this.groupCommitFsync = file === ':memory:' || process.env.EDGE_GROUP_COMMIT_FSYNC === 'inline' ? 'inline' : 'async';
    // A previous process may have committed without its fsync having finished (a crash, kill -9):
    // make everything on disk durable before anyone publishes it.
    if (this.groupCommitFsync === 'async') this.syncWalNow();
    this.st = this.prepare();
    this.savepoint = this.db.transaction((fn: (tx: Tx) => unknown, tx: Tx) => fn(tx));
    const owner = this.getMeta('clinic_id');
    if (owner === null) this.setMeta('clinic_id', clinicId);
    else if (owner !== clinicId) {
      this.db.close();
      throw new ClinicMismatchError(`database ${file} belongs to clinic ${owner}, not ${clinicId}: check EDGE_CLINIC_ID or EDGE_DATA_DIR`);
    }
    this.hlc = new HybridLogicalClock(clinicId);
    this.hlc.seed(this.getMeta('last_hlc'));
  }

  private prepare() {
    const db = this.db;
    return {
      syncNormal: db.prepare('PRAGMA synchronous = NORMAL'),
      syncFull: db.prepare('PRAGMA synchronous = FULL'),
      getMeta: db.prepare<[string], { value: string }>('SELECT value FROM meta WHERE key = ?'),
      setMeta: db.prepare<[string, string]>('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value'),
      insertOutbox: db.prepare<[number, string, string, number, string, string, number]>('INSERT INTO outbox (seq, record_id, type, version, envelope, created_at, priority) VALUES (?, ?, ?, ?, ?, ?, ?)'),
      getVersion: db.prepare<[string, string], { version: number }>('SELECT version FROM records WHERE type = ? AND record_id = ?'),
      upsertRecord: db.prepare<[string, string, number, string, string, string, number]>(`INSERT INTO records (record_id, type, version, hlc, payload, updated_at, seq) VALUES (?, ?, ?, ?, ?, ?, ?)
        ON CONFLICT (type, record_id) DO UPDATE SET version = excluded.version, hlc = excluded.hlc, payload = excluded.payload, updated_at = excluded.updated_at, seq = excluded.seq`),
      upsertResident: db.prepare(`INSERT INTO residents (resident_id, name, sex, birth_date, id_type, id_number, phone, hlc) VALUES (@residentId, @name, @sex, @birthDate, @idType, @idNumber, @phone, @hlc)
        ON CONFLICT (resident_id) DO UPDATE SET name = excluded.name, sex = excluded.sex, birth_date = excluded.birth_date, id_type = excluded.id_type, id_number = excluded.id_number, phone = excluded.phone, hlc = excluded.hlc`),
      batch: db.prepare<[number, number], { seq: number; record_id: string; type: RecordType; envelope: string; created_at: string }>('SELECT seq, record_id, type, envelope, created_at FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?'),
      trim: db.prepare<[number]>('DELETE FROM outbox WHERE seq <= ?'),
      // The outbox holds one contiguous run of seqs (written in order, trimmed only from below, a
      // re-seed refills below what it holds): its depth is max - min + 1, two look-ups on the
      // primary key instead of a count over every row (100,000+ after an outage; read by each
      // heartbeat and metrics scrape). Its oldest entry is the lowest seq's.
      depth: db.prepare<[], { lo: number | null; hi: number | null; oldest: string | null }>(OUTBOX_DEPTH_SQL),
      dictVersion: db.prepare<[string], { version: number }>('SELECT version FROM dictionaries WHERE name = ?'),
      dictVersions: db.prepare<[], { name: string; version: number }>('SELECT name, version FROM dictionaries'),
      dictUpsert: db.prepare<[string, number, string, string]>(`INSERT INTO dictionaries (name, version, published_at, received_at) VALUES (?, ?, ?, ?)
        ON CONFLICT (name) DO UPDATE SET version = excluded.version, published_at = excluded.published_at, received_at = excluded.received_at`),
      dictClear: db.prepare<[string]>('DELETE FROM dictionary_items WHERE dictionary = ?'),
      dictItem: db.prepare<[string, string, string, string, number]>('INSERT INTO dictionary_items (dictionary, code, name, attrs, active) VALUES (?, ?, ?, ?, ?)'),
      dictItems: db.prepare<[string], { code: string; name: string; attrs: string; active: number }>('SELECT code, name, attrs, active FROM dictionary_items WHERE dictionary = ? ORDER BY code'),
    };
  }

  getMeta(key: string): string | null {
    return this.st.getMeta.get(key)?.value ?? null;
  }

  private setMeta(key: string, value: string): void {
    this.st.setMeta.run(key, value);
  }

  /** Central's planned maintenance windows for this clinic, as its last heartbeat answer said (kept across restarts: shown while the hub is out of reach). */
  maintenanceNotices(): MaintenanceNotice[] {
    const raw = this.getMeta('central.maintenance');
    if (!raw) return [];
    try {
      const list = z.array(maintenanceNoticeSchema).safeParse(JSON.parse(raw));
      return list.success ? list.data : [];
    } catch {
      return [];
    }
  }

  saveMaintenanceNotices(list: MaintenanceNotice[]): void {
    this.setMeta('central.maintenance', JSON.stringify(list));
  }

  /**
   * Run `fn` in one IMMEDIATE transaction; records it emits get contiguous seqs.
   * Returns what `fn` returns. On throw nothing is written (domain rows nor outbox).
   */
  transact<T>(fn: (tx: Tx) => T): T {
    return this.transactWith((tx) => fn(tx));
  }

  private transactWith<T>(fn: (tx: Tx, counters: { nextSeq: number; emitted: number }) => T, deferWritten = false): T {
    let emitted = 0;
    const run = this.db.transaction(() => {
      // Another process may share this file (tools, tests): re-read the counters inside the lock.
      const counters = { nextSeq: Number(this.getMeta('next_seq') ?? '1'), emitted: 0 };
      this.hlc.seed(this.getMeta('last_hlc'));
      let lastHlc: string | null = null;
      const tx: Tx = {
        db: this.db,
        emit: (type, recordId, payload, opts) => {
          const parsed = recordTypes[type].safeParse(payload);
          if (!parsed.success) {
            throw new RecordValidationError(type, parsed.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message })));
          }
          const version = (this.st.getVersion.get(type, recordId)?.version ?? 0) + 1;
          const hlc = this.hlc.tick();
          const now = new Date().toISOString();
          const seq = counters.nextSeq++;
          const payloadJson = JSON.stringify(parsed.data);
          // The envelope embeds the payload JSON as is: serialise the payload once, not twice.
          const envelope = envelopeJson(recordId, type, this.clinicId, seq, version, hlc, SCHEMA_VERSION, now, payloadJson);
          const priority = opts?.priority ?? isCriticalRecord(type, parsed.data);
          this.st.insertOutbox.run(seq, recordId, type, version, envelope, now, priority ? 1 : 0);
          this.st.upsertRecord.run(recordId, type, version, hlc, payloadJson, now, seq);
          if (type === 'resident') {
            const r = parsed.data as RecordPayload<'resident'>;
            this.st.upsertResident.run({ ...r, phone: r.phone ?? null, hlc });
          }
          lastHlc = hlc;
          counters.emitted++;
          return seq;
        },
      };
      const result = fn(tx, counters);
      emitted = counters.emitted;
      if (emitted > 0) {
        this.setMeta('next_seq', String(counters.nextSeq));
        this.setMeta('last_hlc', lastHlc!);
      }
      return result;
    });
    const out = run.immediate();
    if (emitted > 0 && !deferWritten) this.emit('written', emitted);
    return out;
  }

  /**
   * One caller's work in its own SAVEPOINT (better-sqlite3 nests a transaction function called
   * inside a transaction). Built once: a `db.transaction()` per caller cost about as much as the
   * savepoint itself.
   */
  private readonly savepoint: (fn: (tx: Tx) => unknown, tx: Tx) => unknown;

  private queue: { fn: (tx: Tx) => unknown; resolve: (v: unknown) => void; reject: (e: unknown) => void }[] = [];
  private flushScheduled = false;

  /**
   * Group commit: like `transact`, but concurrent callers (device drivers, HTTP requests)
   * share one COMMIT, i.e. one fsync. Each caller's work runs in its own SAVEPOINT, so a
   * failing caller rolls back only its own rows. The promise resolves after the COMMIT is
   * durable, which is when a device may be sent its acknowledgement.
   */
  transactAsync<T>(fn: (tx: Tx) => T): Promise<T> {
    if (!this.db.open) return Promise.reject(new StoreClosedError(this.file));
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ fn, resolve: resolve as (v: unknown) => void, reject });
      if (!this.flushScheduled) {
        this.flushScheduled = true;
        setImmediate(() => this.flushQueue());
      }
    });
  }

  private flushQueue(): void {
    this.flushScheduled = false;
    if (!this.db.open) {
      // close() commits what is queued; anything still here came too late.
      for (const item of this.queue.splice(0)) item.reject(new StoreClosedError(this.file));
      return;
    }
    const batch = this.queue.splice(0, 1000);
    if (this.queue.length > 0) {
      this.flushScheduled = true;
      setImmediate(() => this.flushQueue());
    }
    const results: ({ ok: true; v: unknown } | { ok: false; e: unknown })[] = [];
    const deferred = this.groupCommitFsync === 'async';
    let firstSeq = 0;
    let emitted = 0;
    if (deferred) this.st.syncNormal.run();
    try {
      this.transactWith((tx, counters) => {
        // Before COMMIT makes the rows visible: readers (the relay) stop below them until the fsync.
        if (deferred) {
          firstSeq = counters.nextSeq;
          if (this.durability[0] === 0n) Atomics.store(this.durability, 0, BigInt(firstSeq));
        }
        for (const item of batch) {
          // better-sqlite3 turns a nested transaction into a SAVEPOINT; a failed caller also
          // gives back the seqs it took, so the outbox stays contiguous.
          const mark = { ...counters };
          try {
            results.push({ ok: true, v: this.savepoint(item.fn, tx) });
          } catch (e) {
            Object.assign(counters, mark);
            results.push({ ok: false, e });
          }
        }
        emitted = counters.emitted;
      }, deferred);
    } catch (e) {
      if (deferred) { this.st.syncFull.run(); this.releaseHold(); }
      for (const item of batch) item.reject(e);
      return;
    }
    const settle = () => batch.forEach((item, i) => {
      const r = results[i]!;
      if (r.ok) item.resolve(r.v);
      else item.reject(r.e);
    });
    if (!deferred) { settle(); return; }
    this.st.syncFull.run();
    const id = ++this.commitIds;
    this.unsynced.push({ id, firstSeq: emitted > 0 ? firstSeq : 0, done: () => { settle(); if (emitted > 0) this.emit('written', emitted); }, fail: (e) => { for (const item of batch) item.reject(e); } });
    if (emitted === 0) this.releaseHold(); // took no seq: only older batches may hold readers back
    this.fsyncWal((err) => {
      if (err) {
        // The rows are committed but their durability is unknown (the disk reported an error):
        // callers are told, loudly; a device or user will retry. Nothing is published until a
        // later fsync succeeds.
        const e = new Error(`${this.file}: fsync of the write-ahead log failed (${err.message}): the last writes may not survive a power loss; check the disk`);
        for (const item of batch) item.reject(e);
        this.emit('fsync-error', e);
        return;
      }
      this.markSynced(id);
    });
  }

  /** fsync the WAL on the thread pool, through a descriptor kept between group commits (kept-fd.ts). */
  private fsyncWal(cb: (err: Error | null) => void): void {
    // No WAL: checkpointed into the database file, which is synced.
    this.walFd.fsync((e) => cb(e && e.code !== 'ENOENT' ? e : null));
  }

  private syncWalNow(): void {
    let fd: number;
    try { fd = openSync(`${this.file}-wal`, 'r'); } catch { return; }
    try { fsyncSync(fd); } finally { closeSync(fd); }
  }

  /** Every group commit up to `id` committed before that fsync started: durable now. */
  private markSynced(id: number): void {
    if (id > this.syncedUpTo) this.syncedUpTo = id;
    while (this.unsynced.length > 0 && this.unsynced[0]!.id <= this.syncedUpTo) this.unsynced.shift()!.done();
    this.releaseHold();
  }

  private releaseHold(): void {
    const next = this.unsynced.find((u) => u.firstSeq > 0);
    Atomics.store(this.durability, 0, next ? BigInt(next.firstSeq) : 0n);
  }

  /** Shorthand for a transaction that only emits one record. */
  write<T extends RecordType>(type: T, recordId: string, payload: RecordPayload<T>): number {
    return this.transact((tx) => tx.emit(type, recordId, payload));
  }

  newId(): string {
    return uuidv7();
  }

  outboxAfter(afterSeq: number, limit: number): OutboxRow[] {
    return this.st.batch.all(afterSeq, limit).map((r) => ({ seq: r.seq, recordId: r.record_id, type: r.type, envelope: r.envelope, createdAt: r.created_at }));
  }

  /** Central applied everything up to `seq`: remember it and drop those outbox rows. */
  applyReceipt(seq: number): boolean {
    // Committed without its own fsync (synchronous=NORMAL): the next group commit's WAL flush
    // makes it durable. A power loss before that takes back only the trim, whose rows are then
    // published again and counted as duplicates by central; nothing is lost. With FULL, every
    // receipt (up to 10 a second) blocked the event loop, and the clinic's writers, on an fsync.
    this.st.syncNormal.run();
    try {
      return this.db.transaction(() => {
        const held = Number(this.getMeta('receipt_seq') ?? '0');
        if (seq <= held) return false;
        this.setMeta('receipt_seq', String(seq));
        this.st.trim.run(seq);
        return true;
      }).immediate();
    } finally {
      this.st.syncFull.run();
    }
  }

  /** Highest seq central has confirmed as applied. */
  receiptSeq(): number {
    return Number(this.getMeta('receipt_seq') ?? '0');
  }

  stats(): StoreStats {
    const d = this.st.depth.get()!;
    return {
      lastSeq: Number(this.getMeta('next_seq') ?? '1') - 1,
      receiptSeq: Number(this.getMeta('receipt_seq') ?? '0'),
      outboxDepth: d.lo === null || d.hi === null ? 0 : d.hi - d.lo + 1,
      oldestPendingAt: d.oldest,
    };
  }

  dictionaryVersion(name: string): number {
    return this.st.dictVersion.get(name)?.version ?? 0;
  }

  dictionaryVersions(): Record<string, number> {
    return Object.fromEntries(this.st.dictVersions.all().map((r) => [r.name, r.version]));
  }

  dictionaryItems(name: string): { code: string; name: string; attrs: Record<string, unknown>; active: boolean }[] {
    return this.st.dictItems.all(name).map((r) => ({ code: r.code, name: r.name, attrs: JSON.parse(r.attrs) as Record<string, unknown>, active: r.active === 1 }));
  }

  /** Replace a dictionary with a newer snapshot; older or equal versions are ignored (idempotent). */
  applyDictionary(s: DictionarySnapshot): boolean {
    return this.db.transaction(() => {
      if (s.version <= this.dictionaryVersion(s.name)) return false;
      this.st.dictClear.run(s.name);
      for (const it of s.items) this.st.dictItem.run(s.name, it.code, it.name, JSON.stringify(it.attrs), it.active ? 1 : 0);
      this.st.dictUpsert.run(s.name, s.version, s.publishedAt, new Date().toISOString());
      return true;
    }).immediate();
  }

  /**
   * Closes the database. Callers waiting for the next group commit are committed now, not
   * dropped, and every group commit whose fsync is still running is made durable here (one
   * fsync on this thread) and answered, so a stopping agent loses no acknowledged write and
   * leaves no caller hanging. Later calls are refused with StoreClosedError.
   */
  close(): void {
    if (this.db.open) {
      while (this.queue.length > 0) this.flushQueue();
      if (this.unsynced.length > 0) {
        try {
          this.syncWalNow();
          this.markSynced(this.commitIds);
        } catch (e) {
          const err = new Error(`${this.file}: fsync of the write-ahead log failed while closing (${(e as Error).message}): the last writes may not survive a power loss; check the disk`);
          for (const u of this.unsynced.splice(0)) u.fail(err);
          this.emit('fsync-error', err);
        }
      }
    }
    this.walFd.close();
    if (this.db.open) this.db.close();
  }
}
