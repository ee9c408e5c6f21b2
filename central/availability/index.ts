/**
 * Data-exchange availability per clinic (tender 1.2.2: availability >= 99.9 %, a single outage
 * at most 2 h): central keeps a log of outages, when a clinic's data stopped reaching it and when
 * it came back, and reports them per period for the portal and the API.
 *
 * An outage of a clinic starts at its last heartbeat once it has been silent for `silenceMs`
 * (2 min, the portal's "offline" threshold; the edge beats every few seconds) and ends at the next
 * heartbeat central receives, unless records written at the clinic still wait then: a clinic that
 * beats while its records do not reach central (a stuck relay, a stopped ingest: central has not
 * applied what the edge had written at its last heartbeat, the oldest of it waiting longer than
 * `silenceMs`) is in an outage too, from when the oldest waiting record was written, until central
 * holds what the edge had written (after a long silence the outage lasts until the backlog is in). Heartbeats travel on the hub like the records, so a silence means
 * the clinic's data cannot reach the district, whatever the cause; `cause` says which side was
 * known to be at fault when the outage was opened:
 * - `clinic`: central was connected to the hub and listening (the clinic's appliance, its network
 *   link or its path to the hub);
 * - `district`: central was not connected to the hub, had just started, or heard no clinic at all
 *   (central or the hub down: every clinic is cut off at once). A central that was itself down opens the outages at its next
 *   start, back-dated to each clinic's last heartbeat, so its downtime is counted too.
 *
 * Outages live in the warehouse (`exchange_outages`, either backend), opened and closed by one
 * central at a time. A clinic never heard from has no outages; one that has been silent since
 * the period began counts it all as down.
 *
 * Planned maintenance (计划维护): operators declare windows, per clinic or for every clinic (the
 * hub or central), at most 72 h, not in the past. Outage time inside a window counts as planned,
 * not as downtime, from the moment the window was declared (declaring one afterwards excuses
 * nothing); the longest outage is its longest stretch outside windows. The outage log itself is
 * unchanged (the facts), so a window cancelled or declared later changes only what is planned.
 * While a window is open, `central_clinic_maintenance` holds the clinic's alerts.
 *
 * Loss rate (tender 1.2.2: < 0.1 %): the records lost in a period (sequence numbers a clinic
 * re-seeded as no longer held, `lost_at_source`) over the records of the clinic central accounted
 * for in it. The denominator comes from the clinic's applied watermark: a clinic's sequence is
 * contiguous and every number in it is applied, refused or recorded lost exactly once, so the
 * records of a period are the watermark's rise over it. Each check writes the watermark into an
 * hourly log (`exchange_volume`: per clinic and hour, the first and last value seen), which costs
 * the ingest nothing; a bound on the hour (the portal's months and days are) is exact to the last
 * check before it, another bound counts to the end of its hour. Where the log begins inside the
 * period (a central upgraded mid-period), counting starts at its first hour and the report says so.
 */
import type { FleetRow, Warehouse } from '../warehouse/types.ts';
import { all, run, sqlFor, type Sql } from '../empi/sql.ts';
import type { Logger } from '../../contracts/runtime/index.ts';
import type { Heartbeat, MaintenanceNotice } from '../../contracts/index.ts';

export const AVAILABILITY_TARGET = 0.999;
export const MAX_OUTAGE_SECONDS = 2 * 3600;
export const DEFAULT_SILENCE_MS = 120_000;
/** Tender 1.2.2: data loss below 0.1 %. */
export const MAX_LOSS_RATE = 0.001;
const HOUR_MS = 3_600_000;
/** The longest planned maintenance window that can be declared. */
export const MAX_MAINTENANCE_MS = 72 * HOUR_MS;

