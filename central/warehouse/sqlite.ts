/** SQLite warehouse: the embedded default. Every batch is one transaction. */
import { compareHlc, subjectClinicLabel, type DeadLetterReason, type DictionaryItem, type DictionaryName, type DictionarySnapshot, type Heartbeat, type Refusals } from '../../contracts/index.ts';
import { migrate, openDb, type Db } from '../../contracts/runtime/index.ts';
import { centralMigrations } from './sqlite-migrations.ts';
import { withWriteGate } from './write-gate.ts';
import { GroupFsync, KeptDescriptor } from '../../contracts/runtime/kept-fd.ts';
import './ingest-migrations.ts';
import { SqliteProjector } from './projection-writers.ts';
import type { AuditEntry, DeadLetter, FleetRow, IngestItem, IngestOutcome, IngestResult, PipelinedIngest, ResidentConflict, StreamCursor, Warehouse, Watermark, RecordItem } from './types.ts';

export interface SqliteWarehouseOptions {
  /** How the WAL is flushed after a pipelined ingest (tests pass a stand-in; default: fsync of `<file>-wal`). */
  walSync?: (cb: (err: NodeJS.ErrnoException | null) => void) => void;
}


export class SqliteWarehouse implements Warehouse {
  readonly db: Db;
  private readonly st;
  /** Writes the WS 365 projection tables in the same transaction as `records`. */
  private readonly projector: SqliteProjector;
  /** The WAL's descriptor and its group fsync for `ingestPipelined`. */
  private readonly walFd: KeptDescriptor;
  private readonly walSync: GroupFsync;

  constructor(readonly file: string, options: SqliteWarehouseOptions = {}) {
    this.db = openDb(file);
    this.walFd = new KeptDescriptor(`${file}-wal`);
    // ENOENT: no WAL (checkpointed into the database file, which SQLite synced).
    this.walSync = new GroupFsync(options.walSync ?? ((cb) => this.walFd.fsync((e) => cb(e && e.code !== 'ENOENT' ? e : null))));
    migrate(this.db, centralMigrations);
    const db = this.db;
    this.projector = new SqliteProjector(db);
    this.st = {
      state: db.prepare<[string], { applied_seq: number }>('SELECT applied_seq FROM clinic_state WHERE clinic_id = ?'),
      upsertState: db.prepare<[string, number, number, string]>(`INSERT INTO clinic_state (clinic_id, applied_seq, records_applied, updated_at) VALUES (?, ?, ?, ?)
        ON CONFLICT (clinic_id) DO UPDATE SET applied_seq = excluded.applied_seq, records_applied = records_applied + excluded.records_applied, updated_at = excluded.updated_at`),
      logGet: db.prepare<[string, number], { hash: string }>('SELECT hash FROM ingest_log WHERE clinic_id = ? AND seq = ?'),
      logInsert: db.prepare<[string, number, string | null, string | null, number | null, string, string, string]>('INSERT INTO ingest_log (clinic_id, seq, record_id, type, version, hash, status, applied_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)'),
      pendingGet: db.prepare<[string, number], { hash: string; kind: 'record' | 'dead'; envelope: string | null }>('SELECT hash, kind, envelope FROM pending WHERE clinic_id = ? AND seq = ?'),
      pendingInsert: db.prepare<[string, number, string, string, string | null, string]>('INSERT INTO pending (clinic_id, seq, hash, kind, envelope, received_at) VALUES (?, ?, ?, ?, ?, ?)'),
      pendingDelete: db.prepare<[string, number]>('DELETE FROM pending WHERE clinic_id = ? AND seq = ?'),
      pendingAny: db.prepare<[string], { x: number }>('SELECT 1 AS x FROM pending WHERE clinic_id = ? LIMIT 1'),
      pendingStats: db.prepare<[string], { n: number }>('SELECT count(*) AS n FROM pending WHERE clinic_id = ?'),
      recordInsert: db.prepare<[string, string, number, string, number, string, string, string, string]>(`INSERT INTO records (type, record_id, version, clinic_id, seq, hlc, payload, created_at, applied_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
        ON CONFLICT DO NOTHING`),
      recordGet: db.prepare<[string, string, number, string], { payload: string }>('SELECT payload FROM records WHERE type = ? AND record_id = ? AND version = ? AND clinic_id = ?'),
      residentGet: db.prepare<[string], { payload: string; hlc: string; clinic_id: string }>('SELECT payload, hlc, clinic_id FROM residents WHERE resident_id = ?'),
      residentUpsert: db.prepare<[string, string, string, string, string]>(`INSERT INTO residents (resident_id, payload, hlc, clinic_id, updated_at) VALUES (?, ?, ?, ?, ?)
        ON CONFLICT (resident_id) DO UPDATE SET payload = excluded.payload, hlc = excluded.hlc, clinic_id = excluded.clinic_id, updated_at = excluded.updated_at`),
      conflictInsert: db.prepare<[string, string, string, string, string, string, string, string, string]>(`INSERT INTO resident_conflicts (resident_id, winner_hlc, winner_clinic, loser_hlc, loser_clinic, fields, loser_values, winner_values, at)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`),
      deadInsert: db.prepare<[string, string | null, number | null, string, string, Buffer, string]>('INSERT INTO dead_letters (subject, clinic_id, seq, reason, detail, raw, received_at) VALUES (?, ?, ?, ?, ?, ?, ?)'),
      cursorGet: db.prepare<[string], StreamCursor>('SELECT stream, seq, stored_at AS storedAt FROM stream_cursor WHERE stream = ?'),
      // Never back in time (another instance lagging); a renumbered stream's lower seq is taken.
      cursorPut: db.prepare<[string, number, string, string]>(`INSERT INTO stream_cursor (stream, seq, stored_at, updated_at) VALUES (?, ?, ?, ?)
        ON CONFLICT (stream) DO UPDATE SET seq = excluded.seq, stored_at = excluded.stored_at, updated_at = excluded.updated_at
        WHERE excluded.stored_at > stream_cursor.stored_at OR (excluded.stored_at = stream_cursor.stored_at AND excluded.seq > stream_cursor.seq)`),
      syncNormal: db.prepare('PRAGMA synchronous = NORMAL'),
      syncFull: db.prepare('PRAGMA synchronous = FULL'),
    };
  }

