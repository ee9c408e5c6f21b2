/**
 * Health-record migration between clinics (档案迁出/迁入), central's part: routing.
 *
 * The sending clinic writes a `record_transfer` (the package: resident, record, chronic
 * enrolments, follow-up history) when it migrates a record out; the receiving clinic answers
 * with a `record_transfer_decision` (accepted, or refused with a reason). Both arrive here as
 * ordinary records of their clinic. This module follows the warehouse like the EMPI does: a
 * cursor per clinic over `records`, up to the clinic's applied watermark (records below it
 * never appear later), and routes
 *   - an offer to the receiving clinic, `central.transfer.<toClinicId>`,
 *   - a decision back to the sending clinic, `central.transfer.<fromClinicId>`,
 * through an outbox table and the JetStream stream CARE_TRANSFERS (message id per transfer and
 * kind: re-publishing after a crash is de-duplicated, and the edges apply idempotently). An edge
 * that is offline reads its messages when it reconnects (its consumer resumes at the last stream
 * sequence it applied). Per-clinic NATS permissions (provisioning/nats.ts) let a clinic read its
 * own subject only.
 *
 * Checks: an offer must come from the clinic it names as sender, and go elsewhere; a decision
 * must come from the clinic the offer was addressed to, for a transfer still open. Anything else
 * is counted and logged, never routed. An offer to a clinic central does not know (it never had a
 * record or a heartbeat from it: a mistyped code, or an edge never connected) is refused by
 * central itself: a decision `refused` with the reason (decidedBy `central`) goes back to the
 * sender like a receiver's refusal, so its record is active again and its staff see why;
 * counted in `central_care_transfers_total{outcome="refused_unknown_clinic"}`.
 *
 *   const transfers = await mountCareTransfer({ wh, hub: () => nc, log });   // ... await transfers.stop();
 */
import { jetstream, jetstreamManager, DiscardPolicy, RetentionPolicy, StorageType } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { Counter, type Registry } from 'prom-client';
import { STREAMS, subjects } from '../../contracts/index.ts';
import { recordTransferDecisionSchema, recordTransferSchema, type CareTransferMessage } from '../../contracts/records-care.ts';
import type { Logger } from '../../contracts/runtime/index.ts';
import { all, run, sqlFor, type Op, type Sql } from '../empi/sql.ts';
import type { Warehouse } from '../warehouse/types.ts';

const NANOS = 1_000_000;
const LOCK = 'care_transfer';
const AUTO = { sqlite: 'INTEGER PRIMARY KEY AUTOINCREMENT', pg: 'BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY' };
const same = (s: string) => ({ sqlite: s, pg: s });

export const CARE_TRANSFER_SCHEMA = [
  same(`CREATE TABLE IF NOT EXISTS care_transfer (transfer_id TEXT PRIMARY KEY, from_clinic TEXT NOT NULL, to_clinic TEXT NOT NULL, health_record_no TEXT NOT NULL,
    status TEXT NOT NULL, reason TEXT, offered_at TEXT NOT NULL, decided_at TEXT)`),
  { sqlite: `CREATE TABLE IF NOT EXISTS care_transfer_outbox (id ${AUTO.sqlite}, clinic_id TEXT NOT NULL, msg_id TEXT NOT NULL UNIQUE, message TEXT NOT NULL, created_at TEXT NOT NULL, published_at TEXT)`,
    pg: `CREATE TABLE IF NOT EXISTS care_transfer_outbox (id ${AUTO.pg}, clinic_id TEXT NOT NULL, msg_id TEXT NOT NULL UNIQUE, message TEXT NOT NULL, created_at TEXT NOT NULL, published_at TEXT)` },
  same('CREATE INDEX IF NOT EXISTS care_transfer_outbox_unpublished ON care_transfer_outbox (id) WHERE published_at IS NULL'),
  same('CREATE TABLE IF NOT EXISTS care_transfer_cursor (clinic_id TEXT PRIMARY KEY, seq BIGINT NOT NULL)'),
];

export interface TransferRow { transferId: string; fromClinic: string; toClinic: string; healthRecordNo: string; status: 'offered' | 'accepted' | 'refused'; reason: string | null; offeredAt: string; decidedAt: string | null }
export interface RouteStats { scanned: number; offers: number; decisions: number; rejected: number; refusedUnknownClinic: number }