const AUTO = { sqlite: 'INTEGER PRIMARY KEY AUTOINCREMENT', pg: 'BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY' };
const SCHEMA = [
  { sqlite: `CREATE TABLE IF NOT EXISTS exchange_outages (id ${AUTO.sqlite}, clinic_id TEXT NOT NULL, started_at TEXT NOT NULL, ended_at TEXT, cause TEXT NOT NULL)`,
    pg: `CREATE TABLE IF NOT EXISTS exchange_outages (id ${AUTO.pg}, clinic_id TEXT NOT NULL, started_at TEXT NOT NULL, ended_at TEXT, cause TEXT NOT NULL)` },
  { sqlite: 'CREATE INDEX IF NOT EXISTS exchange_outages_clinic ON exchange_outages (clinic_id, started_at)', pg: 'CREATE INDEX IF NOT EXISTS exchange_outages_clinic ON exchange_outages (clinic_id, started_at)' },
  { sqlite: 'CREATE UNIQUE INDEX IF NOT EXISTS exchange_outages_open ON exchange_outages (clinic_id) WHERE ended_at IS NULL', pg: 'CREATE UNIQUE INDEX IF NOT EXISTS exchange_outages_open ON exchange_outages (clinic_id) WHERE ended_at IS NULL' },
  // When central first heard from each clinic: a clinic that joins mid-period is measured from then.
  { sqlite: 'CREATE TABLE IF NOT EXISTS exchange_clinics (clinic_id TEXT PRIMARY KEY, first_seen TEXT NOT NULL)', pg: 'CREATE TABLE IF NOT EXISTS exchange_clinics (clinic_id TEXT PRIMARY KEY, first_seen TEXT NOT NULL)' },
  // Planned maintenance windows (计划维护): clinic_id NULL for every clinic.
  { sqlite: `CREATE TABLE IF NOT EXISTS exchange_maintenance (id ${AUTO.sqlite}, clinic_id TEXT, starts_at TEXT NOT NULL, ends_at TEXT NOT NULL, reason TEXT NOT NULL, declared_by TEXT NOT NULL, declared_at TEXT NOT NULL, cancelled_at TEXT)`,
    pg: `CREATE TABLE IF NOT EXISTS exchange_maintenance (id ${AUTO.pg}, clinic_id TEXT, starts_at TEXT NOT NULL, ends_at TEXT NOT NULL, reason TEXT NOT NULL, declared_by TEXT NOT NULL, declared_at TEXT NOT NULL, cancelled_at TEXT)` },
  { sqlite: 'CREATE INDEX IF NOT EXISTS exchange_maintenance_time ON exchange_maintenance (starts_at)', pg: 'CREATE INDEX IF NOT EXISTS exchange_maintenance_time ON exchange_maintenance (starts_at)' },
  // Clinics taken out of service (停用): measured up to then, no outage opened after, their alerts held.
  // One row per time out of service; reinstated_at NULL while it lasts.
  { sqlite: `CREATE TABLE IF NOT EXISTS exchange_retired (id ${AUTO.sqlite}, clinic_id TEXT NOT NULL, retired_at TEXT NOT NULL, reinstated_at TEXT, reason TEXT NOT NULL, retired_by TEXT NOT NULL)`,
    pg: `CREATE TABLE IF NOT EXISTS exchange_retired (id ${AUTO.pg}, clinic_id TEXT NOT NULL, retired_at TEXT NOT NULL, reinstated_at TEXT, reason TEXT NOT NULL, retired_by TEXT NOT NULL)` },
  { sqlite: 'CREATE UNIQUE INDEX IF NOT EXISTS exchange_retired_open ON exchange_retired (clinic_id) WHERE reinstated_at IS NULL', pg: 'CREATE UNIQUE INDEX IF NOT EXISTS exchange_retired_open ON exchange_retired (clinic_id) WHERE reinstated_at IS NULL' },
  // Each clinic's applied watermark per hour (the loss rate's denominator): `hour` is the ISO start of the UTC hour.
  { sqlite: 'CREATE TABLE IF NOT EXISTS exchange_volume (clinic_id TEXT NOT NULL, hour TEXT NOT NULL, seq_first INTEGER NOT NULL, seq_last INTEGER NOT NULL, PRIMARY KEY (clinic_id, hour))',
    pg: 'CREATE TABLE IF NOT EXISTS exchange_volume (clinic_id TEXT NOT NULL, hour TEXT NOT NULL, seq_first BIGINT NOT NULL, seq_last BIGINT NOT NULL, PRIMARY KEY (clinic_id, hour))' },
];

export type OutageCause = 'clinic' | 'district';

export interface Outage {
  clinicId: string;
  startedAt: string;
  /** null while it lasts. */
  endedAt: string | null;
  cause: OutageCause;
}

export interface ClinicAvailability {
  clinicId: string;
  /** Share of the period (from the clinic's first heartbeat on, up to now) the clinic's data could reach central. */
  availability: number;
  /** Time the clinic's data could not reach central, outside planned maintenance windows. */
  downtimeSeconds: number;
  /** Time of outages inside planned maintenance windows (not counted as downtime). */
  plannedSeconds: number;
  outages: number;
  longestOutageSeconds: number;
  /** Outages by the side known to be at fault (see the module comment); `planned`: wholly inside planned maintenance windows. */
  byCause: Record<OutageCause | 'planned', number>;
  /** Start of the outage still going on, if any. */
  downSince: string | null;
  /** availability >= 99.9 %, no outage longer than 2 h and loss rate below 0.1 % (tender 1.2.2). */
  meetsTarget: boolean;
  /**
   * Records of the period that are lost: sequence numbers the clinic re-seeded as no longer held
   * (`lost_at_source` dead letters). Refused ones are kept at central for review, not lost.
   */
  lostRecords: number;
  /** Messages of the clinic central refused in the period (dead letters other than lost_at_source). */
  refusedRecords: number;
  /**
   * Records of the clinic central accounted for in the period (applied, refused or recorded lost:
   * the rise of its applied watermark); see the module comment for the precision.
   */
  records: number;
  /** lostRecords / records (0 with neither). */
  lossRate: number;
  /** When the count of records starts, if later than the period (the volume log begins inside it); null: the whole period. */
  recordsCountedFrom: string | null;
  /** When the clinic was taken out of service (停用), if it was: measured up to then. */
  retiredAt: string | null;
}

export interface AvailabilityReport {
  from: string;
  to: string;
  /** The part of the period measured (it ends now when the period has not). */
  measuredSeconds: number;
  target: { availability: number; maxOutageSeconds: number; maxLossRate: number };
  clinics: ClinicAvailability[];
}

/** A half-open interval [a, b) in ms. */
type Span = readonly [number, number];

/** Sorted, merged, non-empty spans. */
function union(spans: Span[]): Span[] {
  const out: [number, number][] = [];
  for (const [a, b] of spans.filter(([x, y]) => y > x).sort((x, y) => x[0] - y[0])) {
    const last = out[out.length - 1];
    if (last && a <= last[1]) last[1] = Math.max(last[1], b);
    else out.push([a, b]);
  }
  return out;
}

/** `a` without `b`, both merged (`union`). */
function minus(a: Span[], b: Span[]): Span[] {
  const out: Span[] = [];
  for (const [x, y] of a) {
    let cur = x;
    for (const [p, q] of b) {
      if (q <= cur || p >= y) continue;
      if (p > cur) out.push([cur, p]);
      cur = Math.max(cur, q);
      if (cur >= y) break;
    }
    if (cur < y) out.push([cur, y]);
  }
  return out;
}

