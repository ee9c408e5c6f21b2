/**
 * Reconciling a restored edge with central before it writes anything ([spine] + [backup]).
 *
 * A backup taken at seq B (next_seq = B+1) is restored after the edge went on to write
 * records B+1..N. Central may hold some of them (applied up to its watermark W, maybe more
 * held above a gap). If the restored edge simply resumed, its next writes would reuse seqs
 * B+1..W with different content: central dead-letters them as seq collisions. So, before
 * the restored edge starts:
 *   1. ask central (GET /backup/v1/owners/<clinic>/rejoin?after=B, clinic token) for its
 *      watermark W, the highest seq it knows M (applied or held), and the records B+1..W;
 *   2. put those records back into the edge's `records`/`residents` tables (newer versions
 *      only, never into the outbox: central already has them) - nothing written after the
 *      backup point that reached central is lost;
 *   3. fast-forward next_seq to max(B, M) + 1 and set the receipt to W (outbox rows <= W
 *      are dropped; rows W+1..B that central lacks stay and are re-sent with their original
 *      seq and content, which central applies once);
 *   4. record the rejoin in meta (`backup_rejoined_at`, `backup_rejoin_report`).
 * Records written after the backup point that had NOT reached central are lost (that is the
 * RPO); if central holds records above a gap that neither side can fill, the report says
 * so (`unfillableGap`) and central's watermark stays below it until an operator acts.
 */
import { openDb } from '../../contracts/runtime/index.ts';
import { isRecordType, recordTypes } from '../../contracts/records.ts';
import { rejoinResponseSchema, type HttpTarget, type RejoinResponse } from '../../contracts/backup/index.ts';

export interface RejoinReport {
  clinicId: string;
  backupLastSeq: number;
  backupReceiptSeq: number;
  centralAppliedSeq: number;
  centralMaxKnownSeq: number;
  recovered: number;
  nextSeq: number;
  resend: number;
  unfillableGap: { from: number; to: number } | null;
}

export type RejoinFetch = (after: number, limit: number) => Promise<RejoinResponse>;

export function rejoinFetchFor(remote: HttpTarget): RejoinFetch {
  return async (after, limit) => rejoinResponseSchema.parse(await remote.getJson(`/rejoin?after=${after}&limit=${limit}`, 'the rejoin state (central watermark and records since the backup)'));
}

export async function rejoinRestoredEdge(dbFile: string, clinicId: string, fetchRejoin: RejoinFetch): Promise<RejoinReport> {
  const db = openDb(dbFile);
  try {
    const meta = (k: string) => (db.prepare<[string], { value: string }>('SELECT value FROM meta WHERE key = ?').get(k)?.value ?? null);
    const owner = meta('clinic_id');
    if (owner !== clinicId) throw new Error(`${dbFile} belongs to clinic ${owner}, not ${clinicId}`);
    const backupLastSeq = Number(meta('next_seq') ?? '1') - 1;
    const backupReceiptSeq = Number(meta('receipt_seq') ?? '0');
    const apply = recordApplier(db);
    let after = backupLastSeq;
    let recovered = 0;
    let maxHlc = meta('last_hlc') ?? '';
    let last: RejoinResponse;
    for (;;) {
      last = await fetchRejoin(after, 1000);
      const page = last.records;
      const h = apply(page);
      if (h > maxHlc) maxHlc = h;
      recovered += page.length;
      if (page.length > 0) after = page[page.length - 1]!.seq;
      if (!last.more || page.length === 0) break;
    }
    const W = last.appliedSeq;
    const M = Math.max(last.maxKnownSeq, W);
    const nextSeq = Math.max(backupLastSeq, M) + 1;
    const unfillableGap = last.pendingAbove > 0 && last.firstMissing !== null && last.firstMissing > backupLastSeq ? { from: last.firstMissing, to: M } : null;
    const report: RejoinReport = {
      clinicId, backupLastSeq, backupReceiptSeq, centralAppliedSeq: W, centralMaxKnownSeq: M, recovered, nextSeq,
      resend: 0, unfillableGap,
    };
    const set = db.prepare<[string, string]>('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value');
    db.transaction(() => {
      set.run('next_seq', String(nextSeq));
      if (W > backupReceiptSeq) set.run('receipt_seq', String(W));
      db.prepare<[number]>('DELETE FROM outbox WHERE seq <= ?').run(W);
      if (maxHlc) set.run('last_hlc', maxHlc);
      report.resend = (db.prepare('SELECT count(*) AS n FROM outbox').get() as { n: number }).n;
      set.run('backup_rejoined_at', new Date().toISOString());
      set.run('backup_rejoin_report', JSON.stringify(report));
      db.prepare("DELETE FROM meta WHERE key = 'backup_rejoin_pending'").run();
    }).immediate();
    return report;
  } finally {
    db.close();
  }
}

