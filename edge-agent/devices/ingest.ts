/**
 * Readings -> durable rows + spine records, in ONE group-committed transaction per batch
 * (`store.transactAsync`); the promise resolves when the COMMIT is durable, and only then
 * does the driver acknowledge the device. Readings are re-evaluated against the
 * institution's critical ranges, bound to a resident when possible (else they wait in the
 * unbound list: none dropped), flagged when implausible, and critical ones raise an alert.
 * A bound reading is emitted as an `observation` / `lab_result` record; an unbound one is
 * emitted when a person binds it, so central receives each reading once, with its resident.
 */
import { uuidv7 } from '../../contracts/ids.ts';
import { recordTypes } from '../../contracts/index.ts';
import { evaluate, toRecord, type Reading } from '../../device-drivers/index.ts';
import { RecordValidationError, type EdgeStore, type Tx } from '../store/store.ts';
import type { Accounts } from '../web/accounts.ts';
import { bindReading } from './binding.ts';
import type { ProfileCatalog } from './profiles.ts';
import type { CriticalRanges } from './ranges.ts';
import { RegistryError, type Actor, type Device } from './registry.ts';

export interface IngestCounters {
  batches: number;
  stored: number;
  duplicates: number;
  unchanged: number;
  bound: number;
  unbound: number;
  implausible: number;
  critical: number;
  failed: number;
  resolved: number;
}

export interface BatchOutcome { stored: number; duplicates: number; bound: number; unbound: number; implausible: number; critical: number }

/** Where a reading came from: a device driver, a file import or manual entry (pseudo devices `import:<profile>`, `manual:<profile>`). */
function readingSource(device: Device): 'device' | 'import' | 'manual' {
  return device.protocol === 'import' ? 'import' : device.protocol === 'manual' ? 'manual' : 'device';
}

interface ReadingRow { id: string; device_id: string; reading: string; critical: number; resident_id: string | null; implausible: number; interpretation: string | null }

/** Short text for the UI (the profile's Chinese name when it has one; the record keeps the profile's display). */
export function readingSummary(r: Reading, label?: string): string {
  return r.type === 'observation' ? `${label ?? r.display} ${r.value} ${r.unit}` : `${label ?? r.testName} ${r.value}${r.unit ? ` ${r.unit}` : ''}`;
}

export class Ingest {
  readonly counters: IngestCounters = { batches: 0, stored: 0, duplicates: 0, unchanged: 0, bound: 0, unbound: 0, implausible: 0, critical: 0, failed: 0, resolved: 0 };
  /** Last polled values per Modbus device: a monitor keeps showing its last measurement, so the same values polled again are the same measurement. */
  private lastSnapshot = new Map<string, string>();

  constructor(private readonly store: EdgeStore, private readonly accounts: Accounts, private readonly profiles: ProfileCatalog, private readonly ranges: CriticalRanges) {}

  /** Re-evaluate against this institution's ranges (profile defaults unless edited). */
  private reevaluate(device: Device, r: Reading): Reading {
    const p = this.profiles.get(device.profileId);
    const q = p?.quantities.find((x) => x.key === r.quantity) ?? p?.quantities.find((x) => (r.type === 'observation' ? x.code === r.code : x.code === r.testCode));
    if (!p || !q) return r;
    const eff = this.ranges.effective(p.id, q);
    if (r.type === 'observation') {
      const ev = evaluate(eff, r.value);
      const { interpretation: _old, ...rest } = r;
      return { ...rest, profileId: p.id, implausible: ev.implausible, critical: ev.critical, ...(ev.interpretation ? { interpretation: ev.interpretation } : {}) };
    }
    if (r.numericValue === undefined) return { ...r, profileId: p.id };
    const ev = evaluate(eff, r.numericValue);
    const deviceCritical = r.flag === 'LL' || r.flag === 'HH';
    const flag = ev.interpretation ?? r.flag;
    return { ...r, profileId: p.id, implausible: ev.implausible, critical: ev.critical || (deviceCritical && !ev.implausible), ...(flag ? { flag } : {}) };
  }

  private label(device: Device, r: Reading): string {
    return this.profiles.quantity(device.profileId, r.quantity)?.displayZh ?? (r.type === 'observation' ? r.display : r.testName);
  }

  /** Re-evaluate a reading against the institution's ranges of `device`'s profile (lab corrections, manual entry). */
  evaluateFor(device: Device, r: Reading): Reading {
    return this.reevaluate(device, r);
  }

