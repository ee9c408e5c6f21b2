/**
 * PostgreSQL warehouse: the same repository as `SqliteWarehouse` for a city of hundreds of
 * clinics and several central instances. Every ingest batch is one transaction; each clinic's
 * `clinic_state` row is locked (`FOR UPDATE`, in sorted clinic order so two instances cannot
 * deadlock on it) for the whole batch, so two instances never interleave a clinic's apply.
 *
 *   const wh = await PostgresWarehouse.open('postgres://central@db/warehouse');
 */
import pg from 'pg';
import type { DeadLetterReason, DictionaryItem, DictionaryName, DictionarySnapshot, Heartbeat, Refusals } from '../../contracts/index.ts';
import { migratePg } from './postgres-migrations.ts';
import './ingest-migrations.ts';
import { ingestTx, type Q } from './postgres-ingest.ts';
import type { AuditEntry, DeadLetter, FleetRow, IngestItem, IngestResult, ResidentConflict, StreamCursor, Warehouse, Watermark } from './types.ts';

/** int8 (counts, seqs) as JS numbers: seqs stay far below 2^53. */
const int8AsNumber: pg.CustomTypesConfig = {
  // The cast narrows pg-types' overloaded signature to the one implementation we hand back.
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === pg.types.builtins.INT8 && format !== 'binary' ? (v: string) => Number(v) : pg.types.getTypeParser(oid, format as 'text')) as typeof pg.types.getTypeParser,
};

/**
 * Ingest statements run as named prepared statements: each connection parses and plans a text
 * once, then only binds and executes it (planning was ~8% of the backends' CPU per batch). The
 * texts are fixed (projection inserts: one per table), so the names stay few.
 */
const statementNames = new Map<string, string>();
function statementName(sql: string): string {
  let name = statementNames.get(sql);
  if (!name) statementNames.set(sql, (name = `wh${statementNames.size}`));
  return name;
}

/** SQLSTATEs worth retrying the whole batch for: deadlock (two instances locking residents) and serialization failure. */
const RETRYABLE = new Set(['40P01', '40001']);

/** The stream cursor's upsert: never back for the same stream (several instances write it). */
const CURSOR_PUT = `INSERT INTO stream_cursor (stream, seq, stored_at, updated_at) VALUES ($1, $2, $3, $4)
  ON CONFLICT (stream) DO UPDATE SET seq = excluded.seq, stored_at = excluded.stored_at, updated_at = excluded.updated_at
  WHERE excluded.stored_at > stream_cursor.stored_at OR (excluded.stored_at = stream_cursor.stored_at AND excluded.seq > stream_cursor.seq)`;

export class PostgresWarehouse implements Warehouse {
  private constructor(readonly pool: pg.Pool) {}

  /** Connect and run the numbered migrations. */
  static async open(connectionString: string, opts: { max?: number } = {}): Promise<PostgresWarehouse> {
    const pool = new pg.Pool({ connectionString, max: opts.max ?? 10, types: int8AsNumber });
    // An idle client losing its server must not crash the process; the next query reconnects.
    pool.on('error', () => undefined);
    // The same for a client that is checked out when its server goes away (killed backend,
    // failover): its 'error' event would be uncaught; the query in flight still rejects.
    pool.on('connect', (client) => { client.on('error', () => undefined); });
    try {
      const client = await pool.connect();
      try {
        await migratePg(client);
      } finally {
        client.release();
      }
    } catch (e) {
      await pool.end();
      throw e;
    }
    return new PostgresWarehouse(pool);
  }

