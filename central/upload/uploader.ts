/**
 * Scheduled upload of new warehouse records to the city platform.
 *
 * Each run: (1) claim records applied since the cursor (minus an overlap, so a transaction that
 * committed late is not skipped) that are in no batch yet, grouped by record type and day, into
 * batches of at most `batchSize` — batch row and item rows in one transaction, each record
 * version in at most one batch per target (primary key), so two central instances never claim
 * the same record twice; (2) send every due batch through the adapter with its idempotency key;
 * a retryable failure is retried with exponential backoff (with jitter) up to `maxAttempts`,
 * then the batch is `failed`; (3) compensation: a batch that failed after exhausting its retries
 * is re-queued after `compensateAfterMs`; one the platform refused (4xx) waits for an operator
 * (`retry`). The upload log (per type and day) is the batches table.
 */
import { randomUUID } from 'node:crypto';
import { Counter, Gauge, type Registry } from 'prom-client';
import type { Logger } from '../../contracts/runtime/index.ts';
import type { Sql } from '../warehouse/sql.ts';
import type { CityAdapter, SendResult, UploadRecord } from './adapter.ts';

export interface UploaderOptions {
  /** Names the destination; the upload log and cursor are per target. */
  target: string;
  batchSize: number;
  maxAttempts: number;
  /** First retry delay; doubles per attempt up to backoffMaxMs. */
  backoffBaseMs: number;
  backoffMaxMs: number;
  /** Re-queue batches that exhausted their retries after this long. */
  compensateAfterMs: number;
  /** Records claimed per run at most (the rest next run). */
  maxRecordsPerRun: number;
  /** How far behind the cursor to look again for late commits. */
  overlapMs: number;
  intervalMs: number;
}

export const defaultUploaderOptions: UploaderOptions = {
  target: 'city', batchSize: 500, maxAttempts: 8, backoffBaseMs: 5_000, backoffMaxMs: 3_600_000, compensateAfterMs: 6 * 3_600_000,
  maxRecordsPerRun: 20_000, overlapMs: 5 * 60_000, intervalMs: 300_000,
};

export type BatchStatus = 'pending' | 'sent' | 'failed';

export interface BatchRow {
  id: string; target: string; type: string; day: string; idempotencyKey: string; recordCount: number; status: BatchStatus; attempts: number;
  lastError: string | null; lastHttpStatus: number | null; createdAt: string; updatedAt: string; sentAt: string | null; nextAttemptAt: string;
}

export interface DaySummary {
  type: string; day: string; batches: number; records: number; recordsSent: number;
  sent: number; pending: number; failed: number; lastSentAt: string | null; status: 'sent' | 'pending' | 'failed' | 'partial';
}

export interface RunResult { claimed: number; batchesCreated: number; sent: number; retried: number; failed: number; compensated: number }

const iso = (v: unknown): string => (v instanceof Date ? v.toISOString() : new Date(String(v)).toISOString());
const isoOrNull = (v: unknown): string | null => (v === null || v === undefined ? null : iso(v));
/** yyyy-MM-dd in China Standard Time (UTC+8, no DST). */
export const cstDay = (at: string): string => new Date(Date.parse(at) + 8 * 3_600_000).toISOString().slice(0, 10);

function toBatch(r: Record<string, unknown>): BatchRow {
  return {
    id: String(r.id), target: String(r.target), type: String(r.type), day: String(r.day), idempotencyKey: String(r.idempotency_key), recordCount: Number(r.record_count),
    status: r.status as BatchStatus, attempts: Number(r.attempts), lastError: (r.last_error as string | null) ?? null, lastHttpStatus: r.last_http_status === null || r.last_http_status === undefined ? null : Number(r.last_http_status),
    createdAt: String(r.created_at), updatedAt: String(r.updated_at), sentAt: (r.sent_at as string | null) ?? null, nextAttemptAt: String(r.next_attempt_at),
  };
}

export class CityUploader {
  readonly o: UploaderOptions;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<RunResult> | undefined;
  private readonly m;

