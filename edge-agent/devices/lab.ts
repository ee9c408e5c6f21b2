/**
 * Lab results after they are received: technician review and release (preliminary -> final),
 * corrections of released results (a new version with status `corrected`), file import and
 * manual entry for analysers without an interface, and a resident's trend per test.
 *
 * Every change is one group-committed transaction that also emits the `lab_result` record
 * again (same record id, next version), so central receives preliminary, final and corrected
 * versions in order. Every action is audited.
 */
import { rangeText, type DeviceProfile, type LabReading, type Reading } from '../../device-drivers/index.ts';
import type { EdgeStore } from '../store/store.ts';
import type { Accounts, User } from '../web/accounts.ts';
import { emitReading, readingSummary, type BatchOutcome, type Ingest } from './ingest.ts';
import { parseImportFile, parseTable, type ImportError, type ImportRow } from './lab-import.ts';
import type { ProfileCatalog } from './profiles.ts';
import { RegistryError, type Device } from './registry.ts';
import { uuidv7 } from '../../contracts/ids.ts';

/** Who may release, correct, import and enter lab results. */
export const LAB_ROLES = ['lab_tech', 'clinic_admin'] as const;

export interface LabRow {
  id: string;
  deviceId: string;
  deviceName: string;
  source: string;
  specimenId: string | null;
  code: string;
  display: string;
  value: string;
  unit: string;
  flag: string | null;
  at: string;
  receivedAt: string;
  implausible: boolean;
  critical: boolean;
  residentId: string | null;
  residentName: string | null;
  status: 'preliminary' | 'final' | 'corrected';
  reviewedByName: string | null;
  reviewedAt: string | null;
}

export interface LabVersion { version: number; status: string; value: string; unit: string; flag: string | null; byName: string; at: string; reason: string | null }

interface Row { id: string; device_id: string; reading: string; resident_id: string | null; review_status: string | null; critical: number; type: string; source: string }

const SELECT = `SELECT r.id, r.device_id AS deviceId, coalesce(d.name, r.device_id) AS deviceName, r.source, r.specimen_id AS specimenId, r.code, r.display, r.value, r.unit,
  r.interpretation AS flag, r.at, r.received_at AS receivedAt, r.implausible, r.critical, r.resident_id AS residentId, p.name AS residentName,
  coalesce(r.review_status, 'preliminary') AS status, r.reviewed_by_name AS reviewedByName, r.reviewed_at AS reviewedAt
  FROM device_readings r LEFT JOIN devices d ON d.id = r.device_id LEFT JOIN residents p ON p.resident_id = r.resident_id`;

/** Pseudo devices of file import and manual entry get a readable name. */
const sourceName = (deviceId: string, name: string) => (deviceId.startsWith('import:') ? `文件导入 ${deviceId.slice(7)}` : deviceId.startsWith('manual:') ? `手工录入 ${deviceId.slice(7)}` : name);
const toLabRow = (x: Omit<LabRow, 'implausible' | 'critical'> & { implausible: number; critical: number }): LabRow =>
  ({ ...x, deviceName: sourceName(x.deviceId, x.deviceName), implausible: x.implausible === 1, critical: x.critical === 1 });

export interface ImportOutcome {
  total: number;
  imported: number;
  duplicates: number;
  unbound: number;
  critical: number;
  errors: ImportError[];
}

export class LabService {
  readonly counters = { released: 0, corrected: 0, refused: 0, importFiles: 0, importRows: 0, importRowErrors: 0, manual: 0 };

  constructor(private readonly store: EdgeStore, private readonly accounts: Accounts, private readonly profiles: ProfileCatalog, private readonly ingest: Ingest) {}

  private get db() { return this.store.db; }

  /**
   * Results waiting for review, oldest first. Every lab_result row is written with a review status
   * ('preliminary' on receipt; migration 101 set the older ones), so the filter is the partial
   * index `device_readings_review`'s own predicate and the page reads only what waits.
   */
  pending(limit = 300): LabRow[] {
    return this.db.prepare<[number], Parameters<typeof toLabRow>[0]>(`${SELECT} WHERE r.review_status = 'preliminary' AND r.type = 'lab_result' ORDER BY r.received_at, r.rowid LIMIT ?`).all(limit).map(toLabRow);
  }

  pendingCount(): number {
    return this.db.prepare<[], { n: number }>("SELECT count(*) AS n FROM device_readings WHERE review_status = 'preliminary' AND type = 'lab_result'").get()!.n;
  }

  released(limit = 100): LabRow[] {
    return this.db.prepare<[number], Parameters<typeof toLabRow>[0]>(`${SELECT} WHERE r.type = 'lab_result' AND r.review_status IN ('final', 'corrected') ORDER BY r.reviewed_at DESC LIMIT ?`).all(limit).map(toLabRow);
  }

