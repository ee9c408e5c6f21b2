/** The SCP against real dcmtk peers: echoscu, storescu, findscu, img2dcm-generated files. */
import t from 'tap';
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { buildPart10, makeBmp, testUid, type TestInstance } from './test-support/dataset-builder.ts';
import { device, MODALITY_AE, run, SCP_AE, startTestScp, storescu } from './test-support/harness.ts';
import { echo } from './echo.ts';
import { TS, VERIFICATION } from './uids.ts';
import { associateRq, rawPeer } from './test-support/raw-peer.ts';
import { PduType } from './pdu.ts';
import type { WorklistItem } from './types.ts';

const US = '1.2.840.10008.5.1.4.1.1.6.1';
const US_MF = '1.2.840.10008.5.1.4.1.1.3.1';
const DX = '1.2.840.10008.5.1.4.1.1.1.1';
const DX_PROC = '1.2.840.10008.5.1.4.1.1.1.1.1';
const CR = '1.2.840.10008.5.1.4.1.1.1';
const SC = '1.2.840.10008.5.1.4.1.1.7';

/** The data set of a Part 10 file (after preamble, DICM and the meta group). */
function datasetOf(file: Buffer): Buffer {
  const groupLen = file.readUInt32LE(132 + 8);
  return file.subarray(132 + 12 + groupLen);
}

function instance(over: Partial<TestInstance> & Pick<TestInstance, 'sopClassUid' | 'modality'>): TestInstance {
  return { sopInstanceUid: testUid(), studyInstanceUid: testUid(), seriesInstanceUid: testUid(), ...over };
}

t.test('C-ECHO: echoscu in, echo() out, with reasons a technician can read', async (t) => {
  const scp = await startTestScp();
  t.teardown(() => scp.close());
  const e = await run('echoscu', ['-aet', MODALITY_AE, '-aec', SCP_AE, '127.0.0.1', String(scp.server.port)]);
  t.equal(e.code, 0, e.stderr);
  const ok = await echo({ host: '127.0.0.1', port: scp.server.port, callingAe: MODALITY_AE, calledAe: SCP_AE });
  t.ok(ok.ok, ok.detail);
  const rej = await echo({ host: '127.0.0.1', port: scp.server.port, callingAe: 'STRANGER', calledAe: SCP_AE });
  t.match(rej, { ok: false, reason: 'rejected', reject: { result: 1, source: 1, reason: 3 } });
  t.match(rej.detail, /calling AE title not recognised/);
  const badCalled = await echo({ host: '127.0.0.1', port: scp.server.port, callingAe: MODALITY_AE, calledAe: 'NOT_US' });
  t.match(badCalled, { ok: false, reason: 'rejected', reject: { reason: 7 } });
  await scp.server.close();
  const refused = await echo({ host: '127.0.0.1', port: scp.server.port, callingAe: MODALITY_AE, calledAe: SCP_AE, timeoutMs: 2000 });
  t.match(refused, { ok: false, reason: 'refused' });
  t.equal(scp.server.counters.echoes, 2);
});