  constructor(private readonly sql: Sql, private readonly adapter: CityAdapter, opts: Partial<UploaderOptions> = {}, registry?: Registry, private readonly log?: Logger) {
    this.o = { ...defaultUploaderOptions, ...opts };
    const registers = registry ? [registry] : [];
    const self = this;
    this.m = {
      records: new Counter({ name: 'central_upload_records_total', help: 'Records accepted by the city platform, by record type', labelNames: ['target', 'type'], registers }),
      attempts: new Counter({ name: 'central_upload_attempts_total', help: 'Batch send attempts by outcome (sent, retry, failed)', labelNames: ['target', 'outcome'], registers }),
      batches: new Gauge({ name: 'central_upload_batches', help: 'Upload batches by status', labelNames: ['target', 'status'], registers, async collect() {
        this.reset();
        for (const r of await self.sql.all<{ status: string; n: number }>('SELECT status, count(*) AS n FROM upload_batches WHERE target = ? GROUP BY status', [self.o.target])) this.set({ target: self.o.target, status: r.status }, Number(r.n));
      } }),
      lastSuccess: new Gauge({ name: 'central_upload_last_success_timestamp_seconds', help: 'Unix time of the last batch the city platform accepted', labelNames: ['target'], registers }),
    };
  }

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => { void this.run().catch((e: Error) => this.log?.error({ err: e.message }, 'city upload run failed')); }, this.o.intervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.running?.catch(() => undefined);
  }

  /** One run (claim, send, compensate); concurrent calls share the run in progress. */
  run(now = () => new Date()): Promise<RunResult> {
    this.running ??= this.runOnce(now).finally(() => { this.running = undefined; });
    return this.running;
  }

  private async runOnce(now: () => Date): Promise<RunResult> {
    const res: RunResult = { claimed: 0, batchesCreated: 0, sent: 0, retried: 0, failed: 0, compensated: 0 };
    res.compensated = await this.compensate(now());
    const c = await this.claim(now());
    res.claimed = c.records;
    res.batchesCreated = c.batches;
    const due = (await this.sql.all<Record<string, unknown>>("SELECT * FROM upload_batches WHERE target = ? AND status = 'pending' AND next_attempt_at <= ? ORDER BY created_at, id LIMIT 1000", [this.o.target, now().toISOString()])).map(toBatch);
    for (const b of due) {
      const o = await this.send(b, now);
      res[o]++;
    }
    return res;
  }

  private async claim(at: Date): Promise<{ records: number; batches: number }> {
    const t = this.o.target;
    const cursor = (await this.sql.all<{ cursor: string }>('SELECT cursor FROM upload_state WHERE target = ?', [t]))[0]?.cursor ?? '1970-01-01T00:00:00.000Z';
    const from = new Date(Date.parse(cursor) - this.o.overlapMs).toISOString();
    const rows = await this.sql.all<{ type: string; record_id: string; version: number; clinic_id: string; created_at: unknown; applied_at: unknown }>(
      `SELECT r.type, r.record_id, r.version, r.clinic_id, r.created_at, r.applied_at FROM records r
       WHERE r.applied_at >= ? AND NOT EXISTS (SELECT 1 FROM upload_items u WHERE u.target = ? AND u.type = r.type AND u.record_id = r.record_id AND u.version = r.version AND u.clinic_id = r.clinic_id)
       ORDER BY r.applied_at, r.clinic_id, r.seq LIMIT ?`, [from, t, this.o.maxRecordsPerRun]);
    const groups = new Map<string, typeof rows>();
    for (const r of rows) {
      const k = `${r.type}\u0000${cstDay(iso(r.created_at))}`;
      groups.set(k, [...(groups.get(k) ?? []), r]);
    }
    const nowIso = at.toISOString();
    let batches = 0;
    let records = 0;
    for (const [k, list] of groups) {
      const [type, day] = k.split('\u0000') as [string, string];
      for (let i = 0; i < list.length; i += this.o.batchSize) {
        const chunk = list.slice(i, i + this.o.batchSize);
        const id = randomUUID();
        const values = chunk.map(() => '(?, ?, ?, ?, ?, ?)').join(', ');
        try {
          await this.sql.atomic([
            { sql: `INSERT INTO upload_batches (id, target, type, day, idempotency_key, record_count, status, attempts, created_at, updated_at, next_attempt_at) VALUES (?, ?, ?, ?, ?, ?, 'pending', 0, ?, ?, ?)`,
              params: [id, t, type, day, `${t}:${id}`, chunk.length, nowIso, nowIso, nowIso] },
            { sql: `INSERT INTO upload_items (target, type, record_id, version, clinic_id, batch_id) VALUES ${values}`, params: chunk.flatMap((r) => [t, r.type, r.record_id, Number(r.version), r.clinic_id, id]) },
          ]);
          batches++;
          records += chunk.length;
        } catch (e) {
          // Another instance claimed some of these records meanwhile: they are in its batch; the rest come next run.
          this.log?.warn({ err: (e as Error).message, type, day }, 'upload claim skipped');
        }
      }
    }
    if (rows.length) {
      const max = rows.map((r) => iso(r.applied_at)).reduce((a, b) => (a > b ? a : b));
      if (max > cursor) {
        await this.sql.run('INSERT INTO upload_state (target, cursor, updated_at) VALUES (?, ?, ?) ON CONFLICT (target) DO UPDATE SET cursor = excluded.cursor, updated_at = excluded.updated_at', [t, max, nowIso]);
      }
    }
    return { records, batches };
  }

  private async send(b: BatchRow, now: () => Date): Promise<'sent' | 'retried' | 'failed'> {
    const recs = await this.sql.all<{ type: string; record_id: string; version: number; clinic_id: string; seq: number; created_at: unknown; payload: unknown }>(
      `SELECT r.type, r.record_id, r.version, r.clinic_id, r.seq, r.created_at, r.payload FROM upload_items u
       JOIN records r ON r.type = u.type AND r.record_id = u.record_id AND r.version = u.version AND r.clinic_id = u.clinic_id
       WHERE u.batch_id = ? ORDER BY r.clinic_id, r.seq`, [b.id]);
    const records: UploadRecord[] = recs.map((r) => ({ clinicId: r.clinic_id, type: r.type, recordId: r.record_id, version: Number(r.version), seq: Number(r.seq), createdAt: iso(r.created_at), payload: typeof r.payload === 'string' ? JSON.parse(r.payload) : r.payload }));
    const attempt = b.attempts + 1;
    const result = await this.adapter.send({ batchId: b.id, idempotencyKey: b.idempotencyKey, type: b.type, day: b.day, attempt, records })
      .catch((e: Error): SendResult => ({ ok: false, retryable: true, error: `adapter error: ${e.message}` }));
    const at = now();
    if (result.ok) {
      await this.sql.run("UPDATE upload_batches SET status = 'sent', attempts = ?, sent_at = ?, updated_at = ?, last_http_status = ?, last_error = ? WHERE id = ?",
        [attempt, at.toISOString(), at.toISOString(), result.httpStatus ?? null, result.note ?? null, b.id]);
      this.m.records.inc({ target: this.o.target, type: b.type }, records.length);
      this.m.attempts.inc({ target: this.o.target, outcome: 'sent' });
      this.m.lastSuccess.set({ target: this.o.target }, at.getTime() / 1000);
      return 'sent';
    }
    const give_up = !result.retryable || attempt >= this.o.maxAttempts;
    // Exponential backoff with +-20% jitter so many failed batches do not retry in lockstep.
    const delay = Math.min(this.o.backoffMaxMs, this.o.backoffBaseMs * 2 ** (attempt - 1)) * (0.8 + Math.random() * 0.4);
    await this.sql.run('UPDATE upload_batches SET status = ?, attempts = ?, updated_at = ?, next_attempt_at = ?, last_http_status = ?, last_error = ? WHERE id = ?',
      [give_up ? 'failed' : 'pending', attempt, at.toISOString(), new Date(at.getTime() + (give_up ? 0 : delay)).toISOString(), result.httpStatus ?? null, result.error.slice(0, 500), b.id]);
    this.m.attempts.inc({ target: this.o.target, outcome: give_up ? 'failed' : 'retry' });
    if (give_up) this.log?.warn({ batch: b.id, type: b.type, day: b.day, error: result.error }, 'city upload batch failed');
    return give_up ? 'failed' : 'retried';
  }

  /** Re-queue batches that failed on retryable errors (network, 5xx) long enough ago. */
  private async compensate(at: Date): Promise<number> {
    const before = new Date(at.getTime() - this.o.compensateAfterMs).toISOString();
    return this.sql.run(`UPDATE upload_batches SET status = 'pending', attempts = 0, next_attempt_at = ?, updated_at = ?, last_error = 'compensation: re-queued after ' || coalesce(last_error, '')
      WHERE target = ? AND status = 'failed' AND updated_at <= ? AND (last_http_status IS NULL OR last_http_status >= 500 OR last_http_status IN (408, 429))`,
    [at.toISOString(), at.toISOString(), this.o.target, before]);
  }

  /** Operator retry of one batch (e.g. after the platform fixed a refusal). */
  async retry(id: string, at = new Date()): Promise<BatchRow | null> {
    await this.sql.run("UPDATE upload_batches SET status = 'pending', attempts = 0, next_attempt_at = ?, updated_at = ? WHERE id = ? AND target = ? AND status = 'failed'", [at.toISOString(), at.toISOString(), id, this.o.target]);
    return this.batch(id);
  }

  async batch(id: string): Promise<BatchRow | null> {
    const r = (await this.sql.all<Record<string, unknown>>('SELECT * FROM upload_batches WHERE id = ? AND target = ?', [id, this.o.target]))[0];
    return r ? toBatch(r) : null;
  }

  async batches(q: { status?: BatchStatus; type?: string; day?: string; limit: number; offset: number }): Promise<{ total: number; rows: BatchRow[] }> {
    const where = ['target = ?'];
    const params: unknown[] = [this.o.target];
    if (q.status) { where.push('status = ?'); params.push(q.status); }
    if (q.type) { where.push('type = ?'); params.push(q.type); }
    if (q.day) { where.push('day = ?'); params.push(q.day); }
    const w = where.join(' AND ');
    const total = Number((await this.sql.all<{ n: number }>(`SELECT count(*) AS n FROM upload_batches WHERE ${w}`, params))[0]!.n);
    const rows = await this.sql.all<Record<string, unknown>>(`SELECT * FROM upload_batches WHERE ${w} ORDER BY created_at DESC, id LIMIT ? OFFSET ?`, [...params, q.limit, q.offset]);
    return { total, rows: rows.map(toBatch) };
  }

  /** The upload log per record type and day (CST), newest day first. */
  async summary(q: { from?: string; to?: string }): Promise<DaySummary[]> {
    const where = ['target = ?'];
    const params: unknown[] = [this.o.target];
    if (q.from) { where.push('day >= ?'); params.push(q.from); }
    if (q.to) { where.push('day <= ?'); params.push(q.to); }
    const rows = await this.sql.all<{ type: string; day: string; status: BatchStatus; n: number; records: number; last_sent: string | null }>(
      `SELECT type, day, status, count(*) AS n, sum(record_count) AS records, max(sent_at) AS last_sent FROM upload_batches WHERE ${where.join(' AND ')} GROUP BY type, day, status`, params);
    const out = new Map<string, DaySummary>();
    for (const r of rows) {
      const k = `${r.day}\u0000${r.type}`;
      const s = out.get(k) ?? { type: r.type, day: r.day, batches: 0, records: 0, recordsSent: 0, sent: 0, pending: 0, failed: 0, lastSentAt: null, status: 'pending' as const };
      const n = Number(r.n);
      s.batches += n;
      s.records += Number(r.records);
      s[r.status] += n;
      if (r.status === 'sent') { s.recordsSent += Number(r.records); s.lastSentAt = isoOrNull(r.last_sent); }
      out.set(k, s);
    }
    for (const s of out.values()) s.status = s.failed ? (s.sent ? 'partial' : 'failed') : s.pending ? (s.sent ? 'partial' : 'pending') : 'sent';
    return [...out.values()].sort((a, b) => (a.day === b.day ? a.type.localeCompare(b.type) : b.day.localeCompare(a.day)));
  }
}
