/**
 * The portal's only way to data: one repository per request, carrying the caller's role and
 * organisation scope. Every query it runs is limited to that scope (a centre manager's queries
 * name only their centre's clinics and teams), role rules are checked here as well as in the
 * routes, and every read of resident-level data writes an audit entry before data is returned
 * (fail closed).
 */
import type { Analytics } from '../analytics/index.ts';
import { INDICATOR_BY_ID, INDICATORS, scopeFor, ScopeError, type IndicatorDef, type Scope } from '../analytics/index.ts';
import type { CaseRow, Evaluation, NodeValue } from '../analytics/engine.ts';
import { inList, num } from '../analytics/sql.ts';
import type { OrgUnit } from '../analytics/org.ts';
import type { FleetRow, Warehouse } from '../warehouse/types.ts';
import type { PortalRole, PortalUser } from './accounts.ts';

export class ForbiddenError extends Error {
  override name = 'ForbiddenError';
}
export { ScopeError };

export const CAN: Record<string, readonly PortalRole[]> = {
  view: ['admin', 'district_manager', 'centre_manager', 'qc_officer'],
  residents: ['admin', 'district_manager', 'centre_manager', 'qc_officer'],
  editQc: ['qc_officer', 'admin'],
  editPerf: ['admin', 'district_manager'],
  rectify: ['admin', 'district_manager', 'centre_manager'],
  fleet: ['admin', 'district_manager', 'centre_manager'],
  /** Declare and cancel planned maintenance windows (计划维护) of the data exchange. */
  maintain: ['admin', 'district_manager'],
  admin: ['admin'],
  audit: ['auditor', 'admin'],
  /** Clinic studies and their images (远程阅片): patient data, each study view audited. */
  images: ['admin', 'district_manager', 'centre_manager', 'qc_officer', 'radiologist'],
  /** Write diagnostic reports on clinic studies (the district hospital's radiologists, tender 1.5.2 §2). */
  report: ['radiologist'],
};

export class PortalRepo {
  readonly scope: Scope;
  constructor(private readonly a: Analytics, private readonly wh: Warehouse, readonly user: PortalUser, private readonly ip: string) {
    this.scope = scopeFor(a.org(), a.org().byId.has(user.orgId) ? user.orgId : '__none__');
  }

  can(what: keyof typeof CAN): boolean {
    return CAN[what]!.includes(this.user.role);
  }
  need(what: keyof typeof CAN): void {
    if (!this.can(what)) throw new ForbiddenError(`role ${this.user.role} may not ${what}`);
  }

  org() { return this.a.org(); }
  home(): OrgUnit { return this.org().byId.get(this.scope.orgId)!; }
  inScope(orgId: string): boolean { return this.org().byId.has(orgId) && this.org().isWithin(orgId, this.scope.orgId); }
  node(orgId: string | undefined): OrgUnit {
    const id = orgId || this.scope.orgId;
    if (!this.inScope(id)) throw new ScopeError(`organisation unit ${id} is outside your scope`);
    return this.org().byId.get(id)!;
  }
  asOf(): Promise<string | null> { return this.a.facts.asOf(); }

  private async audit(action: string, target: string, outcome = 'ok'): Promise<void> {
    await this.wh.audit({ actor: `portal:${this.user.username}`, action, target, sourceIp: this.ip, outcome });
  }