t.test('img2dcm US image with a GB18030 patient name, stored byte for byte', async (t) => {
  const scp = await startTestScp();
  t.teardown(() => scp.close());
  const bmp = join(scp.dir, 'us.bmp');
  writeFileSync(bmp, makeBmp(320, 240, 7));
  const dcm = join(scp.dir, 'us.dcm');
  const name = Buffer.from([0xd5, 0xc5, 0xc8, 0xfd]); // 张三 in GB18030, what the shell pipeline produces
  const study = testUid();
  // As a technician would: GB18030 bytes through the shell, then dcmodify turns the
  // Secondary Capture into a US image (the SCP does not validate IODs).
  const mk = await run('sh', ['-c', `img2dcm -i BMP "$1" "$2" -k "SpecificCharacterSet=GB18030" -k "PatientName=$(printf 张三 | iconv -t GB18030)" -k PatientID=110101199003077777 -k AccessionNumber=A2026001 -k "StudyInstanceUID=$3" -k Modality=US && dcmodify -nb -m "SOPClassUID=$4" "$2"`, 'sh', bmp, dcm, study, US]);
  t.equal(mk.code, 0, mk.stderr);
  const sent = readFileSync(dcm);
  t.ok(sent.includes(name), 'GB18030 bytes in the file');
  const s = await storescu(scp.server, [dcm]);
  t.equal(s.code, 0, s.stderr);
  t.equal(scp.stored.length, 1);
  const m = scp.stored[0]!;
  t.equal(m.patientName, '张三');
  t.equal(m.specificCharacterSet, 'GB18030');
  t.equal(m.patientId, '110101199003077777');
  t.equal(m.accessionNumber, 'A2026001');
  t.equal(m.studyInstanceUid, study);
  t.equal(m.sopClassUid, US);
  t.equal(m.modality, 'US');
  t.equal(m.stationAe, MODALITY_AE);
  t.equal(m.path, join(scp.dir, 'store', study, `${m.sopInstanceUid}.dcm`));
  const stored = readFileSync(m.path);
  t.equal(m.size, stored.length);
  t.equal(m.sha256, createHash('sha256').update(stored).digest('hex'));
  t.ok(datasetOf(stored).equals(datasetOf(sent)), 'data set byte-identical to what storescu sent');
  const dump = await run('dcmdump', [m.path]);
  t.equal(dump.code, 0, 'dcmtk reads the stored file');
  t.match(dump.stdout, /\(0002,0010\) UI =LittleEndianExplicit/);
  t.match(dump.stdout, /\(0008,0005\) CS \[GB18030\]/);
});

for (const storeWorker of ['off', 'all'] as const) {
  t.test(`US, US multi-frame, DX (presentation and processing), CR, SC in every accepted transfer syntax${storeWorker === 'all' ? ' [store worker]' : ''}`, async (t) => {
    const scp = await startTestScp([device()], { storeWorker });
    t.teardown(() => scp.close());
    const dir = join(scp.dir, 'in');
    mkdirSync(dir);
    // storescu proposes a compressed syntax only when told to: one run per proposal option
    const cases: [TestInstance, string][] = [
      [instance({ sopClassUid: US, modality: 'US', transferSyntaxUid: TS.implicitLE, samplesPerPixel: 3 }), '-xi'],
      [instance({ sopClassUid: US_MF, modality: 'US', frames: 4, samplesPerPixel: 3 }), '-xe'],
      [instance({ sopClassUid: DX, modality: 'DX', bitsAllocated: 16, rows: 128, columns: 128 }), '-xe'],
      [instance({ sopClassUid: DX_PROC, modality: 'DX', bitsAllocated: 16 }), '-xe'],
      [instance({ sopClassUid: CR, modality: 'CR', bitsAllocated: 16 }), '-xe'],
      [instance({ sopClassUid: SC, modality: 'OT' }), '-xe'],
      [instance({ sopClassUid: US, modality: 'US', transferSyntaxUid: TS.jpegBaseline }), '-xy'],
      [instance({ sopClassUid: DX, modality: 'DX', transferSyntaxUid: TS.jpegLosslessSV1 }), '-xs'],
      [instance({ sopClassUid: US, modality: 'US', transferSyntaxUid: TS.rle }), '-xr'],
      [instance({ sopClassUid: DX, modality: 'DX', transferSyntaxUid: TS.jpegLsLossless }), '-xt'],
      [instance({ sopClassUid: CR, modality: 'CR', transferSyntaxUid: TS.jpeg2000Lossless }), '-xv'],
      [instance({ sopClassUid: US, modality: 'US', transferSyntaxUid: TS.jpeg2000 }), '-xw'],
      // "GBK" as some devices write it
      [instance({ sopClassUid: US, modality: 'US', specificCharacterSet: 'GBK', patientName: Buffer.from([0xc0, 0xee, 0xcb, 0xc4]) }), '-xe'],
    ];
    const files = new Map<TestInstance, string>();
    cases.forEach(([c], i) => {
      const f = join(dir, `${i}.dcm`);
      writeFileSync(f, buildPart10(c));
      files.set(c, f);
    });
    for (const opt of new Set(cases.map(([, o]) => o))) {
      const s = await storescu(scp.server, cases.filter(([, o]) => o === opt).map(([c]) => files.get(c)!), [opt]);
      t.equal(s.code, 0, `${opt}: ${s.stderr}`);
    }
    t.equal(scp.stored.length, cases.length);
    for (const [c] of cases) {
      const m = scp.stored.find((x) => x.sopInstanceUid === c.sopInstanceUid);
      t.ok(m, `stored ${c.sopClassUid} ${c.transferSyntaxUid ?? 'explicit'}`);
      if (!m) continue;
      t.equal(m.transferSyntaxUid, c.transferSyntaxUid ?? TS.explicitLE);
      t.equal(m.sopClassUid, c.sopClassUid);
      t.ok(datasetOf(readFileSync(m.path)).equals(datasetOf(readFileSync(files.get(c)!))), 'as received');
    }
    t.equal(scp.stored.find((m) => m.specificCharacterSet === 'GBK')?.patientName, '李四');
    t.equal(scp.stored.find((m) => m.sopClassUid === US_MF)?.numberOfFrames, 4);
    const leftovers = readdirSync(join(scp.dir, 'store'), { recursive: true }).map(String).filter((f) => f.endsWith('.tmp'));
    t.same(leftovers, [], 'no temp files left');
  });
}