  async ingest(batch: IngestItem[], cursor?: StreamCursor): Promise<IngestResult> {
    return withWriteGate(() => this.db.transaction(() => this.ingestSync(batch, cursor)).immediate());
  }

  async streamCursor(stream: string): Promise<StreamCursor | null> {
    return this.st.cursorGet.get(stream) ?? null;
  }

  async saveStreamCursor(c: StreamCursor): Promise<void> {
    withWriteGate(() => this.st.cursorPut.run(c.stream, c.seq, c.storedAt, new Date().toISOString()));
  }

  /**
   * The batch committed with synchronous=NORMAL (its WAL frames written, not flushed), then the
   * WAL fsynced on the thread pool, shared with the batches committed meanwhile: the main thread
   * applies the next batch while the disk flushes this one. The caller acknowledges and publishes
   * receipts only once `durable` resolves. Watermarks read for receipts (`watermark()`) wait for
   * the flushes in flight, so no receipt ever covers a record that a power loss could take back.
   * A commit that fails throws here, as `ingest` does.
   */
  ingestPipelined(batch: IngestItem[], cursor?: StreamCursor): PipelinedIngest {
    this.st.syncNormal.run();
    let result: IngestResult;
    try {
      result = withWriteGate(() => this.db.transaction(() => this.ingestSync(batch, cursor)).immediate());
    } finally {
      this.st.syncFull.run();
    }
    return { result, durable: this.walSync.request(), flushAgain: () => this.walSync.request() };
  }