  // ---- aggregates (no personal data)
  indicators(): IndicatorDef[] { return INDICATORS; }
  indicator(id: string): IndicatorDef {
    const i = INDICATOR_BY_ID.get(id);
    if (!i) throw new ScopeError(`unknown indicator ${id}`);
    return i;
  }
  evaluate(ind: IndicatorDef, orgId: string, period: string): Promise<Evaluation> { this.need('view'); return this.a.engine.evaluate(ind, this.node(orgId).id, period, this.scope); }
  snapshot(ind: IndicatorDef, orgId: string, period: string) { this.need('view'); return this.a.engine.snapshot(ind, this.node(orgId).id, period, this.scope); }
  value(ind: IndicatorDef, orgId: string, period: string): Promise<NodeValue> { this.need('view'); return this.a.engine.value(ind, this.node(orgId).id, period, this.scope); }
  trend(ind: IndicatorDef, orgId: string, period: string, n: number) { this.need('view'); return this.a.engine.trend(ind, this.node(orgId).id, period, n, this.scope); }
  compare(ind: IndicatorDef, orgId: string, period: string, level: 'centre' | 'station' | 'team') { this.need('view'); return this.a.engine.compare(ind, this.node(orgId).id, period, this.scope, level); }
  topDiagnoses(orgId: string, period: string) { this.need('view'); return this.a.engine.topDiagnoses(this.node(orgId).id, period, this.scope); }
  incomeStructure(orgId: string, period: string) { this.need('view'); return this.a.engine.incomeStructure(this.node(orgId).id, period, this.scope); }
  qcRules() { return this.a.qc.rules(); }
  qcOverall(orgId: string, period: string) { this.need('view'); return this.a.qc.overall(this.node(orgId).id, period, this.scope); }
  qcByInstitution(rule: string, orgId: string, period: string) { this.need('view'); return this.a.qc.byInstitution(rule, this.node(orgId).id, period, this.scope); }
  async saveQcRule(rule: Parameters<Analytics['qc']['saveRule']>[0]) {
    this.need('editQc');
    await this.a.qc.saveRule(rule, this.user.username);
    await this.audit('portal.qc.rule.save', rule.id);
  }
  perfScores(orgId: string, period: string, level: 'centre' | 'station' | 'team') { this.need('view'); return this.a.perf.scores(this.node(orgId).id, period, this.scope, level); }
  perfTasks(year: number) { return this.a.perf.tasks(year); }
  async savePerfTasks(year: number, tasks: Parameters<Analytics['perf']['saveTasks']>[1]) {
    this.need('editPerf');
    await this.a.perf.saveTasks(year, tasks, this.user.username);
    await this.audit('portal.perf.tasks.save', String(year));
  }
  async savePerfData(rows: Parameters<Analytics['perf']['saveData']>[0]) {
    this.need('editPerf');
    for (const r of rows) this.node(r.orgId);
    const n = await this.a.perf.saveData(rows, this.user.username);
    await this.audit('portal.perf.data.import', `${n} values`);
    return n;
  }
  rectifications(period: string) {
    const units = this.scope.clinics || this.scope.teams ? this.org().subtree(this.scope.orgId).map((u) => u.id) : null;
    return this.a.perf.rectifications(units, period);
  }
  async addRectification(d: Omit<Parameters<Analytics['perf']['addRectification']>[0], 'by'>) {
    this.need('rectify');
    this.node(d.orgId);
    const id = await this.a.perf.addRectification({ ...d, by: this.user.username });
    await this.audit('portal.perf.rectification.upload', `${d.orgId}/${d.indicatorId}/${d.period}: ${d.filename}`);
    return id;
  }
  async rectificationFile(id: string) {
    const f = await this.a.perf.rectificationFile(id);
    if (!f || !this.inScope(f.orgId)) throw new ScopeError('no such document in your scope');
    await this.audit('portal.perf.rectification.download', id);
    return f;
  }

  async fleet(): Promise<(FleetRow & { institution: string | null })[]> {
    this.need('fleet');
    const rows = await this.wh.fleet();
    const allowed = this.scope.clinics;
    return rows.filter((r) => !allowed || allowed.includes(r.clinicId)).filter((r) => !this.scope.teams)
      .map((r) => ({ ...r, institution: this.org().institutionOf(r.clinicId)?.name ?? null }));
  }

  /** Ingest per clinic (records applied, latest apply time, dead letters) for the upload monitor. */
  async ingestStatus(): Promise<{ clinicId: string; institution: string | null; applied: number; lastAppliedAt: string | null; factsCursor: number; dead: number }[]> {
    this.need('fleet');
    const db = this.a.db;
    const st = await db.all<{ clinic_id: string; applied_seq: number; records_applied: number; updated_at: unknown }>('SELECT clinic_id, applied_seq, records_applied, updated_at FROM clinic_state ORDER BY clinic_id');
    const cur = new Map((await db.all<{ clinic_id: string; seq: number }>('SELECT clinic_id, seq FROM an_cursor')).map((r) => [r.clinic_id, num(r.seq)]));
    const dead = new Map((await db.all<{ clinic_id: string; n: number }>('SELECT clinic_id, count(*) AS n FROM dead_letters WHERE clinic_id IS NOT NULL GROUP BY clinic_id')).map((r) => [r.clinic_id, num(r.n)]));
    return st.filter((r) => !this.scope.clinics || this.scope.clinics.includes(r.clinic_id)).filter(() => !this.scope.teams).map((r) => ({
      clinicId: r.clinic_id, institution: this.org().institutionOf(r.clinic_id)?.name ?? null, applied: num(r.records_applied),
      lastAppliedAt: r.updated_at instanceof Date ? r.updated_at.toISOString() : (r.updated_at as string | null), factsCursor: cur.get(r.clinic_id) ?? 0, dead: dead.get(r.clinic_id) ?? 0,
    }));
  }