const within = (spans: Span[], a: number, b: number): Span[] => spans.map(([x, y]) => [Math.max(x, a), Math.min(y, b)] as Span).filter(([x, y]) => y > x);
const total = (spans: Span[]) => spans.reduce((n, [a, b]) => n + b - a, 0);

/**
 * A planned maintenance window (计划维护) of one clinic, or of every clinic (`clinicId` null: the
 * hub or central). It counts from when it was declared, never before (a window declared after an
 * outage began does not excuse what came before), to its end or its cancellation.
 */
export interface MaintenanceWindow {
  id: number;
  clinicId: string | null;
  startsAt: string;
  endsAt: string;
  reason: string;
  declaredBy: string;
  declaredAt: string;
  cancelledAt: string | null;
}

/** The part of a window that counts as planned, or null. */
export function plannedSpan(w: MaintenanceWindow): Span | null {
  const a = Math.max(Date.parse(w.startsAt), Date.parse(w.declaredAt));
  const b = Math.min(Date.parse(w.endsAt), w.cancelledAt ? Date.parse(w.cancelledAt) : Infinity);
  return b > a ? [a, b] : null;
}

export interface ClinicInput {
  clinicId: string;
  firstSeen: string | null;
  lostRecords?: number;
  refusedRecords?: number;
  records?: number;
  recordsCountedFrom?: string | null;
  /** Out of service now, since then (shown in the report). */
  retiredAt?: string | null;
  /** Times out of service (停用) that overlap the period: not measured. `to` null: still out of service. */
  outOfService?: { from: string; to: string | null }[];
}

/** An outage as reported: how much of it fell in planned maintenance windows. */
export interface ReportedOutage extends Outage {
  planned: 'none' | 'partly' | 'all';
}

/**
 * The report for [from, to) from the outages that overlap it (pure: tested with generated
 * outages and windows). `firstSeen` bounds each clinic's measured time (a clinic that joined
 * mid-period is not counted down before it); an outage still going on ends at `now`. Time of an
 * outage inside a planned maintenance window is reported as planned, not as downtime, and the
 * longest outage is the longest stretch outside the windows.
 */
export function computeAvailability(clinics: ClinicInput[], outages: Outage[], from: Date, to: Date, now: Date, windows: MaintenanceWindow[] = []): AvailabilityReport & { outages: ReportedOutage[] } {
  const periodEnd = Math.min(to.getTime(), now.getTime());
  const measuredSeconds = Math.max(0, (periodEnd - from.getTime()) / 1000);
  const rows: ClinicAvailability[] = [];
  const spanOf = (o: Outage): Span => [Date.parse(o.startedAt), o.endedAt ? Date.parse(o.endedAt) : now.getTime()];
  const plannedOf = new Map<string | null, Span[]>();
  const planned = (clinicId: string): Span[] => {
    let p = plannedOf.get(clinicId);
    if (!p) {
      p = union(windows.filter((w) => w.clinicId === null || w.clinicId === clinicId).map(plannedSpan).filter((x): x is Span => x !== null));
      plannedOf.set(clinicId, p);
    }
    return p;
  };
  const share = (o: Outage): ReportedOutage['planned'] => {
    const [a, b] = spanOf(o);
    const inWindows = total(within(planned(o.clinicId), a, b));
    return inWindows === 0 ? 'none' : inWindows >= b - a ? 'all' : 'partly';
  };
  for (const c of clinics) {
    const own = outages.filter((o) => o.clinicId === c.clinicId);
    const start = Math.max(from.getTime(), c.firstSeen ? Date.parse(c.firstSeen) : from.getTime());
    const end = periodEnd;
    // Measured: from the clinic's first heartbeat (or the period's start) to now (or its end), less its times out of service.
    const measured = minus(union([[start, end]]), union((c.outOfService ?? []).map((r) => [Date.parse(r.from), r.to ? Date.parse(r.to) : now.getTime()] as Span)));
    const span = total(measured);
    const inMeasured = (spans: Span[]) => measured.reduce((n, [a, b]) => n + total(within(spans, a, b)), 0);
    // The union of the outages (an outage log has no overlaps, but a union costs nothing and keeps
    // the figure right if one central's log and another's meet), without the planned windows.
    const down = union(own.map(spanOf));
    const p = planned(c.clinicId);
    const unplanned = minus(down, p);
    const downMs = inMeasured(unplanned);
    const plannedMs = inMeasured(down) - downMs;
    const inPeriod = own.filter((o) => { const [a, b] = spanOf(o); return measured.some(([x, y]) => a < y && b > x); });
    // The longest outage counts whole, also the part before the period (a 3 h outage that began
    // last month still broke the 2 h rule), less its time in planned windows (its longest stretch outside them).
    const longest = inPeriod.reduce((m, o) => Math.max(m, ...minus([spanOf(o)], p).map(([a, b]) => (b - a) / 1000)), 0);
    const availability = span > 0 ? 1 - downMs / span : 1;
    const open = own.find((o) => o.endedAt === null);
    const lost = c.lostRecords ?? 0;
    // The watermark's rise counts every lost seq, but the two are read at different moments (the
    // hourly log against the dead letters' receipt times): never a rate above 1.
    const records = Math.max(c.records ?? 0, lost);
    const lossRate = records > 0 ? lost / records : 0;
    const shares = inPeriod.map((o) => [o, share(o)] as const);
    rows.push({
      clinicId: c.clinicId, availability, downtimeSeconds: downMs / 1000, plannedSeconds: plannedMs / 1000, outages: inPeriod.length, longestOutageSeconds: longest,
      byCause: {
        clinic: shares.filter(([o, sh]) => o.cause === 'clinic' && sh !== 'all').length,
        district: shares.filter(([o, sh]) => o.cause === 'district' && sh !== 'all').length,
        planned: shares.filter(([, sh]) => sh === 'all').length,
      },
      downSince: open ? open.startedAt : null,
      meetsTarget: availability >= AVAILABILITY_TARGET && longest <= MAX_OUTAGE_SECONDS && lossRate < MAX_LOSS_RATE,
      lostRecords: lost, refusedRecords: c.refusedRecords ?? 0, records, lossRate, recordsCountedFrom: c.recordsCountedFrom ?? null, retiredAt: c.retiredAt ?? null,
    });
  }
  rows.sort((a, b) => a.availability - b.availability || a.clinicId.localeCompare(b.clinicId));
  return {
    from: from.toISOString(), to: to.toISOString(), measuredSeconds, target: { availability: AVAILABILITY_TARGET, maxOutageSeconds: MAX_OUTAGE_SECONDS, maxLossRate: MAX_LOSS_RATE }, clinics: rows,
    outages: outages.map((o) => ({ ...o, planned: share(o) })),
  };
}

