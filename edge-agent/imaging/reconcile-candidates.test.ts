import t from 'tap';
import fc from 'fast-check';
import { candidateReasons, nameForms, rankCandidates } from './reconcile-candidates.ts';
import type { OrderRow, StudyRow } from './repo.ts';

const order = (o: Partial<OrderRow> & { accessionNumber: string }): OrderRow => ({
  orderId: `o-${o.accessionNumber}`, residentId: 'R-1', studyInstanceUid: '1.2.3', modality: 'US', code: 'US-ABD', display: '腹部超声', stationAe: null,
  scheduledDate: '20261201', scheduledTime: null, status: 'scheduled', requestedBy: 'admin', createdAt: '2026-12-01T00:00:00Z',
  residentName: '王建国', residentSex: 'M', residentBirthDate: '1960-03-07', residentIdNumber: '11010519600307001X', instances: 0, forwarded: 0, mpps: null, mppsListed: 0, mppsReceived: 0, ...o,
});
const study = (s: Partial<StudyRow> = {}): StudyRow => ({
  studyInstanceUid: '1.2.9', orderId: null, residentId: null, accessionNumber: null, patientId: null, patientName: null, patientBirthDate: null, patientSex: null,
  modality: 'US', studyDate: '20261201', description: null, stationAe: 'US_ROOM1', matchKind: 'none', matchReason: null, resolvedBy: null,
  firstReceivedAt: '2026-12-01T01:00:00Z', lastReceivedAt: '2026-12-01T01:00:00Z', instances: 1, forwarded: 0, ...s,
});

t.test('DICOM person names compare without separators, in any of their component groups', async (t) => {
  t.same(nameForms('王^建国'), ['王建国']);
  t.same(nameForms('WANG^JIANGUO=王^建国'), ['wangjianguo', '王建国']);
  t.same(nameForms('  '), []);
  t.same(nameForms(null), []);
});

t.test('reasons: patient ID (resident id or ID number), name, birth date, modality, date within a day', async (t) => {
  const o = order({ accessionNumber: 'A1' });
  t.same(candidateReasons(study({ patientId: '11010519600307001x', patientName: 'WANG^JIANGUO=王^建国', patientBirthDate: '19600307' }), o), ['id', 'name', 'birth', 'modality', 'date']);
  t.same(candidateReasons(study({ patientId: 'R-1' }), o), ['id', 'modality', 'date']);
  t.same(candidateReasons(study({ patientName: '王建华', modality: 'DX', studyDate: '20261125' }), o), [], 'a different name, modality and week: nothing in common');
  // No StudyDate in the images: the clinic's day it arrived (01:00 UTC on 12-01 is 09:00 in Shanghai).
  t.same(candidateReasons(study({ studyDate: null, firstReceivedAt: '2026-11-30T17:00:00Z' }), order({ accessionNumber: 'A2', scheduledDate: '20261202' })), ['modality', 'date']);
});

t.test('the same person first, then the rest; each best first; every open order offered once', async (t) => {
  const orders = [
    order({ accessionNumber: 'A1', residentId: 'R-2', residentName: '赵丽', residentIdNumber: null, scheduledDate: '20261201' }),
    order({ accessionNumber: 'A2', scheduledDate: '20261128' }),
    order({ accessionNumber: 'A3', scheduledDate: '20261201' }),
    order({ accessionNumber: 'A4', modality: 'DX', residentId: 'R-3', residentName: '李华', residentIdNumber: null }),
  ];
  const r = rankCandidates(study({ patientName: '王^建国', patientId: 'UNKNOWN-1' }), orders);
  t.same(r.likely.map((c) => c.order.accessionNumber), ['A3', 'A2'], 'name matches: the order of the study day before the older one');
  t.same(r.others.map((c) => c.order.accessionNumber), ['A1', 'A4'], 'others: same modality and day before a different modality');
  t.same(rankCandidates(study(), []), { likely: [], others: [] });
});

t.test('generated studies and orders: a partition of the open orders, likely exactly those naming the person', async (t) => {
  const names = ['王建国', '赵丽', '李华', null];
  const ids = ['R-1', 'R-2', '110105196003070011', null];
  const dates = ['20261130', '20261201', '20261202', '20261110', null];
  const arbOrder = fc.record({
    residentName: fc.constantFrom(...names), residentId: fc.constantFrom('R-1', 'R-2', 'R-3'), residentIdNumber: fc.constantFrom(...ids),
    modality: fc.constantFrom('US', 'DX', 'CR'), scheduledDate: fc.constantFrom('20261130', '20261201', '20261202', '20261110'), residentBirthDate: fc.constantFrom('1960-03-07', null),
  });
  const arbStudy = fc.record({
    patientName: fc.oneof(fc.constantFrom(...names), fc.string({ maxLength: 12 })), patientId: fc.oneof(fc.constantFrom(...ids), fc.string({ maxLength: 12 })),
    modality: fc.constantFrom('US', 'DX', null), studyDate: fc.oneof(fc.constantFrom(...dates), fc.string({ maxLength: 10 })), patientBirthDate: fc.constantFrom('19600307', null, 'garbage'),
  });
  fc.assert(fc.property(arbStudy, fc.array(arbOrder, { maxLength: 12 }), (s, os) => {
    const orders = os.map((o, i) => order({ ...o, modality: o.modality as OrderRow['modality'], accessionNumber: `A${i}` }));
    const r = rankCandidates(study(s), orders);
    const offered = [...r.likely, ...r.others].map((c) => c.order.accessionNumber).sort();
    if (JSON.stringify(offered) !== JSON.stringify(orders.map((o) => o.accessionNumber).sort())) return false;
    if (!r.likely.every((c) => c.reasons.includes('id') || c.reasons.includes('name'))) return false;
    if (r.others.some((c) => c.reasons.includes('id') || c.reasons.includes('name'))) return false;
    const sorted = (cs: { score: number }[]) => cs.every((c, i) => i === 0 || cs[i - 1]!.score >= c.score);
    return sorted(r.likely) && sorted(r.others);
  }), { numRuns: 300 });
  t.pass('partition and order hold for generated inputs');
});