  /** The latest version of each dictionary central has published (the fleet page compares each clinic's with it). */
  async latestDictionaryVersions(): Promise<Map<string, number>> {
    this.need('fleet');
    return new Map(Object.entries(await this.wh.dictionaryVersions()));
  }

  /** Clinics whose rows this user may see: null = all, including dead letters that name no clinic. */
  private clinicFilter(column: string): { sql: string; params: string[] } | null {
    if (this.scope.teams) return { sql: '1 = 0', params: [] };
    if (!this.scope.clinics) return null;
    const l = inList(this.scope.clinics);
    return { sql: `${column} ${l.sql}`, params: l.params as string[] };
  }

  /** Dead letters per clinic and reason, in scope (the operators' overview; no message content). */
  async deadLetterSummary(): Promise<{ clinicId: string | null; reason: string; n: number; lastAt: string }[]> {
    this.need('fleet');
    const f = this.clinicFilter('clinic_id');
    const rows = await this.a.db.all<{ clinic_id: string | null; reason: string; n: number; last_at: unknown }>(
      `SELECT clinic_id, reason, count(*) AS n, max(received_at) AS last_at FROM dead_letters ${f ? `WHERE ${f.sql}` : ''} GROUP BY clinic_id, reason ORDER BY clinic_id, reason`, f?.params ?? []);
    return rows.map((r) => ({ clinicId: r.clinic_id, reason: r.reason, n: num(r.n), lastAt: r.last_at instanceof Date ? r.last_at.toISOString() : String(r.last_at) }));
  }

  /**
   * Dead letters, newest first, in scope, with the start of each message as received. The
   * message may carry a resident's data, so the view is audited (which filter, which ids).
   */
  async deadLetters(filter: { clinicId?: string; reason?: string; beforeId?: number; limit: number }): Promise<{ id: number; subject: string; clinicId: string | null; seq: number | null; reason: string; detail: string; receivedAt: string; rawPreview: string; rawBytes: number }[]> {
    this.need('fleet');
    const parts: string[] = [];
    const params: (string | number)[] = [];
    const f = this.clinicFilter('clinic_id');
    if (f) { parts.push(f.sql); params.push(...f.params); }
    if (filter.clinicId) { parts.push('clinic_id = ?'); params.push(filter.clinicId); }
    if (filter.reason) { parts.push('reason = ?'); params.push(filter.reason); }
    if (filter.beforeId) { parts.push('id < ?'); params.push(filter.beforeId); }
    const pg = this.a.db.dialect === 'postgres';
    const rows = await this.a.db.all<{ id: number; subject: string; clinic_id: string | null; seq: number | null; reason: string; detail: string; received_at: unknown; raw: Uint8Array | null; raw_bytes: number }>(
      `SELECT id, subject, clinic_id, seq, reason, detail, received_at, ${pg ? 'substring(raw FROM 1 FOR 600)' : 'substr(raw, 1, 600)'} AS raw, ${pg ? 'octet_length(raw)' : 'length(raw)'} AS raw_bytes
       FROM dead_letters ${parts.length ? `WHERE ${parts.join(' AND ')}` : ''} ORDER BY id DESC LIMIT ?`, [...params, filter.limit]);
    await this.audit('portal.dead-letters.view', `clinic=${filter.clinicId ?? '*'} reason=${filter.reason ?? '*'} ids=${rows.map((r) => r.id).join(',')}`.slice(0, 300));
    return rows.map((r) => ({
      id: num(r.id), subject: r.subject, clinicId: r.clinic_id, seq: r.seq === null ? null : num(r.seq), reason: r.reason, detail: r.detail,
      receivedAt: r.received_at instanceof Date ? r.received_at.toISOString() : String(r.received_at),
      rawPreview: r.raw ? printable(Buffer.from(r.raw)) : '', rawBytes: num(r.raw_bytes),
    }));
  }