/** Opens and closes outages from heartbeats and silences; answers reports. */
export class ExchangeAvailability {
  private readonly sql: Sql;
  private ready: Promise<void> | undefined;
  private readonly startedAt = Date.now();
  /** Clinics with an open outage, and clinics whose first heartbeat is recorded (a heartbeat costs no write otherwise). */
  private readonly open = new Set<string>();
  /** Clinics out of service now (exchange_retired rows not reinstated), with since when. */
  private readonly retiredAt = new Map<string, string>();
  private readonly known = new Set<string>();
  /** The windows told to clinics, read at most every 5 s (see noticesFor). */
  private upcoming: { at: number; list: MaintenanceWindow[] } | null = null;
  /** The last hour and watermark written to the volume log per clinic (a check writes only what changed). */
  private readonly volume = new Map<string, { hour: string; seq: number }>();
  /**
   * Clinics that had records at central before the volume log knew them (a central upgraded to it):
   * their log starts at the watermark of the first check. Any other clinic is new to the log with
   * its first record, so its first row starts at 0 and none of its records is left out.
   */
  private readonly unlogged = new Set<string>();

  /** `stallMs`: records waiting longer than this at a clinic that beats put it in an outage (default `silenceMs`). */
  constructor(private readonly wh: Warehouse, private readonly log: Logger, private readonly silenceMs = DEFAULT_SILENCE_MS, private readonly stallMs = silenceMs) {
    this.sql = sqlFor(wh);
  }

  init(): Promise<void> {
    this.ready ??= (async () => {
      await this.sql.ensure(SCHEMA);
      const [open, known] = await this.sql.tx(function* () {
        return [yield* all<{ clinic_id: string }>('SELECT clinic_id FROM exchange_outages WHERE ended_at IS NULL'), yield* all<{ clinic_id: string }>('SELECT clinic_id FROM exchange_clinics')] as const;
      });
      for (const r of open) this.open.add(r.clinic_id);
      for (const r of known) this.known.add(r.clinic_id);
      const retired = await this.sql.tx(function* () { return yield* all<{ clinic_id: string; retired_at: string }>('SELECT clinic_id, retired_at FROM exchange_retired WHERE reinstated_at IS NULL'); });
      for (const r of retired) this.retiredAt.set(r.clinic_id, r.retired_at);
      const [latest, applied] = await this.sql.tx(function* () {
        const latest: { clinic_id: string; hour: string; seq: number | string }[] = [];
        const withRecords = yield* all<{ clinic_id: string; applied_seq: number | string }>('SELECT clinic_id, applied_seq FROM clinic_state');
        // Every clinic in the log is in clinic_state (the log is written from its watermarks).
        for (const c of withRecords) latest.push(...(yield* all<{ clinic_id: string; hour: string; seq: number | string }>('SELECT clinic_id, hour, seq_last AS seq FROM exchange_volume WHERE clinic_id = ? ORDER BY hour DESC LIMIT 1', [c.clinic_id])));
        return [latest, withRecords.filter((c) => Number(c.applied_seq) > 0)] as const;
      });
      for (const r of latest) this.volume.set(r.clinic_id, { hour: r.hour, seq: Number(r.seq) });
      for (const r of applied) if (!this.volume.has(r.clinic_id)) this.unlogged.add(r.clinic_id);
    })();
    return this.ready;
  }

  /**
   * Whether the clinic's records are stuck: central has not applied what the edge had written at
   * its last heartbeat, the oldest of it waiting longer than `stallMs` (fleet lag).
   */
  private stalled(f: FleetRow): boolean {
    return f.lagSeconds * 1000 > this.stallMs;
  }

  /**
   * A heartbeat of the clinic arrived (after it was recorded): ends its outage, if one is open and
   * its records flow again (none waiting at the clinic longer than the threshold; after a long
   * silence the outage lasts until the backlog has reached central).
   */
  async onHeartbeat(clinicId: string, at = new Date(), hb?: Pick<Heartbeat, 'lastSeq' | 'oldestPendingAgeSec'>): Promise<void> {
    await this.init();
    const iso = at.toISOString();
    if (!this.known.has(clinicId)) {
      await this.sql.tx(function* () { yield* run('INSERT INTO exchange_clinics (clinic_id, first_seen) VALUES (?, ?) ON CONFLICT (clinic_id) DO NOTHING', [clinicId, iso]); });
      this.known.add(clinicId);
    }
    if (!this.open.has(clinicId) || this.retiredAt.has(clinicId)) return;
    // The fleet's lag, from the heartbeat itself and the clinic's watermark (one row, not the whole fleet).
    const stalled = hb
      ? hb.lastSeq > (await this.wh.watermark(clinicId)).appliedSeq && hb.oldestPendingAgeSec * 1000 > this.stallMs
      : (await this.wh.fleet()).some((f) => f.clinicId === clinicId && this.stalled(f));
    if (stalled) return;
    await this.close(clinicId, at);
  }