  /** Store one batch from a device. Resolves after the commit is durable (ACK point), with what happened to it. */
  async storeBatch(device: Device, batch: Reading[]): Promise<BatchOutcome | undefined> {
    if (batch.length === 0) return;
    if (device.protocol === 'modbus') {
      const snap = JSON.stringify(batch.map((r) => [r.quantity, r.type === 'observation' ? r.value : r.value]));
      if (this.lastSnapshot.get(device.id) === snap) { this.counters.unchanged += batch.length; return; }
      try {
        const out = await this.write(device, batch);
        this.lastSnapshot.set(device.id, snap);
        return out;
      } catch (e) {
        this.counters.failed++;
        throw e;
      }
    }
    try {
      return await this.write(device, batch);
    } catch (e) {
      this.counters.failed++;
      throw e;
    }
  }

  private write(device: Device, batch: Reading[]): Promise<BatchOutcome> {
    const local = { stored: 0, duplicates: 0, bound: 0, unbound: 0, implausible: 0, critical: 0 };
    return this.store.transactAsync((tx) => {
      const db = tx.db;
      const exists = db.prepare<[string, string], { n: number }>('SELECT count(*) AS n FROM device_readings WHERE device_id = ? AND source_id = ?');
      const now = new Date().toISOString();
      let last: Reading | undefined;
      for (const raw of batch) {
        // Re-sent after a lost ACK: already stored, acknowledge again without a second copy.
        if (exists.get(device.id, raw.sourceId)!.n > 0) { local.duplicates++; continue; }
        const r = this.reevaluate(device, raw);
        const b = bindReading(db, device.id, r);
        const id = uuidv7();
        const orderId = r.type === 'lab_result' ? (r.orderId ?? b?.orderId) : undefined;
        const withOrder: Reading = r.type === 'lab_result' && orderId ? { ...r, orderId } : r;
        db.prepare(`INSERT INTO device_readings (id, device_id, source_id, type, quantity, code, display, value, unit, at, received_at, device_patient_id, specimen_id, order_id,
          interpretation, implausible, critical, resident_id, bound_by, bound_at, reading, review_status, source) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`).run(
          id, device.id, r.sourceId, r.type, r.quantity, r.type === 'observation' ? r.code : r.testCode, this.label(device, r),
          String(r.value), r.unit ?? '', r.at, now, r.patientId ?? null, r.type === 'lab_result' ? r.specimenId : null, orderId ?? null,
          r.type === 'observation' ? (r.interpretation ?? null) : (r.flag ?? null), r.implausible ? 1 : 0, r.critical ? 1 : 0,
          b?.residentId ?? null, b?.by ?? null, b ? now : null, JSON.stringify(withOrder), r.type === 'lab_result' ? 'preliminary' : null, readingSource(device));
        if (b) { emitReading(tx, id, withOrder, b.residentId, r.critical); local.bound++; } else { checkRecord(id, withOrder); local.unbound++; }
        if (r.implausible) local.implausible++;
        if (r.critical) {
          local.critical++;
          const interp = r.type === 'observation' ? r.interpretation : r.flag;
          db.prepare('INSERT INTO critical_alerts (id, reading_id, device_id, resident_id, summary, raised_at) VALUES (?, ?, ?, ?, ?, ?)')
            .run(uuidv7(), id, device.id, b?.residentId ?? null, `${readingSummary(r, this.label(device, r))}${interp ? ` (${interp})` : ''}`, now);
        }
        local.stored++;
        last = r;
      }
      if (last || local.duplicates) {
        const lastText = last ? batch.length > 1 ? batch.filter((x) => x.at === last!.at).map((x) => readingSummary(x, this.label(device, x))).join('；').slice(0, 300) : readingSummary(last, this.label(device, last)) : null;
        db.prepare(`UPDATE device_status SET readings = readings + ?, implausible = implausible + ?, critical = critical + ?,
          last_reading_at = coalesce(?, last_reading_at), last_reading = coalesce(?, last_reading) WHERE device_id = ?`)
          .run(local.stored, local.implausible, local.critical, last ? now : null, lastText, device.id);
      }
    }).then(() => {
      this.counters.batches++;
      for (const k of Object.keys(local) as (keyof typeof local)[]) this.counters[k] += local[k];
      if (local.critical) for (const a of this.criticalListeners) a();
      return local;
    });
  }

  private criticalListeners: (() => void)[] = [];
  onCritical(fn: () => void): void { this.criticalListeners.push(fn); }