function parallelBatches(dir: string, tag: string): string[][] {
  return Array.from({ length: 4 }, (_, b) =>
    Array.from({ length: 6 }, (_, i) => {
      const f = join(dir, `${tag}${b}-${i}.dcm`);
      writeFileSync(f, buildPart10(instance({ sopClassUid: b % 2 ? DX : US, modality: b % 2 ? 'DX' : 'US', rows: 256, columns: 256, bitsAllocated: b % 2 ? 16 : 8 })));
      return f;
    }),
  );
}

t.test('four storescu associations at once', async (t) => {
  const scp = await startTestScp();
  t.teardown(() => scp.close());
  const dir = join(scp.dir, 'in');
  mkdirSync(dir);
  const batches = parallelBatches(dir, '');
  const results = await Promise.all(batches.map((files) => storescu(scp.server, files)));
  for (const r of results) t.equal(r.code, 0, r.stderr);
  t.equal(scp.stored.length, 24);
  t.equal(scp.server.counters.associationsAccepted, 4);
  t.equal(scp.server.counters.activeAssociations, 0);
  t.equal(new Set(scp.stored.map((m) => m.sha256)).size, 24);
});

t.test('store worker: four storescu associations at once, the file side in the worker, byte for byte', async (t) => {
  const scp = await startTestScp([device()], { storeWorker: 'eager' });
  t.teardown(() => scp.close());
  t.equal(scp.server.storeWorker, 'ready', 'eager: ready when the SCP listens');
  const dir = join(scp.dir, 'in');
  mkdirSync(dir);
  const batches = parallelBatches(dir, '');
  const results = await Promise.all(batches.map((files) => storescu(scp.server, files)));
  for (const r of results) t.equal(r.code, 0, r.stderr);
  t.equal(scp.stored.length, 24);
  t.ok(scp.server.counters.storesInWorker > 0, `stores in the worker: ${scp.server.counters.storesInWorker}`);
  for (const m of scp.stored) {
    const file = readFileSync(m.path);
    const sent = batches.flat().map((f) => readFileSync(f)).find((b) => datasetOf(b).equals(datasetOf(file)));
    t.ok(sent, `${m.sopInstanceUid}: data set as sent`);
    t.equal(m.size, file.length);
    t.equal(m.sha256, createHash('sha256').update(file).digest('hex'));
  }
  const leftovers = readdirSync(join(scp.dir, 'store'), { recursive: true }).map(String).filter((f) => f.endsWith('.tmp'));
  t.same(leftovers, [], 'no temp files left');
  await scp.server.close();
  t.equal(scp.server.storeWorker, 'stopped', 'ended with the SCP');
});

