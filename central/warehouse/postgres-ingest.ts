/**
 * The ingest rules of the PostgreSQL warehouse, run inside the batch's transaction. Same rules
 * as `SqliteWarehouse` (see central/README.md): apply at watermark+1 and drain the held records,
 * hold above a gap, duplicate-or-collision at or below the watermark, dead items consume their seq.
 */
import type { QueryResult, QueryResultRow } from 'pg';
import { compareHlc, subjectClinicLabel, type DeadLetterReason } from '../../contracts/index.ts';
import type { IngestItem, IngestOutcome, IngestResult, Watermark, RecordItem } from './types.ts';
import { projectRecordsPg, projectResidentsPg } from './projection-writers.ts';
import { pgArray } from './postgres-arrays.ts';

/** A query on the transaction's client. */
export type Q = <R extends QueryResultRow = QueryResultRow>(sql: string, params?: unknown[]) => Promise<QueryResult<R>>;


interface ClinicWm {
  seq: number;
  applied: number;
  /** Seqs held in `pending` for this clinic (loaded under the row lock, kept in step). */
  pending: Set<number>;
}

/** Text PostgreSQL can store: U+0000 replaced by U+FFFD. */
const pgText = (s: string) => (s.includes('\u0000') ? s.replace(/\u0000/g, '\uFFFD') : s);

/** Dead items that still take their place in the clinic's sequence. */
function seqBound(item: Extract<IngestItem, { kind: 'dead' }>): boolean {
  return !!(item.clinicId && item.seq && item.reason !== 'clinic_mismatch' && item.reason !== 'seq_collision');
}