  /** Upload jobs to the city platform, if central exposes them (another feature builds that). */
  async cityUploads(): Promise<Record<string, unknown>[] | null> {
    this.need('fleet');
    for (const t of ['city_upload_batches', 'upload_batches', 'city_uploads']) {
      try {
        return await this.a.db.all(`SELECT * FROM ${t} ORDER BY 1 DESC LIMIT 200`);
      } catch { /* not there yet */ }
    }
    return null;
  }

  async dictionaries() {
    this.need('view');
    return this.wh.latestDictionaries();
  }

  // ---- resident-level data: audited before it is returned
  async indicatorCases(ind: IndicatorDef, orgId: string, period: string, opts: { failingOnly?: boolean; limit?: number; offset?: number }): Promise<{ total: number; rows: CaseRow[] }> {
    this.need('residents');
    const node = this.node(orgId);
    const r = await this.a.engine.cases(ind, node.id, period, this.scope, opts);
    await this.audit('portal.cases.view', `indicator=${ind.id} org=${node.id} period=${period} residents=${r.rows.map((x) => x.residentId).join(',').slice(0, 1500)}`);
    return r;
  }

  /**
   * The whole case list page by page (keyset reads of the stored list) for an Excel export:
   * each page is audited before it is handed on, like the page view.
   */
  async *indicatorCasePages(ind: IndicatorDef, orgId: string, period: string, opts: { failingOnly?: boolean; max: number }): AsyncGenerator<{ total: number; rows: CaseRow[] }> {
    this.need('residents');
    const node = this.node(orgId);
    for await (const page of this.a.engine.casePages(ind, node.id, period, this.scope, { failingOnly: opts.failingOnly, max: opts.max })) {
      await this.audit('portal.cases.view', `export indicator=${ind.id} org=${node.id} period=${period} rows=${page.rows.length} residents=${page.rows.map((x) => x.residentId).join(',').slice(0, 1500)}`);
      yield page;
    }
  }

  async qcCases(ruleId: string, orgId: string, period: string, limit = 200, offset = 0) {
    this.need('residents');
    const node = this.node(orgId);
    const r = await this.a.qc.cases(ruleId, node.id, period, this.scope, limit, offset);
    await this.audit('portal.qc.cases.view', `rule=${ruleId} org=${node.id} period=${period} residents=${r.rows.map((x) => x.residentId).join(',').slice(0, 1500)}`);
    return r;
  }

  /** One resident's facts held by clinics in scope; null when none (no hint that the resident exists elsewhere). */
  async resident(residentId: string): Promise<{ name: string | null; sex: string | null; birthDate: string | null; facts: { kind: string; day: string | null; clinicId: string; institution: string | null; team: string | null; code: string | null; label: string | null; n1: number | null; n2: number | null; n3: number | null; flag: number | null }[] } | null> {
    this.need('residents');
    const parts: string[] = ['resident_id = ?'];
    const params: (string | number)[] = [residentId];
    if (this.scope.clinics) { const l = inList(this.scope.clinics); parts.push(`clinic_id ${l.sql}`); params.push(...l.params); }
    if (this.scope.teams) { const l = inList(this.scope.teams); parts.push(`team_id ${l.sql}`); params.push(...l.params); }
    const rows = await this.a.db.all<{ kind: string; day: string | null; clinic_id: string; team_id: string | null; code: string | null; label: string | null; n1: number | null; n2: number | null; n3: number | null; flag: number | null }>(
      `SELECT kind, day, clinic_id, team_id, code, label, n1, n2, n3, flag FROM an_fact WHERE ${parts.join(' AND ')} ORDER BY day DESC, fkey LIMIT 500`, params);
    const clinical = rows.filter((r) => r.kind !== 'resident');
    if (clinical.length === 0 && rows.length === 0) {
      await this.audit('portal.resident.view', residentId, 'denied: not in scope or unknown');
      return null;
    }
    const person = rows.find((r) => r.kind === 'resident') ?? (await this.a.db.get<{ label: string | null; code: string | null; day2: string | null }>("SELECT label, code, day2 FROM an_fact WHERE kind = 'resident' AND resident_id = ? LIMIT 1", [residentId]));
    await this.audit('portal.resident.view', residentId);
    const org = this.org();
    return {
      name: person?.label ?? null, sex: person?.code ?? null, birthDate: (person as { day2?: string | null } | undefined)?.day2 ?? null,
      facts: clinical.map((r) => ({ kind: r.kind, day: r.day, clinicId: r.clinic_id, institution: org.institutionOf(r.clinic_id)?.name ?? null, team: r.team_id ? org.byId.get(r.team_id)?.name ?? r.team_id : null, code: r.code, label: r.label, n1: r.n1, n2: r.n2, n3: r.n3, flag: r.flag })),
    };
  }