t.test('store worker, lazy: started when a second association is accepted, then used while two are open', async (t) => {
  const scp = await startTestScp([device()], { storeWorker: 'lazy' });
  t.teardown(() => scp.close());
  t.equal(scp.server.storeWorker, 'stopped', 'not started with the SCP');
  const dir = join(scp.dir, 'in');
  mkdirSync(dir);
  const [a, b, c] = parallelBatches(dir, '');
  const one = await storescu(scp.server, a!);
  t.equal(one.code, 0, one.stderr);
  t.equal(scp.server.storeWorker, 'stopped', 'one association at a time: not started');
  t.equal(scp.server.counters.storesInWorker, 0);
  // a second association (held open by a raw peer) while storescu sends
  const held = await rawPeer(scp.server.port);
  t.teardown(() => held.destroy());
  await held.send(associateRq(MODALITY_AE, SCP_AE, [{ id: 1, abstractSyntax: VERIFICATION, transferSyntaxes: [TS.implicitLE] }]));
  t.equal((await held.nextPdu())?.[0], PduType.AssociateAc);
  const two = await storescu(scp.server, b!);
  t.equal(two.code, 0, two.stderr);
  t.not(scp.server.storeWorker, 'stopped', 'started by the overlap');
  while (scp.server.storeWorker === 'starting') await new Promise((r) => setTimeout(r, 50));
  t.equal(scp.server.storeWorker, 'ready');
  const before = scp.server.counters.storesInWorker;
  const three = await storescu(scp.server, c!);
  t.equal(three.code, 0, three.stderr);
  t.equal(scp.server.counters.storesInWorker - before, c!.length, 'every store of an overlapping association in the worker');
  held.destroy();
  while (scp.server.counters.activeAssociations > 0) await new Promise((r) => setTimeout(r, 20));
  const alone = scp.server.counters.storesInWorker;
  const four = await storescu(scp.server, a!);
  t.equal(four.code, 0, four.stderr);
  t.equal(scp.server.counters.storesInWorker, alone, 'alone again: on the main thread');
  t.equal(scp.stored.length, 24);
  for (const m of scp.stored) t.equal(m.sha256, createHash('sha256').update(readFileSync(m.path)).digest('hex'));
});

t.test('registry: unknown AE, wrong host, disabled device, wrong called AE are refused and counted', async (t) => {
  const scp = await startTestScp([
    device(),
    device({ aeTitle: 'DR_ROOM2', host: '10.9.9.9', modality: 'DX' }),
    device({ aeTitle: 'US_OLD', enabled: false }),
  ]);
  t.teardown(() => scp.close());
  const f = join(scp.dir, 'x.dcm');
  writeFileSync(f, buildPart10(instance({ sopClassUid: US, modality: 'US' })));
  for (const ae of ['STRANGER', 'DR_ROOM2', 'US_OLD']) {
    const r = await storescu(scp.server, [f], [], ae);
    t.not(r.code, 0, `${ae} refused`);
    t.match(r.stderr + r.stdout, /Association Rejected/i);
  }
  const wrongCalled = await run('echoscu', ['-aet', MODALITY_AE, '-aec', 'SOMEONE', '127.0.0.1', String(scp.server.port)]);
  t.not(wrongCalled.code, 0);
  const c = scp.server.counters;
  t.same([c.rejectedUnknownAe, c.rejectedHostMismatch, c.rejectedDisabled, c.rejectedCalledAe, c.associationsRejected], [1, 1, 1, 1, 4]);
  t.equal(scp.stored.length, 0);
});

for (const storeWorker of ['off', 'all'] as const) {
  t.test(`the C-STORE response waits for onInstance; its failure is reported to the device${storeWorker === 'all' ? ' [store worker]' : ''}`, async (t) => {
    let fail = true;
    const seen: string[] = [];
    const scp = await startTestScp([device()], {
      storeWorker,
      onInstance: async (m) => {
        await new Promise((r) => setTimeout(r, 50));
        if (fail) throw new Error('index unavailable');
        seen.push(m.sopInstanceUid);
      },
    });
    t.teardown(() => scp.close());
    const f = join(scp.dir, 'x.dcm');
    const inst = instance({ sopClassUid: US, modality: 'US' });
    writeFileSync(f, buildPart10(inst));
    const r1 = await storescu(scp.server, [f], ['-v']);
    t.match(r1.stderr + r1.stdout, /Out ?of ?Resources|0xa700/i, 'storescu sees the failure');
    t.equal(scp.server.counters.storesFailed, 1);
    fail = false;
    const r2 = await storescu(scp.server, [f]);
    t.equal(r2.code, 0, r2.stderr);
    t.same(seen, [inst.sopInstanceUid], 'a resend is indexed');
  });
}