  get(id: string): LabRow | null {
    const x = this.db.prepare<[string], Parameters<typeof toLabRow>[0]>(`${SELECT} WHERE r.id = ? AND r.type = 'lab_result'`).get(id);
    return x ? toLabRow(x) : null;
  }

  versions(id: string): LabVersion[] {
    return this.db.prepare<[string], LabVersion>('SELECT version, status, value, unit, flag, by_name AS byName, at, reason FROM lab_result_versions WHERE reading_id = ? ORDER BY version').all(id);
  }

  /**
   * Release results (preliminary -> final). Each id is checked on its own: a result that is
   * not bound to a resident, already released or unknown is refused with the reason; the
   * others are released in one transaction.
   */
  async approve(ids: string[], user: User, ip: string): Promise<{ released: number; refused: { id: string; reason: string }[] }> {
    const refused: { id: string; reason: string }[] = [];
    let released = 0;
    await this.store.transactAsync((tx) => {
      const now = new Date().toISOString();
      for (const id of [...new Set(ids)]) {
        const row = tx.db.prepare<[string], Row>('SELECT id, device_id, reading, resident_id, review_status, critical, type, source FROM device_readings WHERE id = ?').get(id);
        if (!row || row.type !== 'lab_result') { refused.push({ id, reason: '结果不存在' }); continue; }
        if ((row.review_status ?? 'preliminary') !== 'preliminary') { refused.push({ id, reason: '已审核发布' }); continue; }
        if (!row.resident_id) { refused.push({ id, reason: '尚未关联居民，请先在“待关联读数”中关联' }); continue; }
        const r = JSON.parse(row.reading) as LabReading;
        tx.db.prepare("UPDATE device_readings SET review_status = 'final', reviewed_by = ?, reviewed_by_name = ?, reviewed_at = ? WHERE id = ?").run(user.username, user.displayName, now, id);
        this.addVersion(tx.db, id, 'final', r, user, now, null);
        emitReading(tx, id, r, row.resident_id, row.critical === 1, 'final');
        released++;
      }
    });
    this.counters.released += released;
    this.counters.refused += refused.length;
    this.accounts.audit(user.username, 'lab.release', ids.join(',').slice(0, 300), ip, refused.length ? `released ${released}; refused ${refused.map((r) => `${r.id}: ${r.reason}`).join('; ')}`.slice(0, 500) : `released ${released}`);
    return { released, refused };
  }

  /** Correct a released result: new value, reason required; replicates as a new version with status `corrected`. */
  async correct(id: string, newValue: string, reason: string, user: User, ip: string): Promise<LabRow> {
    const value = newValue.trim();
    const why = reason.trim();
    let critical = false;
    try {
      if (!value) throw new RegistryError('value', '请填写更正后的结果');
      if (value.length > 100) throw new RegistryError('value', '结果过长（最多 100 个字符）');
      if (why.length < 2) throw new RegistryError('reason', '请填写更正原因');
      await this.store.transactAsync((tx) => {
        const row = tx.db.prepare<[string], Row>('SELECT id, device_id, reading, resident_id, review_status, critical, type, source FROM device_readings WHERE id = ?').get(id);
        if (!row || row.type !== 'lab_result') throw new RegistryError('id', '结果不存在', 404);
        if (!['final', 'corrected'].includes(row.review_status ?? '')) throw new RegistryError('id', '只能更正已审核发布的结果；未发布的结果请先审核', 409);
        const old = JSON.parse(row.reading) as LabReading;
        const q = this.profiles.quantity(old.profileId, old.quantity);
        let numericValue: number | undefined;
        if (q && q.dataType !== 'string') {
          numericValue = Number(value.replace(/^[<>]=?/, ''));
          if (!/^[<>]?=?\s*[-+]?(\d+\.?\d*|\.\d+)$/.test(value) || !Number.isFinite(numericValue)) throw new RegistryError('value', `“${value.slice(0, 40)}”不是数字`);
        }
        const { flag: _f, numericValue: _n, ...rest } = old;
        const base: LabReading = { ...rest, value, ...(numericValue !== undefined ? { numericValue } : {}), status: 'corrected', critical: false, implausible: false };
        const r = this.ingest.evaluateFor(this.deviceFor(row.device_id, old.profileId), base) as LabReading;
        critical = r.critical;
        const now = new Date().toISOString();
        tx.db.prepare("UPDATE device_readings SET value = ?, interpretation = ?, implausible = ?, critical = ?, reading = ?, review_status = 'corrected', reviewed_by = ?, reviewed_by_name = ?, reviewed_at = ? WHERE id = ?")
          .run(r.value, r.flag ?? null, r.implausible ? 1 : 0, r.critical ? 1 : 0, JSON.stringify(r), user.username, user.displayName, now, id);
        this.addVersion(tx.db, id, 'corrected', r, user, now, why.slice(0, 300));
        if (r.critical) {
          tx.db.prepare('INSERT INTO critical_alerts (id, reading_id, device_id, resident_id, summary, raised_at) VALUES (?, ?, ?, ?, ?, ?)')
            .run(uuidv7(), id, row.device_id, row.resident_id, `${readingSummary(r, q?.displayZh)}${r.flag ? ` (${r.flag})` : ''}（更正）`, now);
        }
        if (row.resident_id) emitReading(tx, id, r, row.resident_id, r.critical, 'corrected');
      });
    } catch (e) {
      this.counters.refused++;
      this.accounts.audit(user.username, 'lab.correct', id, ip, `refused: ${(e as Error).message}`.slice(0, 500));
      throw e;
    }
    this.counters.corrected++;
    this.accounts.audit(user.username, 'lab.correct', id, ip, `ok; value ${value}; reason: ${why}${critical ? '; critical' : ''}`.slice(0, 500));
    return this.get(id)!;
  }