  private async close(clinicId: string, at: Date): Promise<void> {
    const iso = at.toISOString();
    const since = await this.sql.tx(function* () {
      const rows = yield* all<{ started_at: string }>('SELECT started_at FROM exchange_outages WHERE clinic_id = ? AND ended_at IS NULL', [clinicId]);
      yield* run('UPDATE exchange_outages SET ended_at = ? WHERE clinic_id = ? AND ended_at IS NULL', [iso, clinicId]);
      return rows[0]?.started_at ?? null;
    });
    this.open.delete(clinicId);
    if (since) this.log.info({ clinic: clinicId, since, seconds: Math.round((at.getTime() - Date.parse(since)) / 1000) }, 'clinic data exchange restored');
  }

  /**
   * Opens an outage for every clinic silent for longer than the threshold, back-dated to its last
   * heartbeat, and for every clinic that beats but whose records are stuck (a relay or an ingest
   * that stopped: records waiting longer than the threshold), back-dated to when the oldest of
   * them was written (not before the clinic's previous outage ended); closes the outage of a
   * clinic whose records flow again. `hubConnected`: whether central is listening now (the
   * cause). Returns how many opened.
   */
  async tick(hubConnected: boolean, now = new Date()): Promise<number> {
    await this.init();
    await this.sampleVolume(now);
    const fleet = (await this.wh.fleet()).filter((f) => f.lastHeartbeatAt && !this.retiredAt.has(f.clinicId));
    const silentFor = (f: FleetRow) => now.getTime() - Date.parse(f.lastHeartbeatAt!) > this.silenceMs;
    const down = (f: FleetRow) => silentFor(f) || this.stalled(f);
    // Closed by a tick: a clinic that beats again whose backlog reached central after its last heartbeat.
    for (const f of fleet) if (this.open.has(f.clinicId) && !down(f)) await this.close(f.clinicId, now);
    const starting = fleet.filter((f) => !this.open.has(f.clinicId) && down(f));
    if (starting.length === 0) return 0;
    // The district side when central is not connected, has just started (it cannot tell a silent
    // clinic from its own absence), or no clinic's data reaches it at all (a hub cut off from
    // central by the network is noticed by the client only at its next missed pings; a stopped ingest).
    const cause: OutageCause = hubConnected && now.getTime() - this.startedAt >= this.silenceMs && !(fleet.length > 1 && fleet.every(down)) ? 'clinic' : 'district';
    const nowMs = now.getTime();
    const opened = await this.sql.tx(function* () {
      const open = new Set((yield* all<{ clinic_id: string }>('SELECT clinic_id FROM exchange_outages WHERE ended_at IS NULL')).map((r) => r.clinic_id));
      const out: { clinicId: string; silent: boolean; since: string }[] = [];
      for (const f of starting) {
        if (open.has(f.clinicId)) continue;
        let since = f.lastHeartbeatAt!;
        const silent = silentFor(f);
        if (!silent) {
          const last = (yield* all<{ e: string | null }>('SELECT MAX(ended_at) AS e FROM exchange_outages WHERE clinic_id = ?', [f.clinicId]))[0]?.e ?? null;
          since = new Date(Math.max(nowMs - f.lagSeconds * 1000, last ? Date.parse(last) : -Infinity)).toISOString();
        }
        yield* run('INSERT INTO exchange_outages (clinic_id, started_at, ended_at, cause) VALUES (?, ?, NULL, ?)', [f.clinicId, since, cause]);
        yield* run('INSERT INTO exchange_clinics (clinic_id, first_seen) VALUES (?, ?) ON CONFLICT (clinic_id) DO NOTHING', [f.clinicId, f.lastHeartbeatAt]);
        out.push({ clinicId: f.clinicId, silent, since });
      }
      return out;
    });
    for (const o of opened) {
      this.open.add(o.clinicId);
      this.known.add(o.clinicId);
      this.log.warn({ clinic: o.clinicId, cause, since: o.since }, o.silent
        ? (cause === 'clinic' ? 'clinic data exchange interrupted: no heartbeat from the clinic' : 'clinic data exchange interrupted: central not connected to the hub (or just started)')
        : 'clinic data exchange interrupted: the clinic beats but its records do not reach central (its relay or central\'s ingest stuck)');
    }
    return opened.length;
  }