  private ingestSync(batch: IngestItem[], cursor: StreamCursor | undefined): IngestResult {
    this.projector.reset();
    const now = new Date().toISOString();
    if (cursor) this.st.cursorPut.run(cursor.stream, cursor.seq, cursor.storedAt, now);
    const outcomes: IngestOutcome[] = [];
    const applied: IngestResult['applied'] = [];
    const deadLetters: IngestResult['deadLetters'] = [];
    const touched = new Set<string>();
    let conflicts = 0;
    // Per-batch cache of watermarks; written back once per clinic at the end.
    // `held`: the clinic may have rows in `pending` (read once per batch, set when one is added);
    // without any, the probe for the next held seq after each applied record is skipped.
    const wm = new Map<string, { seq: number; applied: number; held: boolean }>();
    const getWm = (clinicId: string) => {
      let w = wm.get(clinicId);
      if (!w) {
        w = { seq: this.st.state.get(clinicId)?.applied_seq ?? 0, applied: 0, held: this.st.pendingAny.get(clinicId) !== undefined };
        wm.set(clinicId, w);
      }
      return w;
    };
    const dead = (subject: string, clinicId: string | null, seq: number | null, reason: DeadLetterReason, detail: string, raw: Uint8Array | string) => {
      this.st.deadInsert.run(subject, clinicId, seq, reason, detail, Buffer.from(typeof raw === 'string' ? Buffer.from(raw) : raw), now);
      deadLetters.push({ reason, clinic: subjectClinicLabel(subject) });
    };
    const applyRecord = (r: RecordItem) => {
      this.st.logInsert.run(r.clinicId, r.seq, r.recordId, r.type, r.version, r.hash, 'applied', now);
      const payloadJson = JSON.stringify(r.payload);
      const ins = this.st.recordInsert.run(r.type, r.recordId, r.version, r.clinicId, r.seq, r.hlc, payloadJson, r.createdAt, now);
      if (ins.changes > 0) this.projector.record(r);
      else {
        const prev = this.st.recordGet.get(r.type, r.recordId, r.version, r.clinicId);
        if (prev && prev.payload !== payloadJson) {
          dead(`clinic.${r.clinicId}.rec.${r.type}`, r.clinicId, r.seq, 'seq_collision', `record ${r.type}/${r.recordId} version ${r.version} already applied with different content`, payloadJson);
        }
      }
      if (r.type === 'resident') {
        conflicts += this.applyResident(r, payloadJson, now);
        this.projector.resident((r.payload as { residentId: string }).residentId);
      }
      applied.push({ clinicId: r.clinicId, type: r.type, createdAt: r.createdAt });
    };
    // `lostAtSource`: an edge's re-seed entry for a seq whose record it no longer holds: where central
    // already holds (or holds back) that seq, what it has stands and the entry is a duplicate.
    const consume = (clinicId: string, seq: number, hash: string, record: RecordItem | null, lostAtSource = false): IngestOutcome => {
      const w = getWm(clinicId);
      if (seq <= w.seq) {
        const prev = this.st.logGet.get(clinicId, seq);
        if (prev && prev.hash !== hash && !lostAtSource) {
          dead(`clinic.${clinicId}`, clinicId, seq, 'seq_collision', `seq ${seq} was already applied with different content`, record ? JSON.stringify(record) : '');
          return 'dead';
        }
        return 'duplicate';
      }
      if (seq > w.seq + 1) {
        const prev = this.st.pendingGet.get(clinicId, seq);
        if (prev) {
          if (prev.hash === hash || lostAtSource) return 'duplicate';
          dead(`clinic.${clinicId}`, clinicId, seq, 'seq_collision', `seq ${seq} is already held with different content`, record ? JSON.stringify(record) : '');
          return 'dead';
        }
        this.st.pendingInsert.run(clinicId, seq, hash, record ? 'record' : 'dead', record ? JSON.stringify(record) : null, now);
        w.held = true;
        touched.add(clinicId);
        return 'held';
      }
      // seq == watermark + 1: apply, then everything held that is now contiguous.
      if (record) applyRecord(record);
      else this.st.logInsert.run(clinicId, seq, null, null, null, hash, 'dead', now);
      w.seq = seq;
      w.applied += record ? 1 : 0;
      touched.add(clinicId);
      while (w.held) {
        const next = this.st.pendingGet.get(clinicId, w.seq + 1);
        if (!next) break;
        this.st.pendingDelete.run(clinicId, w.seq + 1);
        if (next.kind === 'record' && next.envelope) {
          applyRecord(JSON.parse(next.envelope) as RecordItem);
          w.applied++;
        } else this.st.logInsert.run(clinicId, w.seq + 1, null, null, null, next.hash, 'dead', now);
        w.seq++;
      }
      return 'applied';
    };

    for (const item of batch) {
      if (item.kind === 'dead') {
        // An authentic but unusable record still takes its place in the clinic's sequence,
        // so one bad record does not stall the clinic; it stays in dead_letters for review.
        const seqBound = item.clinicId && item.seq && item.reason !== 'clinic_mismatch' && item.reason !== 'seq_collision';
        const o = seqBound ? consume(item.clinicId!, item.seq!, `dead:${item.reason}:${item.seq}`, null, item.reason === 'lost_at_source') : 'dead';
        if (o === 'duplicate') { outcomes.push('duplicate'); continue; }
        dead(item.subject, item.clinicId ?? null, item.seq ?? null, item.reason, item.detail, item.raw);
        outcomes.push('dead');
        continue;
      }
      const e = item.envelope;
      outcomes.push(consume(e.clinicId, e.seq, item.hash, {
        clinicId: e.clinicId, seq: e.seq, recordId: e.recordId, type: item.type, version: e.version, hlc: e.hlc, createdAt: e.createdAt, payload: item.payload, hash: item.hash,
      }));
    }
    this.projector.flush();
    for (const [clinicId, w] of wm) if (touched.has(clinicId)) this.st.upsertState.run(clinicId, w.seq, w.applied, now);
    const changed = [...touched].map((c) => this.watermarkSync(c));
    return { outcomes, changed, applied, conflicts, deadLetters };
  }