export async function ingestTx(q: Q, batch: IngestItem[]): Promise<IngestResult> {
  const now = new Date().toISOString();
  const outcomes: IngestOutcome[] = [];
  const applied: IngestResult['applied'] = [];
  const deadLetters: IngestResult['deadLetters'] = [];
  const touched = new Set<string>();
  let conflicts = 0;

  // Lock every clinic of the batch up front, in one order for every instance (no deadlock).
  const clinics = new Set<string>();
  for (const it of batch) {
    if (it.kind === 'record') clinics.add(it.envelope.clinicId);
    else if (seqBound(it)) clinics.add(it.clinicId!);
  }
  const wm = new Map<string, ClinicWm>();
  const sorted = [...clinics].sort();
  if (sorted.length) {
    // Three statements per batch whatever the number of clinics: create missing rows, lock all
    // rows in sorted order (the lock is taken row by row in ORDER BY order), load held seqs.
    await q('INSERT INTO clinic_state (clinic_id, applied_seq, records_applied, updated_at) SELECT c, 0, 0, $2 FROM unnest($1::text[]) WITH ORDINALITY AS x(c, o) ORDER BY o ON CONFLICT (clinic_id) DO NOTHING', [sorted, now]);
    const s = await q<{ clinic_id: string; applied_seq: number }>('SELECT clinic_id, applied_seq FROM clinic_state WHERE clinic_id = ANY($1::text[]) ORDER BY clinic_id FOR UPDATE', [sorted]);
    for (const r of s.rows) wm.set(r.clinic_id, { seq: r.applied_seq, applied: 0, pending: new Set() });
    const p = await q<{ clinic_id: string; seq: number }>('SELECT clinic_id, seq FROM pending WHERE clinic_id = ANY($1::text[])', [sorted]);
    for (const r of p.rows) wm.get(r.clinic_id)!.pending.add(r.seq);
  }

  const dead = async (subject: string, clinicId: string | null, seq: number | null, reason: DeadLetterReason, detail: string, raw: Uint8Array | string) => {
    // PostgreSQL text cannot hold U+0000, which a sender's bytes bring into the detail (a JSON
    // parser's message quotes its input) and may bring into a subject: shown as U+FFFD instead,
    // or the letter could not be written and the consumer would retry its batch for ever.
    await q('INSERT INTO dead_letters (subject, clinic_id, seq, reason, detail, raw, received_at) VALUES ($1, $2, $3, $4, $5, $6, $7)',
      [pgText(subject), clinicId === null ? null : pgText(clinicId), seq, reason, pgText(detail), typeof raw === 'string' ? Buffer.from(raw) : Buffer.from(raw), now]);
    deadLetters.push({ reason, clinic: subjectClinicLabel(subject) });
  };
  // ingest_log and records rows are written in bulk at the end of the batch (two statements
  // instead of two round trips per record); batchLog answers duplicate checks meanwhile.
  const logRows: { clinicId: string; seq: number; r: RecordItem | null; hash: string }[] = [];
  const recRows: RecordItem[] = [];
  const batchLog = new Map<string, string>();
  const residentsTouched = new Set<string>();
  const log = (clinicId: string, seq: number, hash: string, r: RecordItem | null) => {
    logRows.push({ clinicId, seq, r, hash });
    batchLog.set(`${clinicId}\u0000${seq}`, hash);
  };
  const logDead = async (clinicId: string, seq: number, hash: string) => log(clinicId, seq, hash, null);

  const applyRecord = async (r: RecordItem) => {
    log(r.clinicId, r.seq, r.hash, r);
    recRows.push(r);
    if (r.type === 'resident') {
      conflicts += await applyResident(q, r, JSON.stringify(r.payload), now);
      residentsTouched.add((r.payload as { residentId: string }).residentId);
    }
    applied.push({ clinicId: r.clinicId, type: r.type, createdAt: r.createdAt });
  };

  // `lostAtSource`: an edge's re-seed entry for a seq whose record it no longer holds: where central
  // already holds (or holds back) that seq, what it has stands and the entry is a duplicate.
  const consume = async (clinicId: string, seq: number, hash: string, record: RecordItem | null, lostAtSource = false): Promise<IngestOutcome> => {
    const w = wm.get(clinicId)!;
    // The whole record as JSON, only for the (rare) held and dead paths.
    const raw = () => (record ? JSON.stringify(record) : '');
    if (seq <= w.seq) {
      const prevHash = batchLog.get(`${clinicId}\u0000${seq}`)
        ?? (await q<{ hash: string }>('SELECT hash FROM ingest_log WHERE clinic_id = $1 AND seq = $2', [clinicId, seq])).rows[0]?.hash;
      if (prevHash !== undefined && prevHash !== hash && !lostAtSource) {
        await dead(`clinic.${clinicId}`, clinicId, seq, 'seq_collision', `seq ${seq} was already applied with different content`, raw());
        return 'dead';
      }
      return 'duplicate';
    }
    if (seq > w.seq + 1) {
      if (w.pending.has(seq)) {
        const prev = await q<{ hash: string }>('SELECT hash FROM pending WHERE clinic_id = $1 AND seq = $2', [clinicId, seq]);
        if (prev.rows[0]?.hash === hash || lostAtSource) return 'duplicate';
        await dead(`clinic.${clinicId}`, clinicId, seq, 'seq_collision', `seq ${seq} is already held with different content`, raw());
        return 'dead';
      }
      await q('INSERT INTO pending (clinic_id, seq, hash, kind, envelope, received_at) VALUES ($1, $2, $3, $4, $5::jsonb, $6)',
        [clinicId, seq, hash, record ? 'record' : 'dead', record ? raw() : null, now]);
      w.pending.add(seq);
      touched.add(clinicId);
      return 'held';
    }
    // seq == watermark + 1: apply, then everything held that is now contiguous.
    if (record) await applyRecord(record);
    else await logDead(clinicId, seq, hash);
    w.seq = seq;
    w.applied += record ? 1 : 0;
    touched.add(clinicId);
    while (w.pending.has(w.seq + 1)) {
      const next = (await q<{ hash: string; kind: 'record' | 'dead'; envelope: RecordItem | null }>(
        'DELETE FROM pending WHERE clinic_id = $1 AND seq = $2 RETURNING hash, kind, envelope', [clinicId, w.seq + 1])).rows[0]!;
      w.pending.delete(w.seq + 1);
      if (next.kind === 'record' && next.envelope) {
        await applyRecord(next.envelope);
        w.applied++;
      } else await logDead(clinicId, w.seq + 1, next.hash);
      w.seq++;
    }
    return 'applied';
  };

  for (const item of batch) {
    if (item.kind === 'dead') {
      // An authentic but unusable record still takes its place in the clinic's sequence.
      const o = seqBound(item) ? await consume(item.clinicId!, item.seq!, `dead:${item.reason}:${item.seq}`, null, item.reason === 'lost_at_source') : 'dead';
      if (o === 'duplicate') { outcomes.push('duplicate'); continue; }
      await dead(item.subject, item.clinicId ?? null, item.seq ?? null, item.reason, item.detail, item.raw);
      outcomes.push('dead');
      continue;
    }
    const e = item.envelope;
    outcomes.push(await consume(e.clinicId, e.seq, item.hash, {
      clinicId: e.clinicId, seq: e.seq, recordId: e.recordId, type: item.type, version: e.version, hlc: e.hlc, createdAt: e.createdAt, payload: item.payload, hash: item.hash,
    }));
  }
  const changed: Watermark[] = [];
  const done = [...touched].sort();
  for (const c of done) {
    const w = wm.get(c)!;
    changed.push({ clinicId: c, appliedSeq: w.seq, pendingAbove: w.pending.size, firstMissing: w.pending.size > 0 ? w.seq + 1 : null });
  }
  const wmParams = [pgArray(done), pgArray(done.map((c) => wm.get(c)!.seq)), pgArray(done.map((c) => wm.get(c)!.applied))];
  // The watermarks are final once every item is consumed: written by the records statement when
  // there is one (nothing after it reads clinic_state), else on their own.
  const wmWritten = await flush(q, logRows, recRows, now, dead, done.length ? wmParams : null);
  await projectResidentsPg(q, [...residentsTouched].sort());
  if (done.length && !wmWritten) await q(`UPDATE clinic_state s SET ${WM_SET} FROM ${wmFrom(1)} WHERE s.clinic_id = w.c`, [...wmParams, now]);
  return { outcomes, changed, applied, conflicts, deadLetters };
}

