/**
 * E1394 message (H, P, O, R, C, L) to typed lab readings using an analyser profile.
 * Results whose test id is not in the profile are still delivered (testCode `LOCAL:<id>`)
 * and reported, so nothing an analyser measured is silently lost.
 */
import type { AstmProfile, Quantity } from '../profiles/schema.ts';
import { evaluate, rangeText, type Interpretation, type LabReading } from '../readings.ts';
import { parseHl7Time } from '../hl7/message.ts';
import { componentOf, fieldOf, parseRecords, type AstmRecord } from './records.ts';

export interface AstmResultSet {
  readings: LabReading[];
  problems: string[];
  /** H-5 sender name (first component) */
  sender: string;
  /** true when the message ended with an L record */
  terminated: boolean;
}

const FLAGS = new Set(['L', 'H', 'LL', 'HH', 'N', 'A']);

function statusOf(s: string): LabReading['status'] | null {
  switch (s.toUpperCase()) {
    case 'F': case '': return 'final';
    case 'C': return 'corrected';
    case 'P': case 'R': case 'I': case 'S': case 'M': case 'Q': return 'preliminary';
    default: return null; // X: test cannot be done, V: verified-only... not a value
  }
}

/** Parse a decoded message text into lab readings. Throws AstmParseError on a bad message. */
export function astmToReadings(text: string, profile: AstmProfile, opts: { deviceId?: string; defaultOffset?: string } = {}): AstmResultSet {
  const { delimiters: d, records } = parseRecords(text);
  const byTest = new Map<string, Quantity>();
  for (const q of profile.quantities) if (q.astm) byTest.set(q.astm.testId.toUpperCase(), q);
  const h = records[0]!;
  const sender = componentOf(fieldOf(h, 5), 1, d);
  const deviceId = (opts.deviceId ?? sender) || 'unknown';
  const off = opts.defaultOffset ?? '+08:00';
  const headerTime = parseHl7Time(fieldOf(h, 14), off) ?? new Date().toISOString();
  const readings: LabReading[] = [];
  const problems: string[] = [];
  let patientId: string | undefined;
  let specimenId = '';
  let orderTime: string | undefined;
  let last: LabReading | undefined;
  let terminated = false;
  records.forEach((r: AstmRecord, i) => {
    switch (r.type) {
      case 'P':
        patientId = componentOf(fieldOf(r, 3), 1, d) || componentOf(fieldOf(r, 4), 1, d) || componentOf(fieldOf(r, 5), 1, d) || undefined;
        specimenId = '';
        return;
      case 'O':
        specimenId = componentOf(fieldOf(r, 3), 1, d) || componentOf(fieldOf(r, 4), 1, d);
        orderTime = parseHl7Time(fieldOf(r, 8), off) ?? parseHl7Time(fieldOf(r, 7), off) ?? undefined;
        return;
      case 'L':
        terminated = true;
        return;
      case 'C':
        // a comment on the previous result travels with it in the reference-range text
        if (last && fieldOf(r, 4)) last.referenceRange = `${last.referenceRange ?? ''} ${componentOf(fieldOf(r, 4), 1, d)}`.trim().slice(0, 50);
        return;
      case 'R': break;
      default: return;
    }
    const rawTest = fieldOf(r, 3);
    const testId = componentOf(rawTest, 4, d) || componentOf(rawTest, 1, d);
    if (!testId) { problems.push(`R record ${i + 1}: no test id`); return; }
    const status = statusOf(fieldOf(r, 9));
    if (!status) { problems.push(`R ${testId}: status ${fieldOf(r, 9)} carries no value`); return; }
    const value = componentOf(fieldOf(r, 4), 1, d);
    if (!value) { problems.push(`R ${testId}: empty value`); return; }
    if (!specimenId) problems.push(`R ${testId}: no specimen id (no O record before it)`);
    const q = byTest.get(testId.toUpperCase());
    if (!q) problems.push(`R ${testId}: test not in profile ${profile.id}`);
    const num = /^[+-]?(\d+(\.\d*)?|\.\d+)$/.test(value.trim()) ? Number(value) : undefined;
    const ev = q && num !== undefined ? evaluate(q, num) : { implausible: false, critical: false };
    const devFlag = fieldOf(r, 7).toUpperCase();
    const flag: Interpretation | 'A' | undefined = ev.interpretation ?? (FLAGS.has(devFlag) ? (devFlag as Interpretation | 'A') : undefined);
    const at = parseHl7Time(fieldOf(r, 13), off) ?? orderTime ?? headerTime;
    const spec = specimenId || 'UNKNOWN';
    const reading: LabReading = {
      type: 'lab_result',
      deviceId,
      profileId: profile.id,
      quantity: q?.key ?? testId,
      at,
      ...(patientId ? { patientId } : {}),
      implausible: ev.implausible,
      critical: ev.critical || devFlag === 'LL' || devFlag === 'HH',
      sourceId: `${deviceId}:${spec}:${testId}:${fieldOf(r, 13) || fieldOf(h, 14)}`,
      specimenId: spec.slice(0, 64),
      testCode: q?.code ?? `LOCAL:${testId}`.slice(0, 64),
      testName: q?.display ?? testId,
      value: value.slice(0, 100),
      ...(num !== undefined ? { numericValue: num } : {}),
      ...(componentOf(fieldOf(r, 5), 1, d) || q?.unit ? { unit: (componentOf(fieldOf(r, 5), 1, d) || q?.unit || '').slice(0, 20) } : {}),
      ...(fieldOf(r, 6) || rangeText(q?.normal) ? { referenceRange: (componentOf(fieldOf(r, 6), 1, d) || rangeText(q?.normal) || '').slice(0, 50) } : {}),
      ...(flag ? { flag } : {}),
      status,
    };
    readings.push(reading);
    last = reading;
  });
  return { readings, problems, sender, terminated };
}

/** Decode analyser bytes: UTF-8 when valid, else GB18030 (Chinese analysers' usual charset). */
export function decodeAstmText(bytes: Uint8Array, encoding?: string): string {
  if (encoding) return new TextDecoder(encoding).decode(bytes);
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return new TextDecoder('gb18030').decode(bytes);
  }
}