  /** Last writer wins by HLC; the value that loses is kept in resident_conflicts. Returns conflicts logged. */
  private applyResident(r: RecordItem, payloadJson: string, now: string): number {
    const id = (r.payload as { residentId: string }).residentId;
    const cur = this.st.residentGet.get(id);
    if (!cur) {
      this.st.residentUpsert.run(id, payloadJson, r.hlc, r.clinicId, now);
      return 0;
    }
    const curVal = JSON.parse(cur.payload) as Record<string, unknown>;
    const inVal = r.payload as Record<string, unknown>;
    const fields = [...new Set([...Object.keys(curVal), ...Object.keys(inVal)])].filter((k) => JSON.stringify(curVal[k]) !== JSON.stringify(inVal[k]));
    const incomingWins = compareHlc(r.hlc, cur.hlc) > 0;
    if (incomingWins) this.st.residentUpsert.run(id, payloadJson, r.hlc, r.clinicId, now);
    // A newer version from the same writer is an ordinary update, not a conflict.
    const concurrent = !incomingWins || cur.clinic_id !== r.clinicId;
    if (fields.length === 0 || !concurrent) return 0;
    const [winner, loser] = incomingWins
      ? [{ hlc: r.hlc, clinic: r.clinicId, v: inVal }, { hlc: cur.hlc, clinic: cur.clinic_id, v: curVal }]
      : [{ hlc: cur.hlc, clinic: cur.clinic_id, v: curVal }, { hlc: r.hlc, clinic: r.clinicId, v: inVal }];
    const pickF = (v: Record<string, unknown>) => Object.fromEntries(fields.map((f) => [f, v[f] ?? null]));
    this.st.conflictInsert.run(id, winner.hlc, winner.clinic, loser.hlc, loser.clinic, JSON.stringify(fields), JSON.stringify(pickF(loser.v)), JSON.stringify(pickF(winner.v)), now);
    return 1;
  }

  private watermarkSync(clinicId: string): Watermark {
    const appliedSeq = this.st.state.get(clinicId)?.applied_seq ?? 0;
    const pendingAbove = this.st.pendingStats.get(clinicId)?.n ?? 0;
    return { clinicId, appliedSeq, pendingAbove, firstMissing: pendingAbove > 0 ? appliedSeq + 1 : null };
  }

  async watermark(clinicId: string): Promise<Watermark> {
    // A receipt may be built from it: only what is flushed (see ingestPipelined).
    if (this.walSync.busy) await this.walSync.idle();
    return this.watermarkSync(clinicId);
  }

  async watermarks(): Promise<Watermark[]> {
    if (this.walSync.busy) await this.walSync.idle();
    const rows = this.db.prepare<[], { clinic_id: string }>('SELECT clinic_id FROM clinic_state ORDER BY clinic_id').all();
    return rows.map((r) => this.watermarkSync(r.clinic_id));
  }