/** The watermark update of `clinic_state`: `updated_at` is the last parameter. */
const WM_SET = 'applied_seq = w.a, records_applied = s.records_applied + w.n, updated_at = $4::timestamptz';
const wmFrom = (first: number) => `unnest($${first}::text[], $${first + 1}::bigint[], $${first + 2}::bigint[]) AS w(c, a, n)`;

/**
 * Bulk-write the batch's ingest_log rows (in apply order) and records; report record-key collisions.
 * With records, the ingest_log insert and the watermark update (`wm`: clinics, seqs, applied counts)
 * ride in the records statement as data-modifying CTEs: one round trip instead of three (a batch's
 * fixed cost is ~0.4 ms of CPU per statement, client and server, which counts at the spine's batch
 * sizes of a few hundred). Returns whether the watermarks were written.
 */
async function flush(q: Q, logRows: { clinicId: string; seq: number; r: RecordItem | null; hash: string }[], recRows: RecordItem[], now: string,
  dead: (subject: string, clinicId: string | null, seq: number | null, reason: DeadLetterReason, detail: string, raw: string) => Promise<void>,
  wm: string[] | null): Promise<boolean> {
  // One array literal per column (postgres-arrays.ts): cheaper to parse server-side than one jsonb
  // document of all rows, whose keys PostgreSQL sorts and looks up again row by row. The payloads
  // go as one JSON array (one JSON.stringify of the batch's payloads costs the client a quarter of
  // one per payload joined), zipped with the columns by ROWS FROM.
  const logSql = (first: number, nowAt: number) => `INSERT INTO ingest_log (clinic_id, seq, record_id, type, version, hash, status, applied_at)
      SELECT c, s, r, t, v, h, st, $${nowAt}::timestamptz FROM unnest($${first}::text[], $${first + 1}::bigint[], $${first + 2}::text[], $${first + 3}::text[], $${first + 4}::int[], $${first + 5}::text[], $${first + 6}::text[])
        WITH ORDINALITY AS x(c, s, r, t, v, h, st, o) ORDER BY o`;
  const logParams = () => [pgArray(logRows.map((l) => l.clinicId)), pgArray(logRows.map((l) => l.seq)), pgArray(logRows.map((l) => l.r?.recordId)), pgArray(logRows.map((l) => l.r?.type)),
    pgArray(logRows.map((l) => l.r?.version)), pgArray(logRows.map((l) => l.hash)), pgArray(logRows.map((l) => (l.r ? 'applied' : 'dead')))];
  if (!recRows.length) {
    if (logRows.length) await q(logSql(2, 1), [now, ...logParams()]);
    return false;
  }
  // Every applied record is logged and touches its clinic, so here ingest_log rows and watermarks
  // exist (`wm` is null only without records). Parameters: $1-$3 watermarks, $4 now, $5-$11 ingest_log, $12-$19 records, $20 count.
  // ON CONFLICT DO NOTHING also skips a second row of the same key within this statement. One
  // result row: how many were inserted, and only in the rare cases the keys that matter (rows not
  // inserted when some were not; inserted rows of which `records` already holds a newer version).
  const ins = await q<{ n: number; inserted: [string, number][] | null; stale: [string, number][] | null }>(`WITH wm AS (
    UPDATE clinic_state s SET ${WM_SET} FROM ${wmFrom(1)} WHERE s.clinic_id = w.c
  ), log AS (
    ${logSql(5, 4)}
  ), ins AS (
    INSERT INTO records (type, record_id, version, clinic_id, seq, hlc, payload, created_at, applied_at)
    SELECT t, r, v, c, s, h, p, ca, $4::timestamptz
      FROM ROWS FROM (unnest($12::text[]), unnest($13::text[]), unnest($14::int[]), unnest($15::text[]), unnest($16::bigint[]), unnest($17::text[]), jsonb_array_elements($18::jsonb), unnest($19::timestamptz[]))
        WITH ORDINALITY AS x(t, r, v, c, s, h, p, ca, o) ORDER BY o
    ON CONFLICT DO NOTHING
    RETURNING clinic_id, seq, EXISTS (SELECT 1 FROM records y WHERE y.type = records.type AND y.record_id = records.record_id AND y.clinic_id = records.clinic_id AND y.version > records.version) AS newer)
    SELECT count(*)::int AS n, CASE WHEN count(*) < $20::int THEN json_agg(json_build_array(clinic_id, seq)) END AS inserted,
      json_agg(json_build_array(clinic_id, seq)) FILTER (WHERE newer) AS stale FROM ins`,
  [...(wm ?? ['{}', '{}', '{}']), now, ...logParams(),
    pgArray(recRows.map((r) => r.type)), pgArray(recRows.map((r) => r.recordId)), pgArray(recRows.map((r) => r.version)), pgArray(recRows.map((r) => r.clinicId)),
    pgArray(recRows.map((r) => r.seq)), pgArray(recRows.map((r) => r.hlc)), JSON.stringify(recRows.map((r) => r.payload)), pgArray(recRows.map((r) => r.createdAt)), recRows.length]);
  const res = ins.rows[0]!;
  const all = res.n === recRows.length;
  const inserted = new Set((res.inserted ?? []).map(([c, s]) => `${c}\u0000${s}`));
  const wasInserted = (r: RecordItem) => all || inserted.has(`${r.clinicId}\u0000${r.seq}`);
  // Project exactly the rows this batch inserted (a same-content duplicate or a collision adds none),
  // except a version older than one already in `records` (checked once per record, by the insert).
  const stale = new Set((res.stale ?? []).map(([c, s]) => `${c}\u0000${s}`));
  await projectRecordsPg(q, recRows.filter((r) => wasInserted(r) && (!stale.size || !stale.has(`${r.clinicId}\u0000${r.seq}`))));
  if (all) return true;
  for (const r of recRows) {
    if (wasInserted(r)) continue;
    const json = JSON.stringify(r.payload);
    const prev = await q<{ same: boolean }>('SELECT payload = $5::jsonb AS same FROM records WHERE type = $1 AND record_id = $2 AND version = $3 AND clinic_id = $4',
      [r.type, r.recordId, r.version, r.clinicId, json]);
    if (prev.rows[0] && !prev.rows[0].same) {
      await dead(`clinic.${r.clinicId}.rec.${r.type}`, r.clinicId, r.seq, 'seq_collision', `record ${r.type}/${r.recordId} version ${r.version} already applied with different content`, json);
    }
  }
  return true;
}