  unbound(limit = 200): { id: string; deviceId: string; deviceName: string; display: string; value: string; unit: string; at: string; patientId: string | null; specimenId: string | null; implausible: boolean; critical: boolean }[] {
    return this.store.db.prepare<[number], { id: string; deviceId: string; deviceName: string; display: string; value: string; unit: string; at: string; patientId: string | null; specimenId: string | null; implausible: number; critical: number }>(
      `SELECT r.id, r.device_id AS deviceId, coalesce(d.name, r.device_id) AS deviceName, r.display, r.value, r.unit, r.at, r.device_patient_id AS patientId, r.specimen_id AS specimenId, r.implausible, r.critical
       FROM device_readings r LEFT JOIN devices d ON d.id = r.device_id WHERE r.resident_id IS NULL ORDER BY r.received_at LIMIT ?`).all(limit)
      .map((x) => ({ ...x, implausible: x.implausible === 1, critical: x.critical === 1 }));
  }

  unboundCount(): number {
    return this.store.db.prepare<[], { n: number }>('SELECT count(*) AS n FROM device_readings WHERE resident_id IS NULL').get()!.n;
  }

  recent(deviceId: string, limit = 20): { display: string; value: string; unit: string; at: string; interpretation: string | null; implausible: boolean; critical: boolean; residentName: string | null }[] {
    return this.store.db.prepare<[string, number], { display: string; value: string; unit: string; at: string; interpretation: string | null; implausible: number; critical: number; residentName: string | null }>(
      `SELECT r.display, r.value, r.unit, r.at, r.interpretation, r.implausible, r.critical, p.name AS residentName FROM device_readings r LEFT JOIN residents p ON p.resident_id = r.resident_id
       WHERE r.device_id = ? ORDER BY r.received_at DESC, r.rowid DESC LIMIT ?`).all(deviceId, limit).map((x) => ({ ...x, implausible: x.implausible === 1, critical: x.critical === 1 }));
  }

  /** A person binds an unbound reading to a resident: the record is emitted now, with the resident. Audited. */
  async resolve(readingId: string, residentId: string, by: Actor): Promise<void> {
    try {
      await this.store.transactAsync((tx) => {
        const row = tx.db.prepare<[string], ReadingRow>('SELECT * FROM device_readings WHERE id = ?').get(readingId);
        if (!row) throw new RegistryError('id', `读数不存在 / no reading ${readingId}`, 404);
        if (row.resident_id) throw new RegistryError('id', '该读数已关联居民 / already bound', 409);
        const res = tx.db.prepare<[string], { n: number }>('SELECT count(*) AS n FROM residents WHERE resident_id = ?').get(residentId)!.n;
        if (!res) throw new RegistryError('residentId', `居民不存在 / no resident ${residentId}`, 404);
        tx.db.prepare('UPDATE device_readings SET resident_id = ?, bound_by = ?, bound_at = ? WHERE id = ?').run(residentId, `manual:${by.username}`, new Date().toISOString(), readingId);
        tx.db.prepare('UPDATE critical_alerts SET resident_id = ? WHERE reading_id = ? AND resident_id IS NULL').run(residentId, readingId);
        emitReading(tx, readingId, JSON.parse(row.reading) as Reading, residentId, row.critical === 1);
      });
    } catch (e) {
      this.accounts.audit(by.username, 'device.reading.bind', `${readingId} -> ${residentId}`, by.ip, `refused: ${(e as Error).message}`.slice(0, 300));
      throw e;
    }
    this.counters.resolved++;
    this.accounts.audit(by.username, 'device.reading.bind', `${readingId} -> ${residentId}`, by.ip, 'ok');
  }
}

/** An unbound reading is emitted later: refuse now what the spine would refuse then (the device gets AE/NAK now). */
function checkRecord(id: string, r: Reading): void {
  const rec = toRecord(r, { id, residentId: 'pending' });
  const ok = rec.type === 'observation' ? recordTypes.observation.safeParse(rec.payload) : recordTypes.lab_result.safeParse(rec.payload);
  if (!ok.success) throw new RecordValidationError(rec.type, ok.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message })));
}

/** Critical readings (institution ranges) go in the relay's priority lane (edge-agent/sync/README.md). */
export function emitReading(tx: Tx, id: string, r: Reading, residentId: string, critical: boolean, labStatus: 'preliminary' | 'final' | 'corrected' = 'preliminary'): void {
  const rec = toRecord(r, { id, residentId });
  const opts = critical ? { priority: true } : undefined;
  if (rec.type === 'observation') tx.emit('observation', id, rec.payload, opts);
  // A lab result replicates as preliminary until a technician releases it (lab.ts): the analyser's "final" is not the lab's.
  else tx.emit('lab_result', id, { ...rec.payload, status: labStatus }, opts);
}