  async recordHeartbeat(hb: Heartbeat): Promise<void> {
    // Every write on this connection takes the gate (write-gate.ts): a statement begun while the
    // analytics fact worker holds SQLite's write lock would sleep in the busy handler on this thread.
    withWriteGate(() => this.db.prepare(`INSERT INTO fleet (clinic_id, last_heartbeat_at, agent_version, edge_last_seq, edge_receipt_seq, outbox_depth, oldest_pending_age, relay_state, dictionaries)
      VALUES (@clinicId, @at, @agentVersion, @lastSeq, @receiptSeq, @outboxDepth, @oldestPendingAgeSec, @relayState, @dicts)
      ON CONFLICT (clinic_id) DO UPDATE SET last_heartbeat_at = excluded.last_heartbeat_at, agent_version = excluded.agent_version, edge_last_seq = excluded.edge_last_seq,
        edge_receipt_seq = excluded.edge_receipt_seq, outbox_depth = excluded.outbox_depth, oldest_pending_age = excluded.oldest_pending_age,
        relay_state = excluded.relay_state, dictionaries = excluded.dictionaries`).run({ ...hb, at: new Date().toISOString(), dicts: JSON.stringify(hb.dictionaries) }));
  }

  async fleet(): Promise<FleetRow[]> {
    type Row = { clinic_id: string; last_heartbeat_at: string | null; agent_version: string | null; edge_last_seq: number | null; edge_receipt_seq: number | null; outbox_depth: number | null; oldest_pending_age: number | null; relay_state: string | null; dictionaries: string | null; applied_seq: number | null; records_applied: number | null };
    const rows = this.db.prepare<[], Row>(`
      SELECT c.clinic_id, f.last_heartbeat_at, f.agent_version, f.edge_last_seq, f.edge_receipt_seq, f.outbox_depth, f.oldest_pending_age, f.relay_state, f.dictionaries, s.applied_seq, s.records_applied
      FROM (SELECT clinic_id FROM fleet UNION SELECT clinic_id FROM clinic_state) c
      LEFT JOIN fleet f ON f.clinic_id = c.clinic_id LEFT JOIN clinic_state s ON s.clinic_id = c.clinic_id ORDER BY c.clinic_id`).all();
    const now = Date.now();
    return rows.map((r) => {
      const w = this.watermarkSync(r.clinic_id);
      const hbAge = r.last_heartbeat_at ? (now - Date.parse(r.last_heartbeat_at)) / 1000 : 0;
      const pendingAtEdge = (r.edge_last_seq ?? 0) > w.appliedSeq;
      return {
        clinicId: r.clinic_id,
        lastHeartbeatAt: r.last_heartbeat_at,
        agentVersion: r.agent_version,
        edgeLastSeq: r.edge_last_seq ?? 0,
        edgeReceiptSeq: r.edge_receipt_seq ?? 0,
        outboxDepth: r.outbox_depth ?? 0,
        oldestPendingAgeSec: r.oldest_pending_age ?? 0,
        relayState: r.relay_state,
        dictionaries: r.dictionaries ? (JSON.parse(r.dictionaries) as Record<string, number>) : {},
        appliedSeq: w.appliedSeq,
        pendingAbove: w.pendingAbove,
        firstMissing: w.firstMissing,
        // The edge's view ages with its heartbeat: a silent edge with pending data falls further behind.
        lagSeconds: pendingAtEdge ? Math.round(((r.oldest_pending_age ?? 0) + hbAge) * 10) / 10 : 0,
        recordsApplied: r.records_applied ?? 0,
      };
    });
  }

  async saveDictionary(name: DictionaryName, items: DictionaryItem[]): Promise<DictionarySnapshot> {
    return withWriteGate(() => this.db.transaction(() => {
      const cur = this.db.prepare<[string], { v: number | null }>('SELECT max(version) AS v FROM dictionaries WHERE name = ?').get(name)?.v ?? 0;
      const snap: DictionarySnapshot = { name, version: cur + 1, publishedAt: new Date().toISOString(), items };
      this.db.prepare('INSERT INTO dictionaries (name, version, published_at, items) VALUES (?, ?, ?, ?)').run(name, snap.version, snap.publishedAt, JSON.stringify(items));
      return snap;
    }).immediate());
  }

  async importDictionary(snap: DictionarySnapshot): Promise<boolean> {
    return withWriteGate(() => this.db.prepare('INSERT INTO dictionaries (name, version, published_at, items) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING')
      .run(snap.name, snap.version, snap.publishedAt, JSON.stringify(snap.items)).changes > 0);
  }

  async dictionaryVersions(): Promise<Record<string, number>> {
    const rows = this.db.prepare<[], { name: string; v: number }>('SELECT name, max(version) AS v FROM dictionaries GROUP BY name').all();
    return Object.fromEntries(rows.map((r) => [r.name, r.v]));
  }