  private async tx<T>(fn: (q: Q) => Promise<T>, retries = 5): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      const client = await this.pool.connect();
      // A connection that cannot even roll back is dropped from the pool, not reused.
      let broken: Error | undefined;
      try {
        await client.query('BEGIN');
        const r = await fn((sql, params) => client.query({ name: statementName(sql), text: sql, values: params }));
        await client.query('COMMIT');
        return r;
      } catch (e) {
        await client.query('ROLLBACK').catch((re: Error) => { broken = re; });
        if (!broken && attempt < retries && RETRYABLE.has((e as { code?: string }).code ?? '')) continue;
        throw e;
      } finally {
        client.release(broken);
      }
    }
  }

  async ingest(batch: IngestItem[], cursor?: StreamCursor): Promise<IngestResult> {
    return this.tx(async (q) => {
      const r = await ingestTx(q, batch);
      if (cursor) await q(CURSOR_PUT, [cursor.stream, cursor.seq, cursor.storedAt, new Date().toISOString()]);
      return r;
    });
  }

  async streamCursor(stream: string): Promise<StreamCursor | null> {
    const r = await this.pool.query<StreamCursor>('SELECT stream, seq, stored_at AS "storedAt" FROM stream_cursor WHERE stream = $1', [stream]);
    return r.rows[0] ?? null;
  }

  async saveStreamCursor(c: StreamCursor): Promise<void> {
    await this.pool.query(CURSOR_PUT, [c.stream, c.seq, c.storedAt, new Date().toISOString()]);
  }

  async watermark(clinicId: string): Promise<Watermark> {
    const r = await this.pool.query<{ a: number; n: number }>(
      'SELECT coalesce((SELECT applied_seq FROM clinic_state WHERE clinic_id = $1), 0) AS a, (SELECT count(*) FROM pending WHERE clinic_id = $1) AS n', [clinicId]);
    const { a, n } = r.rows[0]!;
    return { clinicId, appliedSeq: a, pendingAbove: n, firstMissing: n > 0 ? a + 1 : null };
  }

  async watermarks(): Promise<Watermark[]> {
    const r = await this.pool.query<{ clinic_id: string; a: number; n: number }>(
      'SELECT s.clinic_id, s.applied_seq AS a, (SELECT count(*) FROM pending p WHERE p.clinic_id = s.clinic_id) AS n FROM clinic_state s ORDER BY s.clinic_id');
    return r.rows.map((x) => ({ clinicId: x.clinic_id, appliedSeq: x.a, pendingAbove: x.n, firstMissing: x.n > 0 ? x.a + 1 : null }));
  }

  async recordHeartbeat(hb: Heartbeat): Promise<void> {
    await this.pool.query(`INSERT INTO fleet (clinic_id, last_heartbeat_at, agent_version, edge_last_seq, edge_receipt_seq, outbox_depth, oldest_pending_age, relay_state, dictionaries)
      VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb)
      ON CONFLICT (clinic_id) DO UPDATE SET last_heartbeat_at = excluded.last_heartbeat_at, agent_version = excluded.agent_version, edge_last_seq = excluded.edge_last_seq,
        edge_receipt_seq = excluded.edge_receipt_seq, outbox_depth = excluded.outbox_depth, oldest_pending_age = excluded.oldest_pending_age,
        relay_state = excluded.relay_state, dictionaries = excluded.dictionaries`,
    [hb.clinicId, new Date().toISOString(), hb.agentVersion, hb.lastSeq, hb.receiptSeq, hb.outboxDepth, hb.oldestPendingAgeSec, hb.relayState, JSON.stringify(hb.dictionaries)]);
  }

  async fleet(): Promise<FleetRow[]> {
    type Row = { clinic_id: string; last_heartbeat_at: Date | null; agent_version: string | null; edge_last_seq: number | null; edge_receipt_seq: number | null; outbox_depth: number | null; oldest_pending_age: number | null; relay_state: string | null; dictionaries: Record<string, number> | null; applied_seq: number | null; records_applied: number | null; pending: number };
    const { rows } = await this.pool.query<Row>(`
      SELECT c.clinic_id, f.last_heartbeat_at, f.agent_version, f.edge_last_seq, f.edge_receipt_seq, f.outbox_depth, f.oldest_pending_age, f.relay_state, f.dictionaries,
        s.applied_seq, s.records_applied, (SELECT count(*) FROM pending p WHERE p.clinic_id = c.clinic_id) AS pending
      FROM (SELECT clinic_id FROM fleet UNION SELECT clinic_id FROM clinic_state) c
      LEFT JOIN fleet f ON f.clinic_id = c.clinic_id LEFT JOIN clinic_state s ON s.clinic_id = c.clinic_id ORDER BY c.clinic_id`);
    const now = Date.now();
    return rows.map((r) => {
      const appliedSeq = r.applied_seq ?? 0;
      const hbAge = r.last_heartbeat_at ? (now - r.last_heartbeat_at.getTime()) / 1000 : 0;
      const pendingAtEdge = (r.edge_last_seq ?? 0) > appliedSeq;
      return {
        clinicId: r.clinic_id,
        lastHeartbeatAt: r.last_heartbeat_at?.toISOString() ?? null,
        agentVersion: r.agent_version,
        edgeLastSeq: r.edge_last_seq ?? 0,
        edgeReceiptSeq: r.edge_receipt_seq ?? 0,
        outboxDepth: r.outbox_depth ?? 0,
        oldestPendingAgeSec: r.oldest_pending_age ?? 0,
        relayState: r.relay_state,
        dictionaries: r.dictionaries ?? {},
        appliedSeq,
        pendingAbove: r.pending,
        firstMissing: r.pending > 0 ? appliedSeq + 1 : null,
        // Same rule as SQLite: the edge's view ages with its heartbeat.
        lagSeconds: pendingAtEdge ? Math.round(((r.oldest_pending_age ?? 0) + hbAge) * 10) / 10 : 0,
        recordsApplied: r.records_applied ?? 0,
      };
    });
  }

  async saveDictionary(name: DictionaryName, items: DictionaryItem[]): Promise<DictionarySnapshot> {
    return this.tx(async (q) => {
      // Two instances publishing the same dictionary get consecutive versions, not a key clash.
      await q("SELECT pg_advisory_xact_lock(hashtext('dictionary:' || $1))", [name]);
      const cur = (await q<{ v: number | null }>('SELECT max(version) AS v FROM dictionaries WHERE name = $1', [name])).rows[0]?.v ?? 0;
      const snap: DictionarySnapshot = { name, version: cur + 1, publishedAt: new Date().toISOString(), items };
      await q('INSERT INTO dictionaries (name, version, published_at, items) VALUES ($1, $2, $3, $4::jsonb)', [name, snap.version, snap.publishedAt, JSON.stringify(items)]);
      return snap;
    });
  }

  async importDictionary(snap: DictionarySnapshot): Promise<boolean> {
    const r = await this.pool.query('INSERT INTO dictionaries (name, version, published_at, items) VALUES ($1, $2, $3, $4::jsonb) ON CONFLICT DO NOTHING',
      [snap.name, snap.version, snap.publishedAt, JSON.stringify(snap.items)]);
    return (r.rowCount ?? 0) > 0;
  }

  async dictionaryVersions(): Promise<Record<string, number>> {
    const { rows } = await this.pool.query<{ name: string; v: number }>('SELECT name, max(version) AS v FROM dictionaries GROUP BY name');
    return Object.fromEntries(rows.map((r) => [r.name, Number(r.v)]));
  }

  async latestDictionaries(): Promise<DictionarySnapshot[]> {
    const { rows } = await this.pool.query<{ name: DictionaryName; version: number; published_at: Date; items: DictionaryItem[] }>(
      'SELECT DISTINCT ON (name) name, version, published_at, items FROM dictionaries ORDER BY name, version DESC');
    return rows.map((r) => ({ name: r.name, version: r.version, publishedAt: r.published_at.toISOString(), items: r.items }));
  }

  async deadLetters(limit: number, filter: { clinicId?: string; reason?: DeadLetterReason } = {}): Promise<DeadLetter[]> {
    const { rows } = await this.pool.query<{ id: number; subject: string; clinic_id: string | null; seq: number | null; reason: DeadLetterReason; detail: string; raw: Buffer; received_at: Date }>(
      `SELECT id, subject, clinic_id, seq, reason, detail, substring(raw FROM 1 FOR 200) AS raw, received_at FROM dead_letters
       WHERE ($2::text IS NULL OR clinic_id = $2) AND ($3::text IS NULL OR reason = $3) ORDER BY id DESC LIMIT $1`, [limit, filter.clinicId ?? null, filter.reason ?? null]);
    return rows.map((r) => ({ id: r.id, subject: r.subject, clinicId: r.clinic_id, seq: r.seq, reason: r.reason, detail: r.detail, receivedAt: r.received_at.toISOString(), rawPreview: r.raw.toString('utf8') }));
  }

  async refusals(clinicId: string): Promise<Refusals> {
    const { rows } = await this.pool.query<{ n: string; seq: string | null; reason: string | null; detail: string | null; received_at: Date | null }>(
      `SELECT (SELECT count(*) FROM dead_letters WHERE clinic_id = $1 AND reason <> 'lost_at_source') AS n, l.seq, l.reason, l.detail, l.received_at
       FROM (SELECT 1) x LEFT JOIN LATERAL (SELECT seq, reason, detail, received_at FROM dead_letters WHERE clinic_id = $1 AND reason <> 'lost_at_source' ORDER BY id DESC LIMIT 1) l ON true`, [clinicId]);
    const r = rows[0]!;
    return { count: Number(r.n), last: r.reason ? { seq: r.seq === null ? null : Number(r.seq), reason: r.reason, detail: (r.detail ?? '').slice(0, 300), at: r.received_at!.toISOString() } : null };
  }

  async conflicts(limit: number): Promise<ResidentConflict[]> {
    const { rows } = await this.pool.query<{ id: number; resident_id: string; winner_hlc: string; winner_clinic: string; loser_hlc: string; loser_clinic: string; fields: string[]; loser_values: Record<string, unknown>; winner_values: Record<string, unknown>; at: Date }>(
      'SELECT * FROM resident_conflicts ORDER BY id DESC LIMIT $1', [limit]);
    return rows.map((r) => ({
      id: r.id, residentId: r.resident_id, winnerHlc: r.winner_hlc, winnerClinic: r.winner_clinic, loserHlc: r.loser_hlc, loserClinic: r.loser_clinic,
      fields: r.fields, loserValues: r.loser_values, winnerValues: r.winner_values, at: r.at.toISOString(),
    }));
  }

  async countRecords(clinicId?: string): Promise<number> {
    const r = clinicId
      ? await this.pool.query<{ n: number }>('SELECT count(*) AS n FROM records WHERE clinic_id = $1', [clinicId])
      : await this.pool.query<{ n: number }>('SELECT count(*) AS n FROM records');
    return r.rows[0]!.n;
  }

  async appliedSeqs(clinicId: string): Promise<number[]> {
    return (await this.pool.query<{ seq: number }>('SELECT seq FROM ingest_log WHERE clinic_id = $1 ORDER BY id', [clinicId])).rows.map((r) => r.seq);
  }

  async audit(e: AuditEntry): Promise<void> {
    await this.pool.query('INSERT INTO audit_log (at, actor, action, target, source_ip, outcome) VALUES ($1, $2, $3, $4, $5, $6)',
      [new Date().toISOString(), e.actor, e.action, e.target, e.sourceIp, e.outcome]);
  }

  private closed = false;
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.pool.end();
  }
}