for (const storeWorker of ['off', 'all'] as const) {
  t.test(`indexDuringDirSync: onInstance runs once the file is complete at its final name; the device is answered after the rename is durable${storeWorker === 'all' ? ' [store worker]' : ''}`, async (t) => {
    const events: string[] = [];
    const scp = await startTestScp([device()], {
      storeWorker,
      indexDuringDirSync: true,
      onInstance: async (m, renameDurable) => {
        events.push(`index ${readFileSync(m.path).length === m.size && createHash('sha256').update(readFileSync(m.path)).digest('hex') === m.sha256 ? 'complete' : 'partial'}`);
        void renameDurable.then(() => events.push('rename durable'));
      },
    });
    t.teardown(() => scp.close());
    const f = join(scp.dir, 'y.dcm');
    const inst = instance({ sopClassUid: US, modality: 'US' });
    writeFileSync(f, buildPart10(inst));
    const r = await storescu(scp.server, [f]);
    t.equal(r.code, 0, r.stderr);
    t.same(events, ['index complete', 'rename durable'], 'success only after both');
    t.same(datasetOf(readFileSync(join(scp.dir, 'store', inst.studyInstanceUid, `${inst.sopInstanceUid}.dcm`))), datasetOf(buildPart10(inst)));
  });
}

t.test('findscu -W gets the worklist the provider supplies, filtered by the query', async (t) => {
  const items: WorklistItem[] = [
    { patientName: '王五', patientId: 'R001', patientBirthDate: '19800101', patientSex: 'M', accessionNumber: 'A1', studyInstanceUid: '1.2.3.1', requestedProcedureId: 'RP1', requestedProcedureDescription: '腹部B超', scheduledProcedureStep: { modality: 'US', stationAeTitle: MODALITY_AE, startDate: '20261128', startTime: '090000', stepId: 'S1', description: '腹部' } },
    { patientName: 'ZHAO^LIU', patientId: 'R002', accessionNumber: 'A2', requestedProcedureId: 'RP2', scheduledProcedureStep: { modality: 'DX', stationAeTitle: 'DR_ROOM2', startDate: '20261128', startTime: '100000', stepId: 'S2' } },
    { patientName: '王小明', patientId: 'R003', accessionNumber: 'A3', requestedProcedureId: 'RP3', scheduledProcedureStep: { modality: 'US', stationAeTitle: MODALITY_AE, startDate: '20261201', startTime: '083000', stepId: 'S3' } },
  ];
  const queries: string[] = [];
  const scp = await startTestScp([device()], {
    worklistProvider: (q) => {
      queries.push(q.callingAe);
      return items;
    },
  });
  t.teardown(() => scp.close());
  const find = async (keys: string[]) => {
    const out = join(scp.dir, `rsp-${queries.length}`);
    mkdirSync(out);
    const r = await run('findscu', ['-W', '-aet', MODALITY_AE, '-aec', SCP_AE, '-X', '-od', out, ...keys.flatMap((k) => ['-k', k]), '127.0.0.1', String(scp.server.port)]);
    t.equal(r.code, 0, r.stderr);
    const dumps = await Promise.all(readdirSync(out).sort().map((f) => run('dcmdump', ['+U8', join(out, f)])));
    return dumps.map((d) => d.stdout);
  };
  const base = ['PatientName', 'PatientID', 'AccessionNumber', 'StudyInstanceUID', 'RequestedProcedureID', 'ScheduledProcedureStepSequence[0].ScheduledStationAETitle', 'ScheduledProcedureStepSequence[0].ScheduledProcedureStepID', 'ScheduledProcedureStepSequence[0].ScheduledProcedureStepStartTime'];
  const us = await find([...base, 'ScheduledProcedureStepSequence[0].Modality=US', 'ScheduledProcedureStepSequence[0].ScheduledProcedureStepStartDate=20261128-20261130']);
  t.equal(us.length, 1, 'US on 28-30 Nov');
  t.match(us[0], /王五/);
  t.match(us[0], /A1/);
  t.match(us[0], /1\.2\.3\.1/);
  t.match(us[0], /ISO_IR 192/);
  const wild = await find([...base, 'SpecificCharacterSet=ISO_IR 192', 'PatientName=王*', `ScheduledProcedureStepSequence[0].ScheduledStationAETitle=${MODALITY_AE}`]);
  t.equal(wild.length, 2, 'wildcard name + AE');
  const none = await find([...base, 'ScheduledProcedureStepSequence[0].Modality=CR']);
  t.equal(none.length, 0);
  t.same(queries, [MODALITY_AE, MODALITY_AE, MODALITY_AE]);
  t.equal(scp.server.counters.worklistQueries, 3);
  t.equal(scp.server.counters.worklistMatches, 3);
});