export const CARE_TRANSFER_METRIC = 'central_care_transfers_total';

/** The reason central gives the sender for an offer to a clinic it does not know. */
export const unknownClinicReason = (clinicId: string) => `中心不认识迁入机构 ${clinicId}（编码有误，或该机构尚未接入）：未迁出，档案仍在本机构`;

export async function ensureTransferStream(nc: NatsConnection): Promise<void> {
  const jsm = await jetstreamManager(nc);
  const cfg = {
    name: STREAMS.transfers, subjects: [subjects.allTransfers], storage: StorageType.File, retention: RetentionPolicy.Limits,
    // A receiving clinic may be offline for a while; a migration waits for it for a year.
    max_age: 365 * 24 * 3600 * 1000 * NANOS, duplicate_window: 10 * 60 * 1000 * NANOS, discard: DiscardPolicy.Old,
  };
  try {
    await jsm.streams.info(STREAMS.transfers);
    await jsm.streams.update(STREAMS.transfers, cfg);
  } catch {
    await jsm.streams.add(cfg);
  }
}

const now = () => new Date().toISOString();
const parse = (s: unknown): unknown => { try { return typeof s === 'string' ? JSON.parse(s) : s; } catch { return null; } };

export class CareTransferRouter {
  readonly sql: Sql;
  /** Offers/decisions refused by the checks (forged sender, unknown transfer, wrong clinic). */
  rejected = 0;
  private ready: Promise<void> | undefined;

  constructor(private readonly wh: Warehouse, private readonly log: Logger, private readonly batch = 500) {
    this.sql = sqlFor(wh);
  }

  init(): Promise<void> {
    this.ready ??= this.sql.ensure(CARE_TRANSFER_SCHEMA);
    return this.ready;
  }

  /** Scan every clinic's new records once; queue what is to be routed. */
  async runOnce(): Promise<RouteStats> {
    await this.init();
    const stats: RouteStats = { scanned: 0, offers: 0, decisions: 0, rejected: 0, refusedUnknownClinic: 0 };
    const clinics = await this.sql.tx(function* () { return yield* all<{ clinic_id: string; applied_seq: number }>('SELECT clinic_id, applied_seq FROM clinic_state ORDER BY clinic_id'); });
    for (const c of clinics) {
      for (;;) {
        const more = await this.sql.tx(() => this.scanClinic(c.clinic_id, Number(c.applied_seq), stats), LOCK);
        if (!more) break;
      }
    }
    this.rejected += stats.rejected;
    return stats;
  }

  private *scanClinic(clinic: string, watermark: number, stats: RouteStats): Generator<Op, boolean, unknown> {
    const cur = Number((yield* all<{ seq: number }>('SELECT seq FROM care_transfer_cursor WHERE clinic_id = ?', [clinic]))[0]?.seq ?? 0);
    if (cur >= watermark) return false;
    const rows = yield* all<{ seq: number; type: string; payload: unknown }>(
      `SELECT seq, type, payload FROM records WHERE clinic_id = ? AND seq > ? AND seq <= ? AND type IN ('record_transfer', 'record_transfer_decision') ORDER BY seq LIMIT ?`,
      [clinic, cur, watermark, this.batch]);
    for (const r of rows) {
      stats.scanned++;
      if (r.type === 'record_transfer') yield* this.offer(clinic, parse(r.payload), stats);
      else yield* this.decision(clinic, parse(r.payload), stats);
    }
    // Everything up to the watermark is scanned unless the batch was full.
    const full = rows.length === this.batch;
    const next = full ? Number(rows[rows.length - 1]!.seq) : watermark;
    yield* run('INSERT INTO care_transfer_cursor (clinic_id, seq) VALUES (?, ?) ON CONFLICT (clinic_id) DO UPDATE SET seq = excluded.seq', [clinic, next]);
    return full;
  }

