import t from 'tap';
import fc from 'fast-check';
import { filterWorklist, matchDate, matchPersonName, matchTime, matchUidList, matchWildcard, matchWorklistItem } from './worklist-match.ts';
import type { WorklistItem } from './types.ts';

const item = (over: Partial<WorklistItem> = {}, sps: Partial<WorklistItem['scheduledProcedureStep']> = {}): WorklistItem => ({
  patientName: 'ZHANG^SAN=张三',
  patientId: 'R001',
  patientBirthDate: '19800101',
  patientSex: 'M',
  accessionNumber: 'A1',
  studyInstanceUid: '1.2.3',
  requestedProcedureId: 'RP1',
  ...over,
  scheduledProcedureStep: { modality: 'US', stationAeTitle: 'US_ROOM1', startDate: '20261128', startTime: '093000', stepId: 'S1', ...sps },
});

t.test('wildcards', async (t) => {
  t.ok(matchWildcard(undefined, 'x'));
  t.ok(matchWildcard('', undefined));
  t.ok(matchWildcard('*', 'anything'));
  t.ok(matchWildcard('US_*', 'US_ROOM1'));
  t.ok(matchWildcard('US_ROOM?', 'US_ROOM1'));
  t.notOk(matchWildcard('US_ROOM?', 'US_ROOM12'));
  t.notOk(matchWildcard('US', 'us'));
  t.ok(matchWildcard('US', 'us', true));
  t.ok(matchWildcard('a.b+c', 'a.b+c'), 'regex characters are literal');
  t.notOk(matchWildcard('a.c', 'abc'));
  t.notOk(matchWildcard('X', undefined));
});

t.test('person names: case-insensitive, any component group, Chinese wildcards per character', async (t) => {
  t.ok(matchPersonName('zhang^san', 'ZHANG^SAN=张三'));
  t.ok(matchPersonName('张三', 'ZHANG^SAN=张三'));
  t.ok(matchPersonName('张*', '张三'));
  t.ok(matchPersonName('张?', '张三'), '? is one character, not one byte');
  t.notOk(matchPersonName('张?', '张三丰'));
  t.ok(matchPersonName('ZHANG^', 'ZHANG'), 'trailing empty components ignored');
  t.notOk(matchPersonName('LI*', 'ZHANG^SAN=张三'));
});

t.test('dates and times', async (t) => {
  t.ok(matchDate('20261128', '20261128'));
  t.ok(matchDate('20261101-20261130', '20261128'));
  t.ok(matchDate('-20261128', '20261128'));
  t.ok(matchDate('20261128-', '20270101'));
  t.notOk(matchDate('20261129-', '20261128'));
  t.notOk(matchDate('-20261127', '20261128'));
  t.notOk(matchDate('20261128', undefined));
  t.ok(matchDate('2026.11.28', '20261128'), 'old dotted format');
  t.ok(matchTime('0900-1000', '093000'));
  t.ok(matchTime('0900-10', '105959'), 'partial upper bound covers its unit');
  t.notOk(matchTime('0900-1000', '100100'));
  t.ok(matchTime('093000', '093000.123'));
  t.ok(matchTime('-0930', '0930'));
});

t.test('UID lists', async (t) => {
  t.ok(matchUidList('1.2.3\\1.2.4', '1.2.4'));
  t.notOk(matchUidList('1.2.3\\1.2.4', '1.2.5'));
});

t.test('whole items', async (t) => {
  const it = item();
  t.ok(matchWorklistItem({}, it), 'empty query matches all');
  t.ok(matchWorklistItem({ modality: 'US', stationAeTitle: 'US_ROOM1', startDate: '20261128' }, it));
  t.notOk(matchWorklistItem({ modality: 'DX' }, it));
  t.notOk(matchWorklistItem({ stationAeTitle: 'DR_*' }, it));
  t.notOk(matchWorklistItem({ startDate: '20261129-' }, it));
  t.ok(matchWorklistItem({ patientName: '张*', accessionNumber: 'A?' }, it));
  t.notOk(matchWorklistItem({ patientSex: 'F' }, it));
  t.notOk(matchWorklistItem({ studyInstanceUid: '9.9' }, item({ studyInstanceUid: undefined })));
  const list = [item(), item({ accessionNumber: 'A2' }, { modality: 'DX' }), item({ accessionNumber: 'A3' })];
  t.same(filterWorklist({ modality: 'US' }, list).map((i) => i.accessionNumber), ['A1', 'A3']);
});

t.test('properties', async (t) => {
  const text = fc.string({ maxLength: 12 }).filter((s) => !s.includes('*') && !s.includes('?'));
  fc.assert(fc.property(text, (s) => matchWildcard(s, s) && matchWildcard('*', s) && matchWildcard(`${s}*`, `${s}tail`)));
  fc.assert(fc.property(text, text, (a, b) => matchWildcard(a, b) === (a === '' || a === b)));
  const date = fc.date({ min: new Date('1990-01-01'), max: new Date('2040-12-31'), noInvalidDate: true }).map((d) => d.toISOString().slice(0, 10).replace(/-/g, ''));
  fc.assert(fc.property(date, date, date, (a, b, v) => {
    const [lo, hi] = a <= b ? [a, b] : [b, a];
    return matchDate(`${lo}-${hi}`, v) === (v >= lo && v <= hi);
  }));
  t.pass('properties hold');
});
