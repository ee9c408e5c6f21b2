/**
 * ORU^R01 (and the R30/R31 variants monitors send) to typed observation readings, using a
 * device profile to map OBX-3 to quantities. Pure: message in, readings + problems out.
 * Unknown OBX codes and non-numeric values are reported as problems, never silently lost.
 */
import type { Hl7Profile, Quantity } from '../profiles/schema.ts';
import { evaluate, roundTo, type ObservationReading } from '../readings.ts';
import { component, field, parseHl7Time, type Hl7Message, type Segment } from './message.ts';

export interface OruResult {
  readings: ObservationReading[];
  /** OBX segments that could not be turned into a reading, with why */
  problems: string[];
  patientId?: string;
}

const NUMERIC_TYPES = new Set(['NM', 'SN', 'ST', 'TX', 'CE', 'CWE', '']);

function quantityIndex(profile: Hl7Profile): Map<string, Quantity> {
  const m = new Map<string, Quantity>();
  for (const q of profile.quantities) for (const id of q.hl7?.observationIds ?? []) m.set(id.toUpperCase(), q);
  return m;
}
const indexCache = new WeakMap<Hl7Profile, Map<string, Quantity>>();

/** SN (structured numeric) `^182` or `>^300`: take the number. */
function numericValue(raw: string, type: string, msg: Hl7Message): number | null {
  const d = msg.delimiters;
  let s = raw;
  if (type === 'SN') {
    const parts = raw.split(d.component);
    s = parts[1] ?? parts[0] ?? '';
  } else {
    s = component(raw, 1, d);
  }
  s = s.trim();
  if (!/^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/.test(s)) return null;
  return Number(s);
}

/**
 * Extract observations from a parsed ORU message.
 * @param deviceId registered device id (the caller decides, e.g. from MSH-3/MSH-4)
 */
export function oruToReadings(msg: Hl7Message, profile: Hl7Profile, deviceId: string, defaultOffset = '+08:00'): OruResult {
  const d = msg.delimiters;
  let idx = indexCache.get(profile);
  if (!idx) { idx = quantityIndex(profile); indexCache.set(profile, idx); }
  const msh = msg.segments[0];
  const fallbackTime = parseHl7Time(component(field(msh, 7), 1, d), defaultOffset) ?? new Date().toISOString();
  const readings: ObservationReading[] = [];
  const problems: string[] = [];
  let patientId: string | undefined;
  let obrTime: string | undefined;
  let obrIndex = 0;
  msg.segments.forEach((seg: Segment, segIndex) => {
    if (seg.id === 'PID') {
      // PID-3 patient identifier list; older devices put it in PID-2
      const id = component(field(seg, 3), 1, d) || component(field(seg, 2), 1, d);
      if (id) patientId = id;
      return;
    }
    if (seg.id === 'OBR') {
      obrIndex++;
      obrTime = parseHl7Time(component(field(seg, 7), 1, d), defaultOffset) ?? undefined;
      return;
    }
    if (seg.id !== 'OBX') return;
    const type = field(seg, 2).toUpperCase();
    const obsId = component(field(seg, 3), 1, d);
    const obsText = component(field(seg, 3), 2, d);
    const setId = field(seg, 1) || String(segIndex);
    const q = idx.get(obsId.toUpperCase()) ?? idx.get(obsText.toUpperCase());
    if (!q) { problems.push(`OBX ${setId}: unknown observation ${obsId}${obsText ? `^${obsText}` : ''}`); return; }
    const status = field(seg, 11).toUpperCase();
    if (status === 'X' || status === 'D' || status === 'W') { problems.push(`OBX ${setId}: result status ${status} (not a value)`); return; }
    if (!NUMERIC_TYPES.has(type)) { problems.push(`OBX ${setId}: value type ${type} is not numeric`); return; }
    const raw = numericValue(field(seg, 5), type, msg);
    if (raw === null) { problems.push(`OBX ${setId}: ${q.key} value ${JSON.stringify(field(seg, 5).slice(0, 20))} is not a number`); return; }
    const value = roundTo(raw, Math.max(q.decimals, decimalsOf(raw)));
    const at = parseHl7Time(component(field(seg, 14), 1, d), defaultOffset) ?? obrTime ?? fallbackTime;
    const ev = evaluate(q, value);
    const unit = component(field(seg, 6), 1, d) || q.unit;
    readings.push({
      type: 'observation',
      deviceId,
      profileId: profile.id,
      quantity: q.key,
      at,
      ...(patientId ? { patientId } : {}),
      implausible: ev.implausible,
      critical: ev.critical,
      sourceId: `${msg.controlId}:${obrIndex}:${setId}`,
      code: q.code,
      display: q.display,
      value,
      unit: unit.slice(0, 20),
      ...(ev.interpretation ? { interpretation: ev.interpretation } : {}),
    });
  });
  return { readings, problems, ...(patientId ? { patientId } : {}) };
}

function decimalsOf(n: number): number {
  const s = String(n);
  const i = s.indexOf('.');
  return i < 0 ? 0 : Math.min(6, s.length - i - 1);
}