  private *offer(clinic: string, payload: unknown, stats: RouteStats): Generator<Op, void, unknown> {
    const p = recordTransferSchema.safeParse(payload);
    if (!p.success || p.data.fromClinicId !== clinic || p.data.toClinicId === clinic) {
      stats.rejected++;
      this.log.warn({ clinic, transferId: p.success ? p.data.transferId : undefined, fromClinicId: p.success ? p.data.fromClinicId : undefined }, 'health-record transfer not routed: sender does not match its clinic or invalid');
      return;
    }
    const t = p.data;
    const known = yield* all<{ clinic_id: string }>('SELECT clinic_id FROM clinic_state WHERE clinic_id = ? UNION SELECT clinic_id FROM fleet WHERE clinic_id = ?', [t.toClinicId, t.toClinicId]);
    if (!known.length) {
      // Nobody would ever read central.transfer.<unknown>: refuse now, on the receiver's behalf.
      const reason = unknownClinicReason(t.toClinicId);
      const at = now();
      const refused = yield* run(`INSERT INTO care_transfer (transfer_id, from_clinic, to_clinic, health_record_no, status, reason, offered_at, decided_at) VALUES (?, ?, ?, ?, 'refused', ?, ?, ?) ON CONFLICT (transfer_id) DO NOTHING`,
        [t.transferId, clinic, t.toClinicId, t.healthRecordNo, reason, at, at]);
      if (!refused) return; // a later version of the same offer: already answered
      yield* this.enqueue(clinic, `decision-${t.transferId}`, {
        kind: 'decision',
        decision: { transferId: t.transferId, healthRecordNo: t.healthRecordNo, fromClinicId: clinic, toClinicId: t.toClinicId, decision: 'refused', reason, decidedAt: at, decidedBy: 'central' },
      });
      stats.refusedUnknownClinic++;
      this.log.warn({ clinic, transferId: t.transferId, toClinicId: t.toClinicId }, 'health-record transfer to an unknown clinic refused');
      return;
    }
    const inserted = yield* run(`INSERT INTO care_transfer (transfer_id, from_clinic, to_clinic, health_record_no, status, offered_at) VALUES (?, ?, ?, ?, 'offered', ?) ON CONFLICT (transfer_id) DO NOTHING`,
      [t.transferId, clinic, t.toClinicId, t.healthRecordNo, now()]);
    if (!inserted) return; // a later version of the same offer: already routed
    yield* this.enqueue(t.toClinicId, `offer-${t.transferId}`, { kind: 'offer', transfer: t });
    stats.offers++;
  }

  private *decision(clinic: string, payload: unknown, stats: RouteStats): Generator<Op, void, unknown> {
    const p = recordTransferDecisionSchema.safeParse(payload);
    const d = p.success ? p.data : null;
    const t = d ? (yield* all<{ from_clinic: string; to_clinic: string; status: string }>('SELECT from_clinic, to_clinic, status FROM care_transfer WHERE transfer_id = ?', [d.transferId]))[0] : undefined;
    if (!d || !t || t.to_clinic !== clinic || d.toClinicId !== clinic || d.fromClinicId !== t.from_clinic) {
      stats.rejected++;
      this.log.warn({ clinic, transferId: d?.transferId }, 'health-record transfer decision not routed: unknown transfer or not the receiving clinic');
      return;
    }
    if (t.status !== 'offered') return; // already decided and routed
    yield* run('UPDATE care_transfer SET status = ?, reason = ?, decided_at = ? WHERE transfer_id = ?', [d.decision, d.reason ?? null, d.decidedAt, d.transferId]);
    yield* this.enqueue(t.from_clinic, `decision-${d.transferId}`, { kind: 'decision', decision: d });
    stats.decisions++;
  }

  private *enqueue(clinic: string, msgId: string, m: CareTransferMessage): Generator<Op, void, unknown> {
    yield* run('INSERT INTO care_transfer_outbox (clinic_id, msg_id, message, created_at) VALUES (?, ?, ?, ?) ON CONFLICT (msg_id) DO NOTHING', [clinic, msgId, JSON.stringify(m), now()]);
  }