  async latestDictionaries(): Promise<DictionarySnapshot[]> {
    const rows = this.db.prepare<[], { name: DictionaryName; version: number; published_at: string; items: string }>(
      'SELECT d.name, d.version, d.published_at, d.items FROM dictionaries d JOIN (SELECT name, max(version) AS v FROM dictionaries GROUP BY name) m ON m.name = d.name AND m.v = d.version ORDER BY d.name').all();
    return rows.map((r) => ({ name: r.name, version: r.version, publishedAt: r.published_at, items: JSON.parse(r.items) as DictionaryItem[] }));
  }

  async deadLetters(limit: number, filter: { clinicId?: string; reason?: DeadLetterReason } = {}): Promise<DeadLetter[]> {
    const rows = this.db.prepare<[{ clinic: string | null; reason: string | null; limit: number }], { id: number; subject: string; clinic_id: string | null; seq: number | null; reason: DeadLetterReason; detail: string; raw: Buffer; received_at: string }>(
      'SELECT * FROM dead_letters WHERE (@clinic IS NULL OR clinic_id = @clinic) AND (@reason IS NULL OR reason = @reason) ORDER BY id DESC LIMIT @limit').all({ clinic: filter.clinicId ?? null, reason: filter.reason ?? null, limit });
    return rows.map((r) => ({ id: r.id, subject: r.subject, clinicId: r.clinic_id, seq: r.seq, reason: r.reason, detail: r.detail, receivedAt: r.received_at, rawPreview: r.raw.subarray(0, 200).toString('utf8') }));
  }

  async refusals(clinicId: string): Promise<Refusals> {
    const n = this.db.prepare<[string], { n: number }>("SELECT count(*) AS n FROM dead_letters WHERE clinic_id = ? AND reason <> 'lost_at_source'").get(clinicId)!.n;
    const last = n === 0 ? undefined : this.db.prepare<[string], { seq: number | null; reason: string; detail: string; received_at: string }>(
      "SELECT seq, reason, detail, received_at FROM dead_letters WHERE clinic_id = ? AND reason <> 'lost_at_source' ORDER BY id DESC LIMIT 1").get(clinicId);
    return { count: n, last: last ? { seq: last.seq, reason: last.reason, detail: last.detail.slice(0, 300), at: last.received_at } : null };
  }

  async conflicts(limit: number): Promise<ResidentConflict[]> {
    const rows = this.db.prepare<[number], { id: number; resident_id: string; winner_hlc: string; winner_clinic: string; loser_hlc: string; loser_clinic: string; fields: string; loser_values: string; winner_values: string; at: string }>(
      'SELECT * FROM resident_conflicts ORDER BY id DESC LIMIT ?').all(limit);
    return rows.map((r) => ({
      id: r.id, residentId: r.resident_id, winnerHlc: r.winner_hlc, winnerClinic: r.winner_clinic, loserHlc: r.loser_hlc, loserClinic: r.loser_clinic,
      fields: JSON.parse(r.fields) as string[], loserValues: JSON.parse(r.loser_values) as Record<string, unknown>, winnerValues: JSON.parse(r.winner_values) as Record<string, unknown>, at: r.at,
    }));
  }

  async countRecords(clinicId?: string): Promise<number> {
    if (clinicId) return this.db.prepare<[string], { n: number }>('SELECT count(*) AS n FROM records WHERE clinic_id = ?').get(clinicId)!.n;
    return this.db.prepare<[], { n: number }>('SELECT count(*) AS n FROM records').get()!.n;
  }

  async appliedSeqs(clinicId: string): Promise<number[]> {
    return this.db.prepare<[string], { seq: number }>('SELECT seq FROM ingest_log WHERE clinic_id = ? ORDER BY rowid').all(clinicId).map((r) => r.seq);
  }

  async audit(e: AuditEntry): Promise<void> {
    // The insert runs synchronously inside this call, as before the interface had audit().
    withWriteGate(() => this.db.prepare('INSERT INTO audit_log (at, actor, action, target, source_ip, outcome) VALUES (?, ?, ?, ?, ?, ?)').run(new Date().toISOString(), e.actor, e.action, e.target, e.sourceIp, e.outcome));
  }

  async close(): Promise<void> {
    await this.walSync.idle();
    this.walFd.close();
    if (this.db.open) this.db.close();
  }
}
