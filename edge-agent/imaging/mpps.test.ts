/** MPPS attributes read (stepFields, dicomInstant): by hand, and any attributes never throw. */
import t from 'tap';
import fc from 'fast-check';
import { dicomInstant, stepFields } from './mpps.ts';

t.test('a completed step\'s attributes', async (t) => {
  const f = stepFields({
    PerformedProcedureStepStatus: 'completed ', PerformedStationAETitle: 'US_ROOM1',
    PerformedProcedureStepStartDate: '20261203', PerformedProcedureStepStartTime: '093000.123', PerformedProcedureStepEndDate: '20261203', PerformedProcedureStepEndTime: '0945',
    ScheduledStepAttributesSequence: [{ AccessionNumber: 'A1', StudyInstanceUID: '1.2.3' }],
    PerformedSeriesSequence: [{ ReferencedImageSequence: [{ ReferencedSOPInstanceUID: '1.1' }, { ReferencedSOPInstanceUID: '1.2' }] }, { ReferencedImageSequence: [{ ReferencedSOPInstanceUID: '1.2' }] }],
    PerformedProcedureStepDiscontinuationReasonCodeSequence: [{ CodeValue: '110514', CodeMeaning: '' }],
  });
  t.same(f, {
    status: 'COMPLETED', accessionNumber: 'A1', studyInstanceUid: '1.2.3', stationAe: 'US_ROOM1',
    startedAt: '2026-12-03T01:30:00.000Z', endedAt: '2026-12-03T01:45:00.000Z', series: 2, images: 3, imageUids: ['1.1', '1.2'], reason: '110514',
  }, 'China time to UTC; images counted and listed once; a reason without meaning: its code');
  t.same(stepFields({ PerformedProcedureStepStatus: 'IN PROGRESS' }).imageUids, null, 'no Performed Series Sequence: nothing listed (not an empty list)');
  t.equal(dicomInstant('20261301', '000000'), null, 'month 13');
  t.equal(dicomInstant('2026-12-03', null), null, 'not a DICOM date');
  t.equal(dicomInstant('20261203', null), '2026-12-02T16:00:00.000Z', 'a date alone: its midnight in China');
});

t.test('any attributes: never throws, fields of the right kinds', async (t) => {
  const leaf = fc.oneof(fc.string({ maxLength: 20 }), fc.integer(), fc.constant(null), fc.constantFrom('IN PROGRESS', '20261203', '093000', '1.2.3'));
  const value: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
    v: fc.oneof({ depthSize: 'small' }, leaf, fc.array(tie('o'), { maxLength: 3 }), fc.array(leaf, { maxLength: 2 }), tie('o')),
    o: fc.dictionary(fc.constantFrom('ReferencedImageSequence', 'ReferencedSOPInstanceUID', 'AccessionNumber', 'StudyInstanceUID', 'CodeMeaning', 'CodeValue', 'X'), tie('v'), { maxKeys: 4 }),
  })).v;
  const keys = fc.constantFrom('PerformedProcedureStepStatus', 'ScheduledStepAttributesSequence', 'PerformedSeriesSequence', 'PerformedProcedureStepStartDate', 'PerformedProcedureStepStartTime',
    'PerformedProcedureStepEndDate', 'PerformedProcedureStepEndTime', 'PerformedStationAETitle', 'PerformedProcedureStepDiscontinuationReasonCodeSequence');
  fc.assert(fc.property(fc.dictionary(keys, value, { maxKeys: 9 }), (a) => {
    const f = stepFields(a);
    const okInstant = (x: string | null) => x === null || !Number.isNaN(Date.parse(x));
    return okInstant(f.startedAt) && okInstant(f.endedAt) && (f.imageUids === null || f.imageUids.every((u) => typeof u === 'string' && u.length > 0 && u.length <= 64))
      && (f.images === null || f.images >= 0) && (f.status === null || f.status === f.status.toUpperCase());
  }), { numRuns: 500 });
  t.pass('500 generated attribute sets');
});