  private addVersion(db: EdgeStore['db'], id: string, status: string, r: LabReading, user: User, at: string, reason: string | null): void {
    const v = db.prepare<[string], { v: number }>('SELECT coalesce(max(version), 1) AS v FROM lab_result_versions WHERE reading_id = ?').get(id)!.v + 1;
    db.prepare('INSERT INTO lab_result_versions (reading_id, version, status, value, unit, flag, by_user, by_name, at, reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)')
      .run(id, v, status, r.value, r.unit ?? '', r.flag ?? null, user.username, user.displayName, at, reason);
  }

  /** Pseudo device for readings that did not come from a registered analyser. */
  private deviceFor(deviceId: string, profileId: string): Device {
    const kind = deviceId.startsWith('import:') ? 'import' : deviceId.startsWith('manual:') ? 'manual' : 'device';
    const now = new Date().toISOString();
    const p = this.profiles.get(profileId);
    return { id: deviceId, name: kind === 'import' ? `文件导入（${p?.nameZh ?? profileId}）` : kind === 'manual' ? `手工录入（${p?.nameZh ?? profileId}）` : deviceId, profileId, kind: 'lab-analyser',
      protocol: kind === 'device' ? 'astm' : kind, room: '', connection: { type: 'listener' }, sourceName: null, aeTitle: null, modality: null, pollIntervalMs: null, enabled: true, createdAt: now, updatedAt: now };
  }

  labProfiles(): DeviceProfile[] {
    return this.profiles.list().filter((p) => p.kind === 'lab-analyser');
  }

  private profileOrThrow(profileId: string): DeviceProfile {
    const p = this.profiles.get(profileId);
    if (!p || p.kind !== 'lab-analyser') throw new RegistryError('profileId', `请选择检验设备模板（未知模板 ${profileId.slice(0, 60)}）`);
    return p;
  }

  private toReading(p: DeviceProfile, deviceId: string, row: ImportRow, now: string, sourceId: string): LabReading {
    const q = p.quantities.find((x) => x.key === row.quantityKey)!;
    const range = rangeText(q.normal);
    return {
      type: 'lab_result', deviceId, profileId: p.id, quantity: q.key, at: row.at ?? now, ...(row.patientId ? { patientId: row.patientId } : {}), implausible: false, critical: false, sourceId,
      specimenId: row.specimenId, testCode: q.code, testName: q.display, value: row.value, ...(row.numericValue !== undefined ? { numericValue: row.numericValue } : {}), unit: q.unit,
      ...(range ? { referenceRange: range } : {}), status: 'final',
    };
  }

  /** Import a CSV/Excel file of results; valid rows are stored (bound by patient id or specimen), errors are returned per row. */
  async importFile(profileId: string, fileName: string, buf: Uint8Array, user: User, ip: string): Promise<ImportOutcome> {
    const p = this.profileOrThrow(profileId);
    const parsed = await parseImportFile(buf, p);
    const deviceId = `import:${p.id}`;
    const now = new Date().toISOString();
    // A re-import of the same file is recognised row by row (specimen, test, time) and not stored twice.
    const readings: Reading[] = parsed.rows.map((r) => this.toReading(p, deviceId, r, now, `${r.specimenId}|${r.quantityKey}${r.at ? `|${r.at}` : ''}`));
    let out: BatchOutcome | undefined;
    if (readings.length > 0) out = await this.ingest.storeBatch(this.deviceFor(deviceId, p.id), readings);
    this.counters.importFiles++;
    this.counters.importRows += out?.stored ?? 0;
    this.counters.importRowErrors += parsed.errors.length;
    const res: ImportOutcome = { total: parsed.total, imported: out?.stored ?? 0, duplicates: out?.duplicates ?? 0, unbound: out?.unbound ?? 0, critical: out?.critical ?? 0, errors: parsed.errors };
    this.accounts.audit(user.username, 'lab.import', `${fileName.slice(0, 100)} (${p.id})`, ip, `rows ${res.total}; imported ${res.imported}; duplicates ${res.duplicates}; errors ${res.errors.length}`);
    return res;
  }