  unpublished(limit = 200): Promise<{ id: number; clinicId: string; msgId: string; message: string }[]> {
    return this.init().then(() => this.sql.tx(function* () {
      return (yield* all<{ id: number; clinic_id: string; msg_id: string; message: string }>('SELECT id, clinic_id, msg_id, message FROM care_transfer_outbox WHERE published_at IS NULL ORDER BY id LIMIT ?', [limit]))
        .map((r) => ({ id: Number(r.id), clinicId: r.clinic_id, msgId: r.msg_id, message: r.message }));
    }));
  }

  markPublished(ids: number[]): Promise<void> {
    if (!ids.length) return Promise.resolve();
    const at = now();
    return this.sql.tx(function* () { for (const id of ids) yield* run('UPDATE care_transfer_outbox SET published_at = ? WHERE id = ?', [at, id]); });
  }

  transfers(): Promise<TransferRow[]> {
    return this.init().then(() => this.sql.tx(function* () {
      return (yield* all<{ transfer_id: string; from_clinic: string; to_clinic: string; health_record_no: string; status: TransferRow['status']; reason: string | null; offered_at: string; decided_at: string | null }>('SELECT * FROM care_transfer ORDER BY offered_at'))
        .map((r) => ({ transferId: r.transfer_id, fromClinic: r.from_clinic, toClinic: r.to_clinic, healthRecordNo: r.health_record_no, status: r.status, reason: r.reason, offeredAt: r.offered_at, decidedAt: r.decided_at }));
    }));
  }
}

export interface CareTransferService {
  router: CareTransferRouter;
  /** Route new offers/decisions and publish pending messages now. */
  runNow(): Promise<RouteStats>;
  stop(): Promise<void>;
}

export async function mountCareTransfer(deps: { wh: Warehouse; hub: () => NatsConnection | null; log: Logger; intervalMs?: number; registry?: Registry }): Promise<CareTransferService> {
  const router = new CareTransferRouter(deps.wh, deps.log);
  const counted = new Counter({ name: CARE_TRANSFER_METRIC, help: 'Health-record transfer records routed by central, by outcome (offered, decided, refused_unknown_clinic, rejected)', labelNames: ['outcome'], registers: deps.registry ? [deps.registry] : [] });
  for (const outcome of ['offered', 'decided', 'refused_unknown_clinic', 'rejected']) counted.inc({ outcome }, 0);
  await router.init();
  let streamReady = false;

  const publish = async () => {
    // Hub not reached since start: the messages stay unpublished in the warehouse until it is.
    const nc = deps.hub();
    if (!nc) return;
    const js = jetstream(nc);
    for (;;) {
      const batch = await router.unpublished(200);
      if (batch.length === 0) return;
      if (!streamReady) { await ensureTransferStream(nc); streamReady = true; }
      const done: number[] = [];
      try {
        for (const m of batch) {
          await js.publish(subjects.transfer(m.clinicId), m.message, { msgID: m.msgId });
          done.push(m.id);
        }
      } catch (err) {
        streamReady = false; // the broker may have lost the stream: recreate it next time
        throw err;
      } finally {
        await router.markPublished(done);
      }
    }
  };

  let running: Promise<RouteStats> | undefined;
  const runNow = () => {
    running ??= (async () => {
      try {
        const stats = await router.runOnce();
        counted.inc({ outcome: 'offered' }, stats.offers);
        counted.inc({ outcome: 'decided' }, stats.decisions);
        counted.inc({ outcome: 'refused_unknown_clinic' }, stats.refusedUnknownClinic);
        counted.inc({ outcome: 'rejected' }, stats.rejected);
        if (stats.offers || stats.decisions || stats.rejected || stats.refusedUnknownClinic) deps.log.info({ ...stats }, 'health-record transfers routed');
        await publish().catch((e: Error) => deps.log.warn({ err: e.message }, 'health-record transfers not published yet; retrying'));
        return stats;
      } finally {
        running = undefined;
      }
    })();
    return running;
  };

  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  const loop = () => {
    if (stopped) return;
    runNow().catch((e: Error) => deps.log.error({ err: e.message }, 'health-record transfer routing failed')).finally(() => {
      if (!stopped) timer = setTimeout(loop, deps.intervalMs ?? 1000);
    });
  };
  timer = setTimeout(loop, 0);

  return {
    router, runNow,
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      await running?.catch(() => undefined);
    },
  };
}
