/**
 * MPPS at the SCP (mpps-service.ts): N-CREATE and N-SET reach the provider with their attributes
 * and its answer reaches the device; a provider that throws is 0x0110; without a provider the
 * MPPS presentation context is not accepted. The peer is dcmjs-dimse's client (dcmtk has no MPPS SCU).
 */
import t from 'tap';
import fc from 'fast-check';
import { decodeAttributes } from './mpps-service.ts';
import { device, MODALITY_AE, startTestScp } from './test-support/harness.ts';
import { mppsScu } from './test-support/mpps-scu.ts';
import type { MppsMessage } from './types.ts';

const create = (uid: string, accession: string) => ({
  kind: 'create' as const, uid,
  attributes: {
    PerformedProcedureStepStatus: 'IN PROGRESS', PerformedStationAETitle: MODALITY_AE, Modality: 'US',
    PerformedProcedureStepStartDate: '20261203', PerformedProcedureStepStartTime: '093000',
    ScheduledStepAttributesSequence: [{ AccessionNumber: accession, StudyInstanceUID: '1.2.3.4', RequestedProcedureID: 'RP1', ScheduledProcedureStepID: 'SPS1' }],
    PatientID: 'P1', PatientName: 'ZHANG^SAN',
  },
});

t.test('N-CREATE and N-SET reach the provider; its answer reaches the device', async (t) => {
  const got: MppsMessage[] = [];
  let next = 0;
  const scp = await startTestScp([device()], { mppsProvider: (m) => { got.push(m); return next ? { status: next, comment: 'duplicate step' } : { status: 0 }; } });
  t.teardown(() => scp.close());
  const r = await mppsScu(scp.server.port, MODALITY_AE, scp.server.aeTitle, [create('1.2.826.0.1.1', 'A100'), { kind: 'set', uid: '1.2.826.0.1.1', attributes: { PerformedProcedureStepStatus: 'COMPLETED', PerformedProcedureStepEndDate: '20261203', PerformedProcedureStepEndTime: '094500' } }]);
  t.same(r, { statuses: [0, 0], comments: ['', ''] }, 'both answered success');
  t.same(got.map((m) => [m.kind, m.sopInstanceUid, m.callingAe, m.device.aeTitle]), [['create', '1.2.826.0.1.1', MODALITY_AE, MODALITY_AE], ['set', '1.2.826.0.1.1', MODALITY_AE, MODALITY_AE]]);
  t.equal(got[0]!.attributes.PerformedProcedureStepStatus, 'IN PROGRESS');
  t.match(got[0]!.attributes.ScheduledStepAttributesSequence, [{ AccessionNumber: 'A100' }], 'the scheduled step\'s accession number');
  t.equal(got[1]!.attributes.PerformedProcedureStepStatus, 'COMPLETED');
  next = 0x0111;
  t.match(await mppsScu(scp.server.port, MODALITY_AE, scp.server.aeTitle, [create('1.2.826.0.1.1', 'A100')]), { statuses: [0x0111], comments: ['duplicate step'] }, 'a refusal with its comment');
  t.equal(scp.server.counters.mppsOk, 2);
  t.equal(scp.server.counters.mppsFailed, 1);
});

t.test('a provider that throws: 0x0110, the SCP keeps serving', async (t) => {
  const scp = await startTestScp([device()], { mppsProvider: () => { throw new Error('database locked'); } });
  t.teardown(() => scp.close());
  t.match(await mppsScu(scp.server.port, MODALITY_AE, scp.server.aeTitle, [create('1.2.826.0.1.2', 'A101')]), { statuses: [0x0110] });
  t.match(await mppsScu(scp.server.port, MODALITY_AE, scp.server.aeTitle, [create('1.2.826.0.1.3', 'A102')]), { statuses: [0x0110] }, 'the next association is served');
});

t.test('without a provider MPPS is not offered', async (t) => {
  const scp = await startTestScp([device()]);
  t.teardown(() => scp.close());
  const r = await mppsScu(scp.server.port, MODALITY_AE, scp.server.aeTitle, [create('1.2.826.0.1.4', 'A103')]);
  t.ok('failed' in r || ('statuses' in r && r.statuses[0] !== 0), `not accepted: ${JSON.stringify(r)}`);
  t.equal(scp.server.counters.mppsOk, 0);
});

t.test('text in the device\'s character set: decoded from what dcmjs-dimse hands over', async (t) => {
  const gb = Buffer.from([0xd5, 0xc5, 0xc8, 0xfd]).toString('latin1'); // 张三 in GB18030, read as Latin-1
  const utf8 = Buffer.from('患者拒绝检查', 'utf8').toString('latin1');
  t.same(decodeAttributes({ SpecificCharacterSet: 'GB18030', PatientName: { Alphabetic: gb }, X: [{ CodeMeaning: gb }] }),
    { SpecificCharacterSet: 'GB18030', PatientName: { Alphabetic: '张三' }, X: [{ CodeMeaning: '张三' }] }, 'GB18030, in a PN and a sequence item');
  t.same(decodeAttributes({ SpecificCharacterSet: 'ISO_IR 192', S: [{ CodeMeaning: utf8 }] }), { SpecificCharacterSet: 'ISO_IR 192', S: [{ CodeMeaning: '患者拒绝检查' }] }, 'UTF-8');
  t.same(decodeAttributes({ SpecificCharacterSet: 'ISO_IR 192', A: '已解码' }), { SpecificCharacterSet: 'ISO_IR 192', A: '已解码' }, 'a string decoded already is kept');
  t.same(decodeAttributes({ A: gb }), { A: gb }, 'no character set: as given');
  const value: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
    v: fc.oneof({ depthSize: 'small' }, fc.string(), fc.string({ unit: 'binary' }), fc.integer(), fc.constant(null), fc.array(tie('o'), { maxLength: 3 }), tie('o')),
    o: fc.dictionary(fc.string({ maxLength: 5 }), tie('v'), { maxKeys: 4 }),
  })).v;
  fc.assert(fc.property(fc.dictionary(fc.string({ maxLength: 8 }), value, { maxKeys: 6 }), fc.constantFrom('GB18030', 'GBK', 'ISO_IR 192', 'ISO_IR 100', '\\ISO 2022 IR 58', 'BOGUS'), (a, cs) => {
    decodeAttributes({ ...a, SpecificCharacterSet: cs });
    return true;
  }), { numRuns: 300 });
  t.pass('300 generated data sets: never throws');
});