  /** Manual entry of one specimen's results (values keyed by quantity key; empty ones skipped). */
  async manualEntry(input: { profileId: string; specimenId: string; patientId: string; at: string; values: Record<string, string> }, user: User, ip: string): Promise<{ outcome: BatchOutcome; errors: string[] }> {
    const p = this.profileOrThrow(input.profileId);
    // Same checks as a file import: build a one-specimen table and parse it.
    const entries = Object.entries(input.values).filter(([, v]) => v.trim() !== '');
    const header = ['标本号', '患者号', '项目代码', '结果', ...(input.at.trim() ? ['检测时间'] : [])];
    const table = [header, ...entries.map(([k, v]) => [input.specimenId, input.patientId, k, v, ...(input.at.trim() ? [input.at.replace('T', ' ')] : [])])];
    const parsed = entries.length === 0 ? { rows: [], errors: [{ row: 0, col: '', message: '请至少填写一个项目的结果' }], total: 0 } : parseTable(table, p);
    // Row numbers mean nothing on a form: name the test instead.
    const errors = parsed.errors.map((e) => (e.row >= 2 ? e.message.replace(/^第 \d+ 行，第 [A-Z]+ 列/, `${p.quantities.find((q) => q.key === entries[e.row - 2]?.[0])?.displayZh ?? entries[e.row - 2]?.[0] ?? ''}`) : e.message));
    if (errors.length > 0) {
      this.accounts.audit(user.username, 'lab.manual', input.specimenId.slice(0, 64), ip, `refused: ${errors.join('; ')}`.slice(0, 500));
      return { outcome: { stored: 0, duplicates: 0, bound: 0, unbound: 0, implausible: 0, critical: 0 }, errors };
    }
    const deviceId = `manual:${p.id}`;
    const now = new Date().toISOString();
    const readings = parsed.rows.map((r) => this.toReading(p, deviceId, r, now, `${r.specimenId}|${r.quantityKey}|${r.at ?? now}|${user.username}`));
    const outcome = (await this.ingest.storeBatch(this.deviceFor(deviceId, p.id), readings))!;
    this.counters.manual += outcome.stored;
    this.accounts.audit(user.username, 'lab.manual', input.specimenId.slice(0, 64), ip, `ok; ${outcome.stored} result(s)`);
    return { outcome, errors: [] };
  }

  /** Tests and vital signs a resident has numeric readings for (code -> display). */
  trendCodes(residentId: string): { code: string; display: string; n: number }[] {
    return this.db.prepare<[string], { code: string; display: string; n: number }>(
      'SELECT code, max(display) AS display, count(*) AS n FROM device_readings WHERE resident_id = ? AND implausible = 0 GROUP BY code ORDER BY display').all(residentId);
  }

  /** A resident's numeric readings of one code, oldest first (current value of corrected results). */
  trend(residentId: string, code: string, limit = 200): { at: string; value: number; status: string | null; flag: string | null; unit: string }[] {
    return this.db.prepare<[string, string, number], { at: string; value: string; status: string | null; flag: string | null; unit: string }>(
      `SELECT at, value, review_status AS status, interpretation AS flag, unit FROM (SELECT * FROM device_readings WHERE resident_id = ? AND code = ? AND implausible = 0 ORDER BY at DESC LIMIT ?) ORDER BY at`)
      .all(residentId, code, limit).map((r) => ({ ...r, value: Number(String(r.value).replace(/^[<>]=?/, '')) })).filter((r) => Number.isFinite(r.value));
  }

  /** Normal and critical ranges for a code, from the first profile that has it. */
  rangesFor(code: string): { normal?: { low?: number; high?: number }; critical?: { low?: number; high?: number }; unit: string; displayZh?: string } | null {
    for (const p of this.profiles.list()) {
      const q = p.quantities.find((x) => x.code === code);
      if (q) return { ...(q.normal ? { normal: q.normal } : {}), ...(q.critical ? { critical: q.critical } : {}), unit: q.unit, ...(q.displayZh ? { displayZh: q.displayZh } : {}) };
    }
    return null;
  }
}
