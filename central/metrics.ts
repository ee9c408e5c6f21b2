/** Central's Prometheus metrics: ingest counters and the fleet, read from the warehouse at scrape. */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Context, Next } from 'hono';
import { metricNames } from '../contracts/index.ts';
import type { IngestResult, Warehouse } from './warehouse/types.ts';

const m = metricNames.central;

/** What the ingest consumer counts itself (central/ingest/consumer.ts). */
export interface IngestStats {
  failures: number;
  gapFetched: number;
  copiesDropped: number;
  waitingOnGap: number;
  replayed: number;
  replayRemaining: number;
  replayUnavailable: number;
  buffered: number;
}

/** What the availability gauges read of central/availability's report. */
interface AvailabilityRow { clinicId: string; availability: number; longestOutageSeconds: number; downSince: string | null; records: number; lossRate: number }

export function centralMetrics(wh: Warehouse): {
  registry: Registry;
  observe: (r: IngestResult) => void;
  httpMetrics: (c: Context, next: Next) => Promise<void>;
  watchIngest: (ingest: IngestStats) => void;
  observeBatch: (records: number) => void;
  /** Central's link to the hub and the dictionaries not distributed yet, read at scrape. */
  watchHub: (hub: () => { connected: boolean; pendingDictionaries: number }) => void;
  /** The clinics' data-exchange availability over the last 30 days (central/availability), read at scrape. */
  watchAvailability: (report: () => Promise<AvailabilityRow[]>) => void;
  /** Each clinic of the fleet and whether a planned maintenance window covers it now, read at scrape. */
  watchMaintenance: (f: () => Promise<{ clinicId: string; active: boolean; retired: boolean }[]>) => void;
} {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const applied = new Counter({ name: m.applied, help: 'Records applied to the warehouse', labelNames: ['clinic', 'type'], registers: [registry] });
  const duplicates = new Counter({ name: m.duplicates, help: 'Deliveries of records already applied or held (ignored)', registers: [registry] });
  const held = new Counter({ name: m.held, help: 'Records received above a gap and held until the gap closes', registers: [registry] });
  const dead = new Counter({ name: m.deadLetters, help: 'Messages dead-lettered, by reason and by the clinic their subject names (unknown: none)', labelNames: ['reason', 'clinic'], registers: [registry] });
  const conflicts = new Counter({ name: m.conflicts, help: 'Resident demographic conflicts logged (last writer won)', registers: [registry] });
  const latency = new Histogram({ name: m.applyLatency, help: 'Edge write to central apply, seconds', buckets: [0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 30, 120, 600, 3600], registers: [registry] });
  const fleetGauge = (name: string, help: string, pick: (f: Awaited<ReturnType<Warehouse['fleet']>>[number]) => number) =>
    new Gauge({ name, help, labelNames: ['clinic'], registers: [registry], async collect() {
      this.reset();
      for (const f of await wh.fleet()) this.set({ clinic: f.clinicId }, pick(f));
    } });
  fleetGauge(m.clinicAppliedSeq, 'Highest contiguous seq applied per clinic (watermark)', (f) => f.appliedSeq);
  fleetGauge(m.clinicPending, 'Records held above a gap per clinic', (f) => f.pendingAbove);
  fleetGauge(m.clinicOutboxDepth, 'Outbox depth reported by the clinic edge', (f) => f.outboxDepth);
  fleetGauge(m.clinicLag, 'Replication lag per clinic in seconds', (f) => f.lagSeconds);
  fleetGauge(m.clinicHeartbeat, 'Unix time of the last heartbeat per clinic', (f) => (f.lastHeartbeatAt ? Date.parse(f.lastHeartbeatAt) / 1000 : 0));
  new Gauge({ name: m.clinicDictionaryVersion, help: 'Dictionary version held by each clinic', labelNames: ['clinic', 'dictionary'], registers: [registry], async collect() {
    this.reset();
    for (const f of await wh.fleet()) for (const [d, v] of Object.entries(f.dictionaries)) this.set({ clinic: f.clinicId, dictionary: d }, v);
  } });
  new Gauge({ name: m.dictionaryLatestVersion, help: 'Latest version of each dictionary central has published', labelNames: ['dictionary'], registers: [registry], async collect() {
    this.reset();
    for (const [d, v] of Object.entries(await wh.dictionaryVersions())) this.set({ dictionary: d }, v);
  } });
  const observe = (r: IngestResult) => {
    const now = Date.now();
    // One counter update per (clinic, type) in the batch, not one label lookup per record.
    let last: { clinic: string; type: string; n: number } | null = null;
    const counts: { clinic: string; type: string; n: number }[] = [];
    for (const a of r.applied) {
      if (!last || last.clinic !== a.clinicId || last.type !== a.type) {
        last = counts.find((c) => c.clinic === a.clinicId && c.type === a.type) ?? null;
        if (!last) counts.push((last = { clinic: a.clinicId, type: a.type, n: 0 }));
      }
      last.n++;
      latency.observe(Math.max(0, (now - Date.parse(a.createdAt)) / 1000));
    }
    for (const c of counts) applied.inc({ clinic: c.clinic, type: c.type }, c.n);
    for (const o of r.outcomes) {
      if (o === 'duplicate') duplicates.inc();
      else if (o === 'held') held.inc();
    }
    for (const d of r.deadLetters) dead.inc({ reason: d.reason, clinic: d.clinic });
    if (r.conflicts) conflicts.inc(r.conflicts);
  };
  const httpRequests = new Counter({ name: m.httpRequests, help: 'HTTP requests by method, matched route and status', labelNames: ['method', 'route', 'status'], registers: [registry] });
  const httpDuration = new Histogram({ name: m.httpDuration, help: 'HTTP request duration by matched route, seconds', labelNames: ['route'], buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5], registers: [registry] });
  /** Hono middleware; the route label is the matched pattern (bounded), never the raw path. */
  const httpMetrics = async (c: Context, next: Next) => {
    const t0 = performance.now();
    await next();
    const route = c.req.routePath || 'unmatched';
    httpRequests.inc({ method: c.req.method, route, status: String(c.res.status) });
    httpDuration.observe({ route }, (performance.now() - t0) / 1000);
  };
  let ingest: IngestStats | null = null;
  const ingestCounter = (name: string, help: string, pick: (i: IngestStats) => number) =>
    new Counter({ name, help, registers: [registry], collect() {
      if (!ingest) return;
      this.reset();
      this.inc(pick(ingest));
    } });
  ingestCounter(m.ingestFailures, 'Warehouse applies or flushes that failed (retried in place; nothing acknowledged meanwhile)', (i) => i.failures);
  ingestCounter(m.ingestGapFetched, 'Messages fetched from the stream because their delivery was lost or went to an earlier central', (i) => i.gapFetched);
  ingestCounter(m.ingestCopiesDropped, 'Redelivered copies of messages already held or settled, dropped', (i) => i.copiesDropped);
  ingestCounter(m.ingestReplayed, 'Messages replayed from the records stream because the warehouse did not hold them (restored from a backup, or a new warehouse)', (i) => i.replayed);
  ingestCounter(m.ingestReplayUnavailable, 'Messages a replay needed that the records stream no longer held (expired): records lost unless the edges still hold them', (i) => i.replayUnavailable);
  new Gauge({ name: m.ingestReplayRemaining, help: 'Messages of the records stream still to replay (0 when no replay runs)', registers: [registry], collect() {
    if (ingest) this.set(ingest.replayRemaining);
  } });
  new Gauge({ name: m.ingestWaitingOnGap, help: 'Messages applied above the ack floor, waiting for a lower one (a gap being filled)', registers: [registry], collect() {
    if (ingest) this.set(ingest.waitingOnGap);
  } });
  new Gauge({ name: m.ingestBuffered, help: 'Messages delivered to central and waiting for their warehouse transaction (its own backlog; 0 when it keeps up)', registers: [registry], collect() {
    if (ingest) this.set(ingest.buffered);
  } });
  const batchRecords = new Histogram({ name: m.ingestBatchRecords, help: 'Records per warehouse transaction of the ingest (up to CENTRAL_MAX_BATCH under a backlog)', buckets: [1, 10, 100, 500, 1000, 2000, 4000, 8000], registers: [registry] });
  let hub: (() => { connected: boolean; pendingDictionaries: number }) | null = null;
  new Gauge({ name: m.hubConnected, help: '1 when central is connected to the NATS hub; 0 while it has not reached it since start or is reconnecting (nothing comes in from the clinics meanwhile)', registers: [registry], collect() {
    if (hub) this.set(hub().connected ? 1 : 0);
  } });
  new Gauge({ name: m.dictionariesPending, help: 'Dictionaries whose latest version has not reached the hub yet (published while it did not answer; sent when it does)', registers: [registry], collect() {
    if (hub) this.set(hub().pendingDictionaries);
  } });
  let availability: (() => Promise<AvailabilityRow[]>) | null = null;
  // One report per scrape serves the five gauges (prom-client collects them one after another).
  let lastReport: { at: number; rows: AvailabilityRow[] } | null = null;
  const availabilityRows = async (): Promise<AvailabilityRow[]> => {
    if (!availability) return [];
    if (!lastReport || Date.now() - lastReport.at > 1000) lastReport = { at: Date.now(), rows: await availability() };
    return lastReport.rows;
  };
  new Gauge({ name: m.exchangeAvailability, help: 'Share of the last 30 days each clinic\'s data could reach central (tender 1.2.2: >= 0.999); from central\'s outage log', labelNames: ['clinic'], registers: [registry], async collect() {
    this.reset();
    for (const r of await availabilityRows()) this.set({ clinic: r.clinicId }, r.availability);
  } });
  new Gauge({ name: m.exchangeLongestOutage, help: 'Longest outage of each clinic\'s data exchange in the last 30 days, whole length (tender 1.2.2: at most 7200 s)', labelNames: ['clinic'], registers: [registry], async collect() {
    this.reset();
    for (const r of await availabilityRows()) this.set({ clinic: r.clinicId }, r.longestOutageSeconds);
  } });
  new Gauge({ name: m.exchangeDown, help: '1 while an outage of the clinic\'s data exchange is open (silent for 2 min; see central/availability)', labelNames: ['clinic'], registers: [registry], async collect() {
    this.reset();
    for (const r of await availabilityRows()) this.set({ clinic: r.clinicId }, r.downSince ? 1 : 0);
  } });
  new Gauge({ name: m.exchangeLossRatio, help: 'Share of each clinic\'s records of the last 30 days lost (re-seeded as no longer held at the clinic; tender 1.2.2: < 0.001)', labelNames: ['clinic'], registers: [registry], async collect() {
    this.reset();
    for (const r of await availabilityRows()) this.set({ clinic: r.clinicId }, r.lossRate);
  } });
  new Gauge({ name: m.exchangeRecords, help: 'Records of each clinic central accounted for in the last 30 days (applied, refused or recorded lost: the loss ratio\'s denominator)', labelNames: ['clinic'], registers: [registry], async collect() {
    this.reset();
    for (const r of await availabilityRows()) this.set({ clinic: r.clinicId }, r.records);
  } });
  let maintenance: (() => Promise<{ clinicId: string; active: boolean; retired: boolean }[]>) | null = null;
  // One read per scrape serves both gauges, as for the availability ones.
  let lastService: { at: number; rows: { clinicId: string; active: boolean; retired: boolean }[] } | null = null;
  const serviceRows = async () => {
    if (!maintenance) return [];
    if (!lastService || Date.now() - lastService.at > 1000) lastService = { at: Date.now(), rows: await maintenance() };
    return lastService.rows;
  };
  new Gauge({ name: m.clinicMaintenance, help: '1 while a planned maintenance window of the clinic (or of every clinic) is open: the clinic alerts on heartbeat, lag and relay hold meanwhile (API /api/maintenance, portal 计划维护)', labelNames: ['clinic'], registers: [registry], async collect() {
    this.reset();
    for (const r of await serviceRows()) this.set({ clinic: r.clinicId }, r.active ? 1 : 0);
  } });
  new Gauge({ name: m.clinicRetired, help: '1 for a clinic taken out of service (停用, portal 运行状态 or POST /api/fleet/{clinic}/retire): its alerts hold and its availability is no longer measured', labelNames: ['clinic'], registers: [registry], async collect() {
    this.reset();
    for (const r of await serviceRows()) this.set({ clinic: r.clinicId }, r.retired ? 1 : 0);
  } });
  return { registry, observe, httpMetrics, watchIngest: (i) => { ingest = i; }, observeBatch: (n) => batchRecords.observe(n), watchHub: (h) => { hub = h; }, watchAvailability: (a) => { availability = a; }, watchMaintenance: (f) => { maintenance = f; } };
}
