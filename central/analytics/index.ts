/** The analytics module: organisation tree, incremental facts, indicator engine, QC, performance. */
import type { Warehouse } from '../warehouse/types.ts';
import { Engine } from './engine.ts';
import { INDICATORS } from './indicators.ts';
import { FactStore } from './facts.ts';
import { Performance } from './perf.ts';
import { Qc, storedRule } from './qc.ts';
import { caseDef, caseKey, type CaseDef } from './cases.ts';
import { currentPeriodKey, parsePeriod } from './periods.ts';
import { loadOrg, seedOrg, type OrgTree } from './org.ts';
import { ensureSchema } from './schema.ts';
import { sqlFor, type SqlDb } from './sql.ts';
import { FactWorkerHost, type FactWorkerLog } from './worker-host.ts';
import type { FactWorkerTarget, PassResult } from './worker-protocol.ts';

/**
 * Records per fact batch in the worker (one transaction with its stored indicator results). The
 * worker holds SQLite's one write lock for a batch and central's ingest waits for it meanwhile:
 * smaller than the main-thread loop's 500 (measured under load: 500 -> ~140 ms per transaction,
 * 100 -> ~40 ms, for ~10% more CPU).
 */
export const FACT_BATCH = 200;
/** The refresh loop prunes stored case lists nobody reads at most this often (cases.ts `prune`). */
export const CASE_PRUNE_EVERY_MS = 10 * 60_000;

export class Analytics {
  readonly facts: FactStore;
  readonly engine: Engine;
  readonly qc: Qc;
  readonly perf: Performance;
  private tree!: OrgTree;
  private timer: NodeJS.Timeout | null = null;
  /** Set while the refresh loop runs in a worker thread (`start` with `worker`). */
  private host: FactWorkerHost | null = null;
  private lastPrune = 0;

  private constructor(readonly db: SqlDb) {
    this.facts = new FactStore(db, () => this.tree, () => this.reloadOrg(), (from) => this.engine.invalidate(from));
    this.engine = new Engine(db, () => this.tree);
    this.facts.aggregates = this.engine;
    this.qc = new Qc(db, () => this.tree);
    this.perf = new Performance(db, this.engine, () => this.tree);
  }

  static async open(wh: Warehouse, opts: { seedDemoDistrict?: boolean } = {}): Promise<Analytics> {
    const a = new Analytics(sqlFor(wh));
    await ensureSchema(a.db);
    if (opts.seedDemoDistrict) await seedOrg(a.db);
    await a.reloadOrg();
    return a;
  }

  /** On a connection of its own (the fact worker); the schema exists already. */
  static async fromSql(db: SqlDb): Promise<Analytics> {
    const a = new Analytics(db);
    await a.reloadOrg();
    return a;
  }

  /** The fact worker while it runs (`start` with `worker`), for status and tests. */
  get worker(): FactWorkerHost | null {
    return this.host;
  }

  org(): OrgTree {
    return this.tree;
  }

  async reloadOrg(): Promise<void> {
    this.tree = await loadOrg(this.db);
    if (this.tree.units.length === 0) {
      // No hierarchy yet: a bare district so pages work until the data admin (or the demo) seeds one.
      await this.db.run("INSERT INTO an_org (id, parent_id, level, name, name_en, clinic_id, code, sort) VALUES ('district', NULL, 'district', '区卫生健康局', 'District Health Bureau', NULL, NULL, 0) ON CONFLICT (id) DO NOTHING");
      this.tree = await loadOrg(this.db);
    }
  }

  /** Catches up with the warehouse (stored indicator results follow in the same transactions) and stores missing current ones. */
  async refresh(opts: { warm?: boolean; stop?: () => boolean } = {}): Promise<{ records: number; warmed: number }> {
    if (this.host) {
      // The worker's pass; `afterPass` has brought this thread's caches up to date when it resolves.
      const r = await this.host.request(opts.warm !== false);
      return { records: r.records, warmed: r.warmed };
    }
    const r = await this.facts.refresh();
    await this.syncCache();
    const warmed = opts.warm === false ? 0 : await this.engine.warm(INDICATORS, new Date(), opts.stop) + await this.qc.warm(parsePeriod(currentPeriodKey('year')), opts.stop);
    if (opts.warm !== false) await this.pruneCases();
    return { records: r.records, warmed };
  }

  /**
   * Since when (ms) the oldest first computation this thread waits for has run: a stored result
   * (in the fact worker) or a stored case list being built; null when none.
   */
  computingSince(): number | null {
    const t = [...this.engine.computing.values(), ...this.engine.caseStore.buildStarted.values(), ...this.qc.store.buildStarted.values()];
    return t.length ? Math.min(...t) : null;
  }