  /**
   * Writes each clinic's applied watermark into the hourly volume log (the loss rate's
   * denominator): the first value of an hour is kept, the last one replaced; only changes are written.
   */
  async sampleVolume(now = new Date()): Promise<void> {
    await this.init();
    const hour = new Date(Math.floor(now.getTime() / HOUR_MS) * HOUR_MS).toISOString();
    const changed = (await this.wh.watermarks()).filter((w) => { const v = this.volume.get(w.clinicId); return !v || v.hour !== hour || v.seq !== w.appliedSeq; });
    if (changed.length === 0) return;
    const volume = this.volume;
    const unlogged = this.unlogged;
    await this.sql.tx(function* () {
      for (const w of changed) {
        // The hour's first value; a clinic's first row starts at 0 unless it had records before the log (see `unlogged`).
        const first = volume.has(w.clinicId) || unlogged.has(w.clinicId) ? w.appliedSeq : 0;
        yield* run('INSERT INTO exchange_volume (clinic_id, hour, seq_first, seq_last) VALUES (?, ?, ?, ?) ON CONFLICT (clinic_id, hour) DO UPDATE SET seq_last = excluded.seq_last', [w.clinicId, hour, first, w.appliedSeq]);
      }
    });
    for (const w of changed) this.volume.set(w.clinicId, { hour, seq: w.appliedSeq });
  }

  /**
   * Records of each clinic in [from, to): its watermark at the end (now's when the period has not
   * ended; else the last logged before `to`) less the one at the start (the last logged before
   * `from`; where the log begins later, its first value, and `countedFrom` says when).
   */
  private async recordsIn(clinics: string[], from: Date, to: Date, now: Date): Promise<Map<string, { records: number; countedFrom: string | null }>> {
    const f = from.toISOString();
    const t = to.toISOString();
    const live = to.getTime() >= now.getTime() ? new Map((await this.wh.watermarks()).map((w) => [w.clinicId, w.appliedSeq])) : null;
    // Index seeks per clinic (the log grows by a row per clinic and hour: ~240,000 a year for the
    // district; a grouped scan of it took ~60 ms per bound, at every metrics scrape).
    return this.sql.tx(function* () {
      const out = new Map<string, { records: number; countedFrom: string | null }>();
      for (const clinicId of clinics) {
        const lastBefore = (bound: string) => all<{ hour: string; seq: number | string }>('SELECT hour, seq_last AS seq FROM exchange_volume WHERE clinic_id = ? AND hour < ? ORDER BY hour DESC LIMIT 1', [clinicId, bound]);
        let start: { seq: number; countedFrom: string | null } | null = null;
        const before = (yield* lastBefore(f))[0];
        if (before) start = { seq: Number(before.seq), countedFrom: null };
        else {
          const first = (yield* all<{ hour: string; seq: number | string }>('SELECT hour, seq_first AS seq FROM exchange_volume WHERE clinic_id = ? AND hour >= ? AND hour < ? ORDER BY hour LIMIT 1', [clinicId, f, t]))[0];
          // A log that begins inside the period with records already applied leaves out what came before.
          if (first) start = { seq: Number(first.seq), countedFrom: first.hour > f && Number(first.seq) > 0 ? first.hour : null };
        }
        if (!start) continue;
        const endRow = live ? null : (yield* lastBefore(t))[0];
        const end = live ? (live.get(clinicId) ?? start.seq) : endRow ? Number(endRow.seq) : start.seq;
        out.set(clinicId, { records: Math.max(0, end - start.seq), countedFrom: start.countedFrom });
      }
      return out;
    });
  }

  /** Every outage overlapping [from, to), oldest first. */
  async outages(from: Date, to: Date, clinicId?: string): Promise<Outage[]> {
    await this.init();
    const f = from.toISOString();
    const t = to.toISOString();
    const rows = await this.sql.tx(function* () {
      return yield* all<{ clinic_id: string; started_at: string; ended_at: string | null; cause: string }>(
        `SELECT clinic_id, started_at, ended_at, cause FROM exchange_outages WHERE started_at < ? AND (ended_at IS NULL OR ended_at > ?)${clinicId ? ' AND clinic_id = ?' : ''} ORDER BY started_at`,
        clinicId ? [t, f, clinicId] : [t, f]);
    });
    return rows.map((r) => ({ clinicId: r.clinic_id, startedAt: r.started_at, endedAt: r.ended_at, cause: r.cause === 'clinic' ? 'clinic' : 'district' }));
  }

  /** The report for [from, to) over every clinic central has heard from, with the outages it counted. */
  async report(from: Date, to: Date, now = new Date()): Promise<AvailabilityReport & { outages: ReportedOutage[] }> {
    await this.init();
    const outages = await this.outages(from, to);
    const seen = await this.sql.tx(function* () { return yield* all<{ clinic_id: string; first_seen: string }>('SELECT clinic_id, first_seen FROM exchange_clinics'); });
    const first = new Map(seen.map((r) => [r.clinic_id, r.first_seen]));
    const ids = new Set([...(await this.wh.fleet()).map((f) => f.clinicId), ...first.keys()]);
    const f = from.toISOString();
    const t = to.toISOString();
    const letters = await this.sql.tx(function* () {
      return yield* all<{ clinic_id: string; lost: number | string; n: number | string }>(
        "SELECT clinic_id, SUM(CASE WHEN reason = 'lost_at_source' THEN 1 ELSE 0 END) AS lost, COUNT(*) AS n FROM dead_letters WHERE clinic_id IS NOT NULL AND received_at >= ? AND received_at < ? GROUP BY clinic_id", [f, t]);
    });
    const dead = new Map(letters.map((r) => [r.clinic_id, { lost: Number(r.lost), refused: Number(r.n) - Number(r.lost) }]));
    const volume = await this.recordsIn([...ids], from, to, now);
    const away = new Map<string, { from: string; to: string | null }[]>();
    for (const r of await this.sql.tx(function* () { return yield* all<{ clinic_id: string; retired_at: string; reinstated_at: string | null }>('SELECT clinic_id, retired_at, reinstated_at FROM exchange_retired WHERE retired_at < ? AND (reinstated_at IS NULL OR reinstated_at > ?)', [t, f]); })) {
      away.set(r.clinic_id, [...(away.get(r.clinic_id) ?? []), { from: r.retired_at, to: r.reinstated_at }]);
    }
    const inputs = [...ids].map((clinicId): ClinicInput => {
      const v = volume.get(clinicId);
      // A clinic absent from the volume log in the period had no record at central in it (or none since the last check).
      return { clinicId, firstSeen: first.get(clinicId) ?? null, lostRecords: dead.get(clinicId)?.lost ?? 0, refusedRecords: dead.get(clinicId)?.refused ?? 0, records: v?.records ?? 0, recordsCountedFrom: v ? v.countedFrom : null, retiredAt: this.retiredAt.get(clinicId) ?? null, outOfService: away.get(clinicId) ?? [] };
    });
    // Windows that can touch the outages counted (their whole length counts for the longest) or the period.
    const earliest = outages.reduce((m, o) => Math.min(m, Date.parse(o.startedAt)), from.getTime());
    const windows = await this.maintenance(new Date(earliest), new Date(Math.max(to.getTime(), now.getTime())));
    return computeAvailability(inputs, outages, from, to, now, windows);
  }