/** Last writer wins by HLC; the losing value goes to resident_conflicts. Returns conflicts logged. */
async function applyResident(q: Q, r: RecordItem, payloadJson: string, now: string): Promise<number> {
  const id = (r.payload as { residentId: string }).residentId;
  const upsert = () => q(`INSERT INTO residents (resident_id, payload, hlc, clinic_id, updated_at) VALUES ($1, $2::jsonb, $3, $4, $5)
    ON CONFLICT (resident_id) DO UPDATE SET payload = excluded.payload, hlc = excluded.hlc, clinic_id = excluded.clinic_id, updated_at = excluded.updated_at`,
  [id, payloadJson, r.hlc, r.clinicId, now]);
  type Row = { payload: Record<string, unknown>; hlc: string; clinic_id: string };
  // Lock the resident: another instance applying another clinic's edit of the same person waits.
  let cur = (await q<Row>('SELECT payload, hlc, clinic_id FROM residents WHERE resident_id = $1 FOR UPDATE', [id])).rows[0];
  if (!cur) {
    const ins = await q(`INSERT INTO residents (resident_id, payload, hlc, clinic_id, updated_at) VALUES ($1, $2::jsonb, $3, $4, $5) ON CONFLICT (resident_id) DO NOTHING`,
      [id, payloadJson, r.hlc, r.clinicId, now]);
    if (ins.rowCount === 1) return 0;
    cur = (await q<Row>('SELECT payload, hlc, clinic_id FROM residents WHERE resident_id = $1 FOR UPDATE', [id])).rows[0]!;
  }
  const curVal = cur.payload;
  const inVal = r.payload as Record<string, unknown>;
  const fields = [...new Set([...Object.keys(curVal), ...Object.keys(inVal)])].filter((k) => JSON.stringify(curVal[k]) !== JSON.stringify(inVal[k]));
  const incomingWins = compareHlc(r.hlc, cur.hlc) > 0;
  if (incomingWins) await upsert();
  // A newer version from the same writer is an ordinary update, not a conflict.
  const concurrent = !incomingWins || cur.clinic_id !== r.clinicId;
  if (fields.length === 0 || !concurrent) return 0;
  const [winner, loser] = incomingWins
    ? [{ hlc: r.hlc, clinic: r.clinicId, v: inVal }, { hlc: cur.hlc, clinic: cur.clinic_id, v: curVal }]
    : [{ hlc: cur.hlc, clinic: cur.clinic_id, v: curVal }, { hlc: r.hlc, clinic: r.clinicId, v: inVal }];
  const pickF = (v: Record<string, unknown>) => Object.fromEntries(fields.map((f) => [f, v[f] ?? null]));
  await q(`INSERT INTO resident_conflicts (resident_id, winner_hlc, winner_clinic, loser_hlc, loser_clinic, fields, loser_values, winner_values, at)
    VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7::jsonb, $8::jsonb, $9)`,
  [id, winner.hlc, winner.clinic, loser.hlc, loser.clinic, JSON.stringify(fields), JSON.stringify(pickF(loser.v)), JSON.stringify(pickF(winner.v)), now]);
  return 1;
}