  // ---- data administration
  async saveOrgUnit(u: OrgUnit): Promise<void> {
    this.need('admin');
    if (u.parentId && !this.org().byId.has(u.parentId)) throw new ScopeError(`unknown parent ${u.parentId}`);
    const { upsertOrgUnit } = await import('../analytics/org.ts');
    await upsertOrgUnit(this.a.db, u);
    await this.a.reloadOrg();
    await this.audit('portal.org.save', `${u.id} ${u.level} ${u.name} clinic=${u.clinicId ?? ''}`);
  }
  async deleteOrgUnit(id: string): Promise<void> {
    this.need('admin');
    const { deleteOrgUnit } = await import('../analytics/org.ts');
    await deleteOrgUnit(this.a.db, id);
    await this.a.reloadOrg();
    await this.audit('portal.org.delete', id);
  }
  async population(year: number) {
    this.need('view');
    const rows = await this.a.db.all<{ org_id: string; permanent: number; elderly: number; key_pop: number }>('SELECT org_id, permanent, elderly, key_pop FROM an_population WHERE year = ?', [year]);
    return rows.filter((r) => this.inScope(r.org_id)).map((r) => ({ orgId: r.org_id, permanent: num(r.permanent), elderly: num(r.elderly), keyPop: num(r.key_pop) }));
  }
  async savePopulation(rows: { orgId: string; year: number; permanent: number; elderly: number; keyPop: number }[]): Promise<void> {
    this.need('admin');
    for (const r of rows) {
      if (!this.org().byId.has(r.orgId)) throw new ScopeError(`unknown institution ${r.orgId}`);
      if (![r.permanent, r.elderly, r.keyPop].every((v) => Number.isInteger(v) && v >= 0)) throw new Error(`population of ${r.orgId} must be whole numbers >= 0`);
    }
    for (const r of rows) {
      await this.a.db.run(`INSERT INTO an_population (org_id, year, permanent, elderly, key_pop, updated_by, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)
        ON CONFLICT (org_id, year) DO UPDATE SET permanent = excluded.permanent, elderly = excluded.elderly, key_pop = excluded.key_pop, updated_by = excluded.updated_by, updated_at = excluded.updated_at`,
      [r.orgId, r.year, r.permanent, r.elderly, r.keyPop, this.user.username, new Date().toISOString()]);
    }
    await this.audit('portal.population.save', `${rows.length} rows`);
  }
  async staffing() {
    this.need('view');
    const rows = await this.a.db.all<{ org_id: string; staff: number; doctors: number; gps: number; nurses: number }>('SELECT org_id, staff, doctors, gps, nurses FROM an_staffing');
    return rows.filter((r) => this.inScope(r.org_id)).map((r) => ({ orgId: r.org_id, staff: num(r.staff), doctors: num(r.doctors), gps: num(r.gps), nurses: num(r.nurses) }));
  }
  async saveStaffing(r: { orgId: string; staff: number; doctors: number; gps: number; nurses: number }): Promise<void> {
    this.need('admin');
    if (!this.org().byId.has(r.orgId)) throw new ScopeError(`unknown institution ${r.orgId}`);
    await this.a.db.run(`INSERT INTO an_staffing (org_id, staff, doctors, gps, nurses, updated_by, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)
      ON CONFLICT (org_id) DO UPDATE SET staff = excluded.staff, doctors = excluded.doctors, gps = excluded.gps, nurses = excluded.nurses, updated_by = excluded.updated_by, updated_at = excluded.updated_at`,
    [r.orgId, r.staff, r.doctors, r.gps, r.nurses, this.user.username, new Date().toISOString()]);
    await this.audit('portal.staffing.save', r.orgId);
  }

