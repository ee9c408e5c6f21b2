/**
 * A full disk and the stores under way: the caller's admission refusal and the kernel's ENOSPC
 * both reach the device as 0xA700 (out of resources: it keeps the image and sends it again),
 * counted as no-space, with nothing partial left; `isStoring` names the instances whose rename may
 * still come (the edge's eviction must not remove those files).
 */
import t from 'tap';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { buildDataset, buildPart10, testUid } from './test-support/dataset-builder.ts';
import { device, MODALITY_AE, SCP_AE, startTestScp, storescu } from './test-support/harness.ts';
import { associateRq, commandSet, pdata, rawPeer } from './test-support/raw-peer.ts';
import { PduType } from './pdu.ts';
import { TS } from './uids.ts';
import { mountTmpfs, tmpfsUnavailable } from '../../test/helpers/tmpfs.ts';

const US = '1.2.840.10008.5.1.4.1.1.6.1';
const DX = '1.2.840.10008.5.1.4.1.1.1.1';

function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, withFileTypes: true }).filter((d) => d.isFile()).map((d) => join(d.parentPath, d.name));
}

const small = () => ({ sopInstanceUid: testUid(), studyInstanceUid: testUid(), seriesInstanceUid: testUid(), sopClassUid: US, modality: 'US', rows: 64, columns: 64 });

for (const storeWorker of ['off', 'all'] as const) {
  t.test(`admitStore refuses: the device reads 0xA700 with the reason, nothing is written, the next one is stored once admitted${storeWorker === 'all' ? ' [store worker]' : ''}`, async (t) => {
    let refuse: string | null = 'storage full: 0.8 GiB free, 1 GiB reserved';
    let asked = 0;
    const scp = await startTestScp([device()], { storeWorker, admitStore: () => { asked++; return refuse; } });
    t.teardown(() => scp.close());
    const f = join(scp.dir, 'x.dcm');
    const inst = small();
    writeFileSync(f, buildPart10(inst));
    const r1 = await storescu(scp.server, [f], ['-d']);
    t.match(r1.stderr + r1.stdout, /Out ?of ?Resources|0xa700/i, 'storescu sees out of resources');
    t.match(r1.stderr + r1.stdout, /storage full: 0\.8 GiB free/, 'and the reason, as the Error Comment');
    t.equal(asked, 1, 'asked once for the instance');
    const c = scp.server.counters;
    t.same([c.storesFailed, c.storesNoSpace, c.storesMalformed, c.storesOk], [1, 1, 0, 0]);
    t.same(filesUnder(join(scp.dir, 'store')), [], 'nothing written, no temp file');
    t.equal(scp.stored.length, 0);
    t.notOk(scp.server.isStoring(inst.sopInstanceUid), 'the refused store is over');
    refuse = null;
    const r2 = await storescu(scp.server, [f]);
    t.equal(r2.code, 0, r2.stderr);
    t.same(scp.stored.map((m) => m.sopInstanceUid), [inst.sopInstanceUid], 'sent again: stored');
  });
}

t.test('admitStore that throws admits the instance (logged), it does not fail the device', async (t) => {
  const logged: string[] = [];
  const log = { debug() {}, info() {}, warn() {}, error: (o: object) => { logged.push(JSON.stringify(o)); } };
  const scp = await startTestScp([device()], { admitStore: () => { throw new Error('statfs broke'); }, log });
  t.teardown(() => scp.close());
  const f = join(scp.dir, 'x.dcm');
  writeFileSync(f, buildPart10(small()));
  const r = await storescu(scp.server, [f]);
  t.equal(r.code, 0, r.stderr);
  t.equal(scp.stored.length, 1);
  t.match(logged.join('\n'), /dicom\.admit\.failed.*statfs broke/);
});

for (const storeWorker of ['off', 'all'] as const) {
  t.test(`a disk that fills mid-instance (ENOSPC on a 1 MiB tmpfs): 0xA700 as no-space, the temp file removed, a small one fits after${storeWorker === 'all' ? ' [store worker]' : ''}`, { skip: tmpfsUnavailable() }, async (t) => {
    const fs = mountTmpfs('dicom-full', 1024 * 1024);
    if ('skip' in fs) throw new Error(fs.skip);
    t.teardown(() => fs.close());
    const scp = await startTestScp([device()], { storeWorker, storageDir: join(fs.dir, 'store') });
    t.teardown(() => scp.close());
    const big = join(scp.dir, 'big.dcm');
    // 1024 x 1024 x 16 bits: 2 MiB of pixels, twice the file system
    writeFileSync(big, buildPart10({ ...small(), sopClassUid: DX, modality: 'DX', rows: 1024, columns: 1024, bitsAllocated: 16 }));
    const r1 = await storescu(scp.server, [big], ['-d']);
    t.match(r1.stderr + r1.stdout, /Out ?of ?Resources|0xa700/i, 'storescu sees out of resources');
    t.match(r1.stderr + r1.stdout, /storage full/, 'with the reason');
    const c = scp.server.counters;
    t.same([c.storesFailed, c.storesNoSpace, c.storesOk], [1, 1, 0]);
    t.same(filesUnder(join(fs.dir, 'store')), [], 'the partial temp file is gone: the space is back');
    const f = join(scp.dir, 'small.dcm');
    writeFileSync(f, buildPart10(small()));
    const r2 = await storescu(scp.server, [f]);
    t.equal(r2.code, 0, r2.stderr);
    t.equal(scp.stored.length, 1, 'the SCP keeps serving once there is room');
  });
}

t.test('isStoring: from the C-STORE command until its response, and not after a peer that drops mid-transfer', async (t) => {
  let release!: () => void;
  const gate = new Promise<void>((r) => { release = r; });
  const entered: string[] = [];
  const scp = await startTestScp([device()], { onInstance: async (m) => { entered.push(m.sopInstanceUid); await gate; } });
  t.teardown(() => scp.close());
  const f = join(scp.dir, 'x.dcm');
  const inst = small();
  writeFileSync(f, buildPart10(inst));
  t.notOk(scp.server.isStoring(inst.sopInstanceUid));
  const sending = storescu(scp.server, [f]);
  while (!entered.length) await sleep(10);
  t.ok(scp.server.isStoring(inst.sopInstanceUid), 'held while its index callback runs');
  release();
  const r = await sending;
  t.equal(r.code, 0, r.stderr);
  t.notOk(scp.server.isStoring(inst.sopInstanceUid), 'released with the response');

  // A peer that sends the command and half a data set, then goes away.
  const p = await rawPeer(scp.server.port);
  await p.send(associateRq(MODALITY_AE, SCP_AE, [{ id: 1, abstractSyntax: US, transferSyntaxes: [TS.explicitLE] }]));
  const ac = await p.nextPdu();
  t.equal(ac?.[0], PduType.AssociateAc);
  const uid = testUid();
  await p.send(pdata(1, commandSet({ sopClassUid: US, command: 0x0001, messageId: 1, hasDataset: true, sopInstanceUid: uid }), true, true));
  const ds = buildDataset({ ...small(), sopInstanceUid: uid });
  await p.send(pdata(1, ds.subarray(0, ds.length >> 1), false, false));
  for (let i = 0; i < 200 && !scp.server.isStoring(uid); i++) await sleep(10);
  t.ok(scp.server.isStoring(uid), 'held while its data arrives');
  p.destroy();
  for (let i = 0; i < 200 && scp.server.isStoring(uid); i++) await sleep(10);
  t.notOk(scp.server.isStoring(uid), 'released when the association drops it');
});