/**
 * Put records central holds back into an edge database the way the edge itself wrote them:
 * `records` (a newer version only) and, for residents, `residents` (a newer HLC only); never
 * the outbox. Returns a function applying one page in one transaction (returns its max HLC).
 */
export function recordApplier(db: ReturnType<typeof openDb>): (page: RejoinResponse['records']) => string {
  const upsertRecord = db.prepare(`INSERT INTO records (record_id, type, version, hlc, payload, updated_at, seq) VALUES (@recordId, @type, @version, @hlc, @payload, @createdAt, @seq)
    ON CONFLICT (type, record_id) DO UPDATE SET version = excluded.version, hlc = excluded.hlc, payload = excluded.payload, updated_at = excluded.updated_at, seq = excluded.seq WHERE excluded.version > records.version`);
  const upsertResident = db.prepare(`INSERT INTO residents (resident_id, name, sex, birth_date, id_type, id_number, phone, hlc) VALUES (@residentId, @name, @sex, @birthDate, @idType, @idNumber, @phone, @hlc)
    ON CONFLICT (resident_id) DO UPDATE SET name = excluded.name, sex = excluded.sex, birth_date = excluded.birth_date, id_type = excluded.id_type, id_number = excluded.id_number, phone = excluded.phone, hlc = excluded.hlc WHERE excluded.hlc > residents.hlc`);
  return (page) => {
    let maxHlc = '';
    db.transaction(() => {
      for (const r of page) {
        upsertRecord.run({ recordId: r.recordId, type: r.type, version: r.version, hlc: r.hlc, payload: canonicalPayload(r.type, r.payload), createdAt: r.createdAt, seq: r.seq });
        if (r.type === 'resident') {
          const p = r.payload as Record<string, unknown>;
          upsertResident.run({ residentId: p.residentId, name: p.name, sex: p.sex, birthDate: p.birthDate, idType: p.idType, idNumber: p.idNumber, phone: p.phone ?? null, hlc: r.hlc });
        }
        if (r.hlc > maxHlc) maxHlc = r.hlc;
      }
    }).immediate();
    return maxHlc;
  };
}

/**
 * The payload as the edge's `emit` serialised it (its schema's key order): a re-seed that rebuilds
 * the record's envelope from this row (sync/reseed.ts) then publishes the same bytes as first
 * published, whatever key order central gave it back in (PostgreSQL's jsonb reorders keys).
 */
export function canonicalPayload(type: string, payload: unknown): string {
  if (isRecordType(type)) {
    const p = recordTypes[type].safeParse(payload);
    if (p.success) return JSON.stringify(p.data);
  }
  return JSON.stringify(payload);
}

/** Mark a restored database as not yet reconciled (the backup module reports it unhealthy). */
export function markRejoinPending(dbFile: string): void {
  const db = openDb(dbFile);
  try {
    db.prepare("INSERT INTO meta (key, value) VALUES ('backup_rejoin_pending', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value").run(new Date().toISOString());
  } finally {
    db.close();
  }
}