  async auditLog(filter: { actor?: string; action?: string; limit: number }): Promise<{ id: number; at: string; actor: string; action: string; target: string; sourceIp: string; outcome: string }[]> {
    this.need('audit');
    const parts: string[] = [];
    const params: (string | number)[] = [];
    if (filter.actor) { parts.push('actor = ?'); params.push(filter.actor); }
    if (filter.action) { parts.push('action LIKE ?'); params.push(`${filter.action.replace(/[%_]/g, '')}%`); }
    const rows = await this.a.db.all<{ id: number; at: unknown; actor: string; action: string; target: string; source_ip: string; outcome: string }>(
      `SELECT id, at, actor, action, target, source_ip, outcome FROM audit_log ${parts.length ? `WHERE ${parts.join(' AND ')}` : ''} ORDER BY id DESC LIMIT ?`, [...params, filter.limit]);
    await this.audit('portal.audit.view', `${filter.actor ?? '*'} ${filter.action ?? '*'}`);
    return rows.map((r) => ({ id: num(r.id), at: r.at instanceof Date ? r.at.toISOString() : String(r.at), actor: r.actor, action: r.action, target: r.target, sourceIp: r.source_ip, outcome: r.outcome }));
  }

  /**
   * The clinics' audit trail replicated from the edges (`audit_event` records, and the front
   * desk's earlier `his_audit` ones) from the generic records table, newest first, limited to
   * the clinics in scope. Filters: clinic, exact user, action prefix, target substring (e.g.
   * `resident:<id>`: who looked at this resident). The search itself is audited.
   */
  async clinicAuditLog(filter: { clinicId?: string; username?: string; action?: string; target?: string; limit: number }): Promise<{ clinicId: string; at: string; username: string; action: string; target: string; sourceIp: string; outcome: string }[]> {
    this.need('audit');
    const j = (k: string) => (this.a.db.dialect === 'postgres' ? `payload->>'${k}'` : `json_extract(payload, '$.${k}')`);
    const parts: string[] = ["type IN ('audit_event', 'his_audit')"];
    const params: (string | number)[] = [];
    const clean = (v: string) => v.replace(/[%_\\]/g, '');
    if (this.scope.clinics) { const l = inList(this.scope.clinics); parts.push(`clinic_id ${l.sql}`); params.push(...l.params); }
    if (filter.clinicId) { parts.push('clinic_id = ?'); params.push(filter.clinicId); }
    if (filter.username) { parts.push(`${j('username')} = ?`); params.push(filter.username); }
    if (filter.action) { parts.push(`${j('action')} LIKE ?`); params.push(`${clean(filter.action)}%`); }
    if (filter.target) { parts.push(`${j('target')} LIKE ?`); params.push(`%${clean(filter.target)}%`); }
    const rows = await this.a.db.all<{ clinic_id: string; at: string | null; username: string | null; action: string | null; target: string | null; source_ip: string | null; outcome: string | null }>(
      `SELECT clinic_id, ${j('at')} AS at, ${j('username')} AS username, ${j('action')} AS action, ${j('target')} AS target, ${j('sourceIp')} AS source_ip, ${j('outcome')} AS outcome
       FROM records WHERE ${parts.join(' AND ')} ORDER BY created_at DESC LIMIT ?`, [...params, filter.limit]);
    await this.audit('portal.audit.clinic.view', `clinic=${filter.clinicId ?? '*'} user=${filter.username ?? '*'} action=${filter.action ?? '*'} target=${filter.target ?? '*'}`.slice(0, 300));
    return rows.map((r) => ({ clinicId: r.clinic_id, at: String(r.at ?? ''), username: r.username ?? '', action: r.action ?? '', target: r.target ?? '', sourceIp: r.source_ip ?? '', outcome: r.outcome ?? '' }));
  }
}

/** The start of a message as text for a person to read: invalid UTF-8 as U+FFFD, control characters as a middle dot. */
function printable(b: Buffer): string {
  return b.toString('utf8').replace(/[\u0000-\u0008\u000B-\u001F\u007F]/g, '·');
}