  /**
   * Declares a planned maintenance window (one clinic, or every clinic with `clinicId` null).
   * Refused with the reason (`MaintenanceError`) when it is not a window that can be planned: in
   * the past, ending before it starts, longer than 72 h, more than a year ahead, without a reason,
   * or for a clinic central has never heard from.
   */
  async declareMaintenance(w: { clinicId: string | null; startsAt: string; endsAt: string; reason: string; declaredBy: string }, now = new Date()): Promise<MaintenanceWindow> {
    await this.init();
    // With a zone: a time without one would be read in the server's zone (UTC), 8 h off China time.
    const isoWithZone = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/;
    const a = isoWithZone.test(w.startsAt) ? Date.parse(w.startsAt) : NaN;
    const b = isoWithZone.test(w.endsAt) ? Date.parse(w.endsAt) : NaN;
    const reason = w.reason.trim();
    if (Number.isNaN(a) || Number.isNaN(b)) throw new MaintenanceError('startsAt and endsAt must be ISO date-times with a zone (2026-03-01T22:00:00+08:00)');
    if (b <= a) throw new MaintenanceError('the window must end after it starts');
    if (b <= now.getTime()) throw new MaintenanceError('the window is over: maintenance is declared before or while it happens, not afterwards');
    if (b - a > MAX_MAINTENANCE_MS) throw new MaintenanceError('a window is at most 72 hours; declare a longer one in parts, each with its reason');
    if (a - now.getTime() > 366 * 86400_000) throw new MaintenanceError('the window starts more than a year ahead');
    if (reason.length === 0 || reason.length > 200) throw new MaintenanceError('a reason of 1 to 200 characters is required');
    if (w.clinicId !== null && !(this.known.has(w.clinicId) || (await this.wh.fleet()).some((f) => f.clinicId === w.clinicId))) throw new MaintenanceError(`unknown clinic ${w.clinicId}`);
    const row = { clinicId: w.clinicId, startsAt: new Date(a).toISOString(), endsAt: new Date(b).toISOString(), reason, declaredBy: w.declaredBy, declaredAt: now.toISOString() };
    const id = await this.sql.tx(function* () {
      const r = yield* all<{ id: number | string }>('INSERT INTO exchange_maintenance (clinic_id, starts_at, ends_at, reason, declared_by, declared_at, cancelled_at) VALUES (?, ?, ?, ?, ?, ?, NULL) RETURNING id',
        [row.clinicId, row.startsAt, row.endsAt, row.reason, row.declaredBy, row.declaredAt]);
      return Number(r[0]!.id);
    });
    this.log.info({ id, clinic: w.clinicId ?? 'all', startsAt: row.startsAt, endsAt: row.endsAt, by: w.declaredBy }, 'maintenance window declared');
    this.upcoming = null;
    return { id, ...row, cancelledAt: null };
  }

  /** Cancels a window that has not ended: from now on it no longer counts. Returns it, or null if there is no such window. */
  async cancelMaintenance(id: number, now = new Date()): Promise<MaintenanceWindow | null> {
    await this.init();
    const at = now.toISOString();
    const rows = await this.sql.tx(function* () {
      const r = yield* all<MaintenanceRow>('SELECT * FROM exchange_maintenance WHERE id = ?', [id]);
      if (r[0] && r[0].cancelled_at === null && r[0].ends_at > at) yield* run('UPDATE exchange_maintenance SET cancelled_at = ? WHERE id = ?', [at, id]);
      return yield* all<MaintenanceRow>('SELECT * FROM exchange_maintenance WHERE id = ?', [id]);
    });
    this.upcoming = null;
    return rows[0] ? toWindow(rows[0]) : null;
  }

  /** Windows overlapping [from, to), cancelled ones included, in start order. */
  async maintenance(from: Date, to: Date): Promise<MaintenanceWindow[]> {
    await this.init();
    const rows = await this.sql.tx(function* () {
      return yield* all<MaintenanceRow>('SELECT * FROM exchange_maintenance WHERE starts_at < ? AND ends_at > ? ORDER BY starts_at, id', [to.toISOString(), from.toISOString()]);
    });
    return rows.map(toWindow);
  }

