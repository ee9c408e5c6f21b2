import t from 'tap';
import { matchOrder, type OrderCandidate } from './order-match.ts';

const order = (id: string, over: Partial<OrderCandidate['order']> = {}): OrderCandidate['order'] => ({
  orderId: id, residentId: `res-${id}`, kind: 'imaging', code: 'US01', display: '腹部B超', status: 'scheduled', requestedAt: '2026-11-28T08:00:00+08:00', modality: 'US', ...over,
});
const cand = (id: string, over: Partial<OrderCandidate['order']> = {}, extra: Partial<OrderCandidate> = {}): OrderCandidate => ({ order: order(id, over), patientIds: [`res-${id}`, `ID-${id}`], ...extra });

t.test('accession + study UID wins', async (t) => {
  const cs = [cand('1', { accessionNumber: 'A1' }, { studyInstanceUid: '1.2.3' }), cand('2', { accessionNumber: 'A1' }, { studyInstanceUid: '1.2.4' })];
  t.match(matchOrder({ accessionNumber: 'A1', studyInstanceUid: '1.2.4' }, cs), { kind: 'accession+study', order: { orderId: '2' } });
});

t.test('accession alone when the worklist gave no study UID', async (t) => {
  t.match(matchOrder({ accessionNumber: 'A1', studyInstanceUid: '9.9' }, [cand('1', { accessionNumber: 'A1' })]), { kind: 'accession', order: { orderId: '1' } });
});

t.test('accession matches but the study UID differs: reconciliation, not a guess', async (t) => {
  const r = matchOrder({ accessionNumber: 'A1', studyInstanceUid: '9.9', patientId: 'res-1' }, [cand('1', { accessionNumber: 'A1' }, { studyInstanceUid: '1.2.3' })]);
  t.equal(r.kind, 'ambiguous');
});

t.test('falls back to PatientID, same modality, open orders only', async (t) => {
  const cs = [cand('1', { modality: 'DX' }), cand('2'), cand('3', { status: 'cancelled' }), cand('4', { kind: 'lab' })];
  cs[2]!.patientIds = ['ID-2'];
  t.match(matchOrder({ studyInstanceUid: '1.1', patientId: 'ID-2', modality: 'US' }, cs), { kind: 'patient', order: { orderId: '2' } });
  t.match(matchOrder({ accessionNumber: 'ZZ', studyInstanceUid: '1.1', patientId: 'res-1', modality: 'DX' }, cs), { kind: 'patient', order: { orderId: '1' } });
  t.match(matchOrder({ studyInstanceUid: '1.1', patientId: 'res-1', modality: 'US' }, cs), { kind: 'none' });
});

t.test('two open orders for the patient: ambiguous', async (t) => {
  const cs = [cand('1'), cand('2')];
  cs[1]!.patientIds = ['res-1'];
  t.match(matchOrder({ studyInstanceUid: '1.1', patientId: 'res-1', modality: 'US' }, cs), { kind: 'ambiguous' });
});

t.test('no keys at all', async (t) => {
  t.match(matchOrder({ studyInstanceUid: '1.1' }, [cand('1')]), { kind: 'none', reason: /no accession number and no PatientID/ });
});
