/**
 * Typed readings produced by every driver, their interpretation against a profile's
 * ranges, and the mapping onto the `observation` / `lab_result` record payloads.
 */
import type { RecordPayload } from '../contracts/index.ts';
import type { Quantity, Range } from './profiles/schema.ts';

export type Interpretation = 'N' | 'L' | 'H' | 'LL' | 'HH';

interface ReadingCommon {
  /** The registered device (Modbus device id, HL7 MSH-3/4, ASTM H-5 sender name). */
  deviceId: string;
  profileId: string;
  /** Quantity key in the profile, or the raw test id when the profile has none. */
  quantity: string;
  /** ISO date-time with offset */
  at: string;
  /** Patient id as sent by the device (HL7 PID-3, ASTM P-3/P-4); the edge binds it to a resident. */
  patientId?: string;
  /** Outside the profile's plausible range: a device problem more likely than a patient one. */
  implausible: boolean;
  /** Inside the critical range (危急值): LL or HH. */
  critical: boolean;
  /** Stable id from the device message (e.g. MSH-10 + OBX set id) so re-sends can be deduplicated. */
  sourceId: string;
}

export interface ObservationReading extends ReadingCommon {
  type: 'observation';
  code: string;
  display: string;
  value: number;
  unit: string;
  interpretation?: Interpretation;
}

export interface LabReading extends ReadingCommon {
  type: 'lab_result';
  specimenId: string;
  orderId?: string;
  testCode: string;
  testName: string;
  value: string;
  numericValue?: number;
  unit?: string;
  referenceRange?: string;
  flag?: Interpretation | 'A';
  status: 'preliminary' | 'final' | 'corrected';
}

export type Reading = ObservationReading | LabReading;

function below(r: Range | undefined, v: number): boolean {
  return r?.low !== undefined && (r.inclusive ? v <= r.low : v < r.low);
}
function above(r: Range | undefined, v: number): boolean {
  return r?.high !== undefined && (r.inclusive ? v >= r.high : v > r.high);
}

export interface Evaluation {
  implausible: boolean;
  critical: boolean;
  interpretation?: Interpretation;
}

/** Classify a value against a quantity's plausible, critical and normal ranges. */
export function evaluate(q: Pick<Quantity, 'plausible' | 'critical' | 'normal'>, value: number): Evaluation {
  if (!Number.isFinite(value) || below(q.plausible, value) || above(q.plausible, value)) return { implausible: true, critical: false };
  if (below(q.critical, value)) return { implausible: false, critical: true, interpretation: 'LL' };
  if (above(q.critical, value)) return { implausible: false, critical: true, interpretation: 'HH' };
  if (below(q.normal, value)) return { implausible: false, critical: false, interpretation: 'L' };
  if (above(q.normal, value)) return { implausible: false, critical: false, interpretation: 'H' };
  if (q.normal) return { implausible: false, critical: false, interpretation: 'N' };
  return { implausible: false, critical: false };
}

/** Round to the quantity's declared decimals (scaling can leave 36.800000000000004). */
export function roundTo(v: number, decimals: number): number {
  const f = 10 ** decimals;
  return Math.round(v * f) / f;
}

/** `low-high` text for a lab reference range. */
export function rangeText(r: Range | undefined): string | undefined {
  if (!r || (r.low === undefined && r.high === undefined)) return undefined;
  if (r.low === undefined) return `<${r.high}`;
  if (r.high === undefined) return `>${r.low}`;
  return `${r.low}-${r.high}`;
}

export type ReadingRecord =
  | { type: 'observation'; payload: RecordPayload<'observation'> }
  | { type: 'lab_result'; payload: RecordPayload<'lab_result'> };

/**
 * Map a reading onto its record payload. The caller supplies the record id and, once bound,
 * the resident id (binding is the edge's business).
 *
 *   const rec = toRecord(reading, { id: randomUUID(), residentId });
 */
export function toRecord(r: Reading, ids: { id: string; residentId?: string }): ReadingRecord {
  if (r.type === 'observation') {
    return {
      type: 'observation',
      payload: {
        observationId: ids.id,
        ...(ids.residentId ? { residentId: ids.residentId } : {}),
        code: r.code,
        display: r.display.slice(0, 100),
        value: r.value,
        unit: r.unit,
        effectiveAt: r.at,
        deviceId: r.deviceId,
        ...(r.interpretation ? { interpretation: r.interpretation } : {}),
        ...(r.implausible ? { implausible: true } : {}),
      },
    };
  }
  return {
    type: 'lab_result',
    payload: {
      resultId: ids.id,
      ...(ids.residentId ? { residentId: ids.residentId } : {}),
      specimenId: r.specimenId,
      ...(r.orderId ? { orderId: r.orderId } : {}),
      testCode: r.testCode,
      testName: r.testName.slice(0, 100),
      value: r.value.slice(0, 100),
      ...(r.unit ? { unit: r.unit } : {}),
      ...(r.referenceRange ? { referenceRange: r.referenceRange.slice(0, 50) } : {}),
      ...(r.flag ? { flag: r.flag } : {}),
      status: r.status,
      resultedAt: r.at,
      analyserId: r.deviceId,
      ...(r.implausible ? { implausible: true } : {}),
    },
  };
}