  /**
   * Deletes stored case lists nobody reads (cases.ts `prune`): keeps the current year's list of
   * every indicator and enabled QC rule, drops superseded definitions (indicators' and enabled QC rules' are current)
   * after an hour without a reader and old periods after a week. At most every
   * CASE_PRUNE_EVERY_MS unless `force`.
   */
  async pruneCases(opts: { now?: Date; force?: boolean; idleMs?: number; supersededIdleMs?: number } = {}): Promise<{ lists: number; rows: number }> {
    if (!opts.force && Date.now() - this.lastPrune < CASE_PRUNE_EVERY_MS) return { lists: 0, rows: 0 };
    this.lastPrune = Date.now();
    const now = opts.now ?? new Date();
    const year = parsePeriod(currentPeriodKey('year', now));
    const defs = INDICATORS.filter((i) => i.cases).map(caseDef);
    const rules = (await this.qc.rules()).filter((r) => r.enabled).map((r) => storedRule(r, year)?.def).filter((d): d is CaseDef => !!d);
    return this.engine.caseStore.prune({
      // What the refresh loop keeps warm (indicators' and QC rules' current year) is never pruned.
      keep: new Set([...defs, ...rules].map((d) => caseKey(d, year.key).sid)),
      current: new Set([...defs, ...rules].map((d) => caseKey(d, year.key).ckey)),
      now, idleMs: opts.idleMs, supersededIdleMs: opts.supersededIdleMs,
    });
  }

  /**
   * Refresh facts every `ms` (plus on demand), then make sure every indicator is stored for the
   * current and previous year, quarter and month (and the periods their pages compare with).
   */
  start(ms: number, onError: (e: Error) => void, opts: { worker?: FactWorkerTarget; log?: FactWorkerLog; workerDelayMs?: number } = {}): void {
    if (opts.worker) {
      const host = new FactWorkerHost(opts.worker, {
        intervalMs: ms, batch: FACT_BATCH, onPass: (r) => this.afterPass(r), onError, log: opts.log,
        // It cannot even load: refresh on this thread as before rather than let the portal go stale.
        onGiveUp: () => { this.host = null; this.facts.remote = null; this.engine.remoteLoad = null; this.startInProcess(ms, onError); },
      });
      this.host = host;
      this.facts.remote = () => host.request(false);
      // A page's first computation of a (measure, period) runs in the worker too (off this thread's connection).
      this.engine.remoteLoad = (mkey, period) => host.load(mkey, period);
      host.startAfter(opts.workerDelayMs ?? 0);
      return;
    }
    this.startInProcess(ms, onError);
  }

  /** A pass of the fact worker: drop memory copies of what it changed and re-read the tree. */
  private async afterPass(r: PassResult): Promise<void> {
    if (r.changedFrom !== null) {
      this.engine.invalidate(r.changedFrom);
      this.facts.ownGen = r.gen;
    }
    // Another instance (several centrals on one PostgreSQL) changed facts: drop everything.
    await this.syncCache();
    // As the main-thread loop did each time (the data admin, a setup script or fd_team records may have changed it).
    await this.reloadOrg();
  }

  private startInProcess(ms: number, onError: (e: Error) => void): void {
    // The organisation tree is re-read each time: the data admin or a setup script may have changed it.
    const tick = () => { this.reloadOrg().then(() => this.refresh({ stop: () => this.timer === null })).catch(onError).finally(() => { if (this.timer) this.timer = setTimeout(tick, ms); }); };
    this.timer = setTimeout(tick, 0);
  }

  /** Facts changed by another instance (or process) since we last looked: drop every cached result. */
  async syncCache(): Promise<void> {
    const g = await this.facts.generation();
    if (g !== this.facts.ownGen) {
      this.engine.invalidate('');
      this.facts.ownGen = g;
    }
  }

  async stop(): Promise<void> {
    if (this.host) {
      const host = this.host;
      this.engine.remoteLoad = null;
      await host.stop();
      this.host = null;
      this.facts.remote = null;
      return;
    }
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.facts.refresh().catch(() => undefined);
  }
}

export { INDICATORS, INDICATOR_BY_ID, DOMAINS, type IndicatorDef } from './indicators.ts';
export { Engine, scopeFor, DISTRICT_SCOPE, ScopeError, pagePeriods, type Scope } from './engine.ts';
export { OrgTree, demoDistrict, seedOrg, type OrgUnit } from './org.ts';