  /**
   * Takes a clinic out of service (停用: closed, merged, its appliance removed): its availability is
   * measured up to now, an outage still open ends now, no outage is opened after, and its alerts
   * hold (`central_clinic_retired`). Its records and history stay. Refused (`MaintenanceError`)
   * for a clinic central has never heard from, one already retired, or without a reason.
   */
  async retire(clinicId: string, reason: string, by: string, now = new Date()): Promise<{ clinicId: string; retiredAt: string; reason: string; retiredBy: string }> {
    await this.init();
    const why = reason.trim();
    if (why.length === 0 || why.length > 200) throw new MaintenanceError('a reason of 1 to 200 characters is required');
    if (!(this.known.has(clinicId) || (await this.wh.fleet()).some((f) => f.clinicId === clinicId))) throw new MaintenanceError(`unknown clinic ${clinicId}`);
    if (this.retiredAt.has(clinicId)) throw new MaintenanceError(`clinic ${clinicId} is already out of service (since ${this.retiredAt.get(clinicId)})`);
    const at = now.toISOString();
    await this.sql.tx(function* () {
      yield* run('INSERT INTO exchange_retired (clinic_id, retired_at, reinstated_at, reason, retired_by) VALUES (?, ?, NULL, ?, ?)', [clinicId, at, why, by]);
      yield* run('UPDATE exchange_outages SET ended_at = ? WHERE clinic_id = ? AND ended_at IS NULL', [at, clinicId]);
    });
    this.retiredAt.set(clinicId, at);
    this.open.delete(clinicId);
    this.log.warn({ clinic: clinicId, by, reason: why }, 'clinic taken out of service');
    return { clinicId, retiredAt: at, reason: why, retiredBy: by };
  }

  /** Puts a retired clinic back in service (measured again from now); false if it was not retired. */
  async reinstate(clinicId: string, now = new Date()): Promise<boolean> {
    await this.init();
    if (!this.retiredAt.has(clinicId)) return false;
    const at = now.toISOString();
    // Measured again from now on: its time out of service is not counted against it.
    await this.sql.tx(function* () { yield* run('UPDATE exchange_retired SET reinstated_at = ? WHERE clinic_id = ? AND reinstated_at IS NULL', [at, clinicId]); });
    this.retiredAt.delete(clinicId);
    this.log.info({ clinic: clinicId }, 'clinic back in service');
    return true;
  }

  /** Clinics out of service, with when, why and by whom. */
  async retired(): Promise<{ clinicId: string; retiredAt: string; reason: string; retiredBy: string }[]> {
    await this.init();
    const rows = await this.sql.tx(function* () { return yield* all<{ clinic_id: string; retired_at: string; reason: string; retired_by: string }>('SELECT clinic_id, retired_at, reason, retired_by FROM exchange_retired WHERE reinstated_at IS NULL ORDER BY clinic_id'); });
    return rows.map((r) => ({ clinicId: r.clinic_id, retiredAt: r.retired_at, reason: r.reason, retiredBy: r.retired_by }));
  }

  /** Whether the clinic is out of service (no database read). */
  isRetired(clinicId: string): boolean {
    return this.retiredAt.has(clinicId);
  }

  /**
   * The windows a clinic is told of in the answers to its heartbeats: its own and every clinic's,
   * not cancelled, not over, starting within 7 days. Read at most every 5 s (each clinic beats
   * every few seconds), at once after a declaration or cancellation.
   */
  async noticesFor(clinicId: string, now = new Date()): Promise<MaintenanceNotice[]> {
    if (!this.upcoming || now.getTime() - this.upcoming.at > 5000) {
      const list = (await this.maintenance(now, new Date(now.getTime() + 7 * 86400_000))).filter((w) => !w.cancelledAt);
      this.upcoming = { at: now.getTime(), list };
    }
    return this.upcoming.list.filter((w) => (w.clinicId === null || w.clinicId === clinicId) && Date.parse(w.endsAt) > now.getTime())
      .map((w) => ({ startsAt: w.startsAt, endsAt: w.endsAt, reason: w.reason, scope: w.clinicId === null ? 'all' as const : 'clinic' as const }));
  }

  /** Clinics in a planned window now (`all`: a window of every clinic is open). */
  async inMaintenance(now = new Date()): Promise<{ all: boolean; clinics: Set<string> }> {
    const open = await this.openWindows(now);
    return { all: open.some((w) => w.clinicId === null), clinics: new Set(open.flatMap((w) => (w.clinicId ? [w.clinicId] : []))) };
  }

  /** The windows counting as planned now (declared, started, neither over nor cancelled). */
  async openWindows(now = new Date()): Promise<MaintenanceWindow[]> {
    return (await this.maintenance(now, new Date(now.getTime() + 1))).filter((w) => { const sp = plannedSpan(w); return sp !== null && sp[0] <= now.getTime() && now.getTime() < sp[1]; });
  }

  /** One window by its id, or null. */
  async window(id: number): Promise<MaintenanceWindow | null> {
    await this.init();
    const rows = await this.sql.tx(function* () { return yield* all<MaintenanceRow>('SELECT * FROM exchange_maintenance WHERE id = ?', [id]); });
    return rows[0] ? toWindow(rows[0]) : null;
  }
}

/** A maintenance window that cannot be declared, or a clinic that cannot be taken out of service (the API answers 400 with the message). */
export class MaintenanceError extends Error {
  override name = 'MaintenanceError';
}

interface MaintenanceRow { id: number | string; clinic_id: string | null; starts_at: string; ends_at: string; reason: string; declared_by: string; declared_at: string; cancelled_at: string | null }
const toWindow = (r: MaintenanceRow): MaintenanceWindow => ({ id: Number(r.id), clinicId: r.clinic_id, startsAt: r.starts_at, endsAt: r.ends_at, reason: r.reason, declaredBy: r.declared_by, declaredAt: r.declared_at, cancelledAt: r.cancelled_at });
