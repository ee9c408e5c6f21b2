/**
 * Which open orders a study on the reconciliation list most likely belongs to. The matcher
 * (ingest.ts) links a study by itself only when exactly one order fits by accession + Study UID
 * or by PatientID; what is left needs a person, who should see the plausible orders first
 * rather than every open order of the clinic sorted by date. Nothing is linked here: this only
 * orders the choice, and never pre-selects one (a wrong link files images under another patient).
 */
import type { OrderRow, StudyRow } from './repo.ts';

export type CandidateReason = 'name' | 'id' | 'birth' | 'modality' | 'date';

export interface Candidate {
  order: OrderRow;
  /** What the study and the order have in common, strongest first. */
  reasons: CandidateReason[];
  score: number;
}

const WEIGHT: Record<CandidateReason, number> = { id: 8, name: 6, birth: 3, modality: 2, date: 1 };

/**
 * A DICOM person name (PN) as comparable text: its component groups (alphabetic, ideographic,
 * phonetic, separated by '='), each without the '^' component separators and spaces, lower-cased.
 * "王^建国", "王建国" and "WANG^JIANGUO=王^建国" all contain "王建国".
 */
export function nameForms(pn: string | null): string[] {
  if (!pn) return [];
  return pn.split('=').map((g) => g.replace(/[\^\s]/g, '').toLowerCase()).filter((g) => g.length > 0);
}

/** 'YYYYMMDD' or 'YYYY-MM-DD' as 'YYYYMMDD'; anything else null. */
function day(d: string | null): string | null {
  if (!d) return null;
  const s = d.replaceAll('-', '');
  return /^\d{8}$/.test(s) ? s : null;
}

/** The clinic's calendar day (Asia/Shanghai) of an ISO instant, as 'YYYYMMDD'. */
function localDay(iso: string): string {
  return new Date(iso).toLocaleDateString('sv-SE', { timeZone: 'Asia/Shanghai' }).replaceAll('-', '');
}

function daysApart(a: string, b: string): number {
  const t = (s: string) => Date.UTC(Number(s.slice(0, 4)), Number(s.slice(4, 6)) - 1, Number(s.slice(6, 8)));
  return Math.abs(t(a) - t(b)) / 86_400_000;
}

export function candidateReasons(study: StudyRow, order: OrderRow): CandidateReason[] {
  const reasons: CandidateReason[] = [];
  const pid = study.patientId?.trim();
  if (pid && (pid === order.residentId || (order.residentIdNumber !== null && pid.toUpperCase() === order.residentIdNumber.toUpperCase()))) reasons.push('id');
  const resident = nameForms(order.residentName)[0];
  if (resident && nameForms(study.patientName).includes(resident)) reasons.push('name');
  const birth = day(study.patientBirthDate);
  if (birth && birth === day(order.residentBirthDate)) reasons.push('birth');
  if (study.modality && study.modality === order.modality) reasons.push('modality');
  const studyDay = day(study.studyDate) ?? localDay(study.firstReceivedAt);
  const scheduled = day(order.scheduledDate);
  if (scheduled && daysApart(studyDay, scheduled) <= 1) reasons.push('date');
  return reasons;
}

/**
 * The open orders split into those that name the same person (PatientID or name in the images)
 * and the rest, each best first (more in common, then the scheduled day nearest the study's).
 */
export function rankCandidates(study: StudyRow, orders: OrderRow[]): { likely: Candidate[]; others: Candidate[] } {
  const studyDay = day(study.studyDate) ?? localDay(study.firstReceivedAt);
  const distance = (o: OrderRow) => { const d = day(o.scheduledDate); return d ? daysApart(studyDay, d) : Infinity; };
  const all = orders.map((order) => {
    const reasons = candidateReasons(study, order);
    return { order, reasons, score: reasons.reduce((s, r) => s + WEIGHT[r], 0) };
  });
  all.sort((a, b) => b.score - a.score || distance(a.order) - distance(b.order) || a.order.accessionNumber.localeCompare(b.order.accessionNumber));
  const samePerson = (c: Candidate) => c.reasons.includes('id') || c.reasons.includes('name');
  return { likely: all.filter(samePerson), others: all.filter((c) => !samePerson(c)) };
}
