/** Hostile and broken peers over raw TCP: nothing partial is stored, the SCP keeps serving. */
import t from 'tap';
import fc from 'fast-check';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { buildDataset, el, seq, testUid } from './test-support/dataset-builder.ts';
import { associateRq, commandSet, pdata, rawPeer, responseStatus, type RawPeer } from './test-support/raw-peer.ts';
import { device, MODALITY_AE, run, SCP_AE, startTestScp, type TestScp } from './test-support/harness.ts';
import { PduType } from './pdu.ts';
import { MODALITY_WORKLIST_FIND, TS, VERIFICATION } from './uids.ts';

const US = '1.2.840.10008.5.1.4.1.1.6.1';
const contexts = [
  { id: 1, abstractSyntax: US, transferSyntaxes: [TS.explicitLE] },
  { id: 3, abstractSyntax: VERIFICATION, transferSyntaxes: [TS.implicitLE] },
  { id: 5, abstractSyntax: MODALITY_WORKLIST_FIND, transferSyntaxes: [TS.explicitLE] },
];

function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, withFileTypes: true }).filter((d) => d.isFile()).map((d) => join(d.parentPath, d.name));
}

async function associated(scp: TestScp): Promise<RawPeer> {
  const p = await rawPeer(scp.server.port);
  await p.send(associateRq(MODALITY_AE, SCP_AE, contexts));
  const ac = await p.nextPdu();
  if (!ac || ac[0] !== PduType.AssociateAc) throw new Error(`expected A-ASSOCIATE-AC, got ${ac?.[0]}`);
  return p;
}

async function echoOk(scp: TestScp): Promise<boolean> {
  const r = await run('echoscu', ['-aet', MODALITY_AE, '-aec', SCP_AE, '127.0.0.1', String(scp.server.port)]);
  return r.code === 0;
}

/** Ends when the server closed the connection; returns the PDU types it sent. */
async function drain(p: RawPeer): Promise<number[]> {
  const types: number[] = [];
  for (;;) {
    const pdu = await p.nextPdu(8000);
    if (!pdu) return types;
    types.push(pdu[0]!);
  }
}

function storeCommand(sopInstanceUid: string): Buffer {
  return pdata(1, commandSet({ sopClassUid: US, command: 0x0001, messageId: 1, hasDataset: true, sopInstanceUid }), true, true);
}

t.test('framing and state errors abort the association; the SCP keeps serving', async (t) => {
  const scp = await startTestScp();
  t.teardown(() => scp.close());
  const cases: [string, (p: RawPeer) => Promise<void>, boolean][] = [
    ['unknown PDU type', (p) => p.send(Buffer.from([0x09, 0, 0, 0, 0, 2, 0, 0])), false],
    ['A-ASSOCIATE-RQ declaring 16 MB', (p) => p.send(Buffer.from([0x01, 0, 0x01, 0, 0, 0, 0, 1])), false],
    ['A-ASSOCIATE-RQ shorter than its fixed part', (p) => p.send(Buffer.from([0x01, 0, 0, 0, 0, 4, 0, 1, 0, 0])), false],
    ['P-DATA before association', (p) => p.send(pdata(1, Buffer.from([1, 2]), true, true)), false],
    ['release request with a 6-byte body', (p) => p.send(Buffer.from([0x05, 0, 0, 0, 0, 6, 0, 0, 0, 0, 0, 0])), false],
    ['P-DATA declaring more than the max PDU', (p) => p.send(Buffer.from([0x04, 0, 0x7f, 0xff, 0xff, 0xff, 0, 0, 0, 0])), true],
    ['PDV item longer than its PDU', (p) => p.send(Buffer.from([
      0x04, 0x00, 0x00, 0x00, 0x00, 0x08, // P-DATA-TF, body 8
      0x00, 0x00, 0x01, 0x00, // PDV length 256 (only 4 bytes follow)
      0x01, 0x03, 0xaa, 0xbb, // pc 1, command+last, 2 bytes
    ])), true],
    ['PDV on an even presentation context id', (p) => p.send(pdata(2, Buffer.from([1, 2]), true, true)), true],
    ['data set PDV without a command', (p) => p.send(pdata(1, Buffer.alloc(10), false, true)), true],
  ];
  for (const [name, act, assoc] of cases) {
    const before = scp.server.counters.protocolErrors;
    const p = assoc ? await associated(scp) : await rawPeer(scp.server.port);
    await act(p);
    await drain(p);
    t.ok(p.isClosed(), `${name}: connection closed`);
    t.equal(scp.server.counters.protocolErrors, before + 1, `${name}: counted`);
  }
  t.ok(await echoOk(scp), 'still answers C-ECHO');
  t.same(filesUnder(scp.dir), [], 'nothing stored');
});

t.test('A-ASSOCIATE-RQ with an item longer than the PDU is refused', async (t) => {
  const scp = await startTestScp();
  t.teardown(() => scp.close());
  const rq = associateRq(MODALITY_AE, SCP_AE, contexts);
  rq.writeUInt16BE(0xfff0, 6 + 68 + 2); // application context item length -> far past the end
  const p = await rawPeer(scp.server.port);
  await p.send(rq);
  await drain(p);
  t.equal(scp.server.counters.protocolErrors, 1);
  t.equal(scp.server.counters.associationsAccepted, 0);
});

// The store-related cases run twice: file side on the main thread, and in the store worker (store-offload.ts).
const named = (w: 'off' | 'all') => (w === 'all' ? ' [store worker]' : '');
for (const storeWorker of ['off', 'all'] as const) {
  t.test(`a C-STORE whose data set lies about a length gets a failure status and no file${named(storeWorker)}`, async (t) => {
    const scp = await startTestScp([device()], { storeWorker });
    t.teardown(() => scp.close());
    const p = await associated(scp);
    const uid = testUid();
    const ds = buildDataset({ sopClassUid: US, sopInstanceUid: uid, studyInstanceUid: testUid(), seriesInstanceUid: testUid(), modality: 'US' });
    // the pixel data element (last, 64*64 bytes) declares 4096 bytes; send 1000 fewer
    await p.send(storeCommand(uid));
    await p.send(pdata(1, ds.subarray(0, ds.length - 1000), false, true));
    const rsp = await p.nextPdu();
    t.equal(responseStatus(rsp!), 0xc000, 'cannot understand');
    t.equal(scp.server.counters.storesMalformed, 1);
    t.same(filesUnder(scp.dir), []);
    // the association is still usable
    await p.send(pdata(3, commandSet({ sopClassUid: VERIFICATION, command: 0x0030, messageId: 2, hasDataset: false }), true, true));
    t.equal(responseStatus((await p.nextPdu())!), 0, 'C-ECHO on the same association');
    p.destroy();
  });

  t.test(`C-STORE on a context that does not carry its SOP class is refused; mixed PDVs in one PDU${named(storeWorker)}`, async (t) => {
    const scp = await startTestScp([device()], { storeWorker });
    t.teardown(() => scp.close());
    const p = await associated(scp);
    const uid = testUid();
    const ds = buildDataset({ sopClassUid: US, sopInstanceUid: uid, studyInstanceUid: testUid(), seriesInstanceUid: testUid(), modality: 'US' });
    // C-STORE of a US image on the Verification context (id 3)
    await p.send(pdata(3, commandSet({ sopClassUid: US, command: 0x0001, messageId: 1, hasDataset: true, sopInstanceUid: uid }), true, true));
    await p.send(pdata(3, ds, false, true));
    t.equal(responseStatus((await p.nextPdu())!), 0x0122, 'SOP class not supported');
    t.same(filesUnder(scp.dir), []);
    // one PDU carrying the last data fragment of a C-STORE and a whole C-ECHO command
    await p.send(storeCommand(uid));
    await p.send(pdata(1, ds.subarray(0, 100), false, false));
    const tail = pdata(1, ds.subarray(100), false, true);
    const echoPdv = pdata(3, commandSet({ sopClassUid: VERIFICATION, command: 0x0030, messageId: 3, hasDataset: false }), true, true).subarray(6);
    const body = Buffer.concat([tail.subarray(6), echoPdv]);
    const head = Buffer.from([0x04, 0, 0, 0, 0, 0]);
    head.writeUInt32BE(body.length, 2);
    await p.send(Buffer.concat([head, body]));
    const statuses = [responseStatus((await p.nextPdu())!), responseStatus((await p.nextPdu())!)];
    t.same(statuses.sort(), [0, 0], 'both the store and the echo answered with success');
    t.equal(scp.stored.length, 1);
    p.destroy();
  });

  t.test(`a data set in uneven PDVs, PDUs split across TCP writes: stored byte for byte, sha256 of the file${named(storeWorker)}`, async (t) => {
    const scp = await startTestScp([device()], { storeWorker });
    t.teardown(() => scp.close());
    const p = await associated(scp);
    // ~190 KB: pixel data of 250 x 250 x 3 bytes with a recognisable pattern
    const pixels = Buffer.alloc(250 * 250 * 3);
    for (let i = 0; i < pixels.length; i++) pixels[i] = (i * 31 + (i >> 9)) & 0xff;
    const uid = testUid();
    const ds = buildDataset({ sopClassUid: US, sopInstanceUid: uid, studyInstanceUid: testUid(), seriesInstanceUid: testUid(), modality: 'US', rows: 250, columns: 250, samplesPerPixel: 3, pixels });
    // PDVs of uneven sizes (1 byte, odd sizes, up to 60 KB), two or three per PDU now and then
    const sizes = [1, 7, 131, 4093, 60_000, 3, 65_000 - 12, 17, 33_333];
    const pdvs: Buffer[] = [];
    for (let off = 0, k = 0; off < ds.length; k++) {
      const n = Math.min(sizes[k % sizes.length]!, ds.length - off);
      const last = off + n === ds.length;
      pdvs.push(pdata(1, ds.subarray(off, off + n), false, last).subarray(6));
      off += n;
    }
    const pdus: Buffer[] = [];
    for (let i = 0; i < pdvs.length;) {
      const group = pdvs.slice(i, i + 1 + (i % 3 === 2 && pdvs[i]!.length + (pdvs[i + 1]?.length ?? 0) < 65_000 ? 1 : 0));
      i += group.length;
      const head = Buffer.from([0x04, 0, 0, 0, 0, 0]);
      head.writeUInt32BE(group.reduce((n, b) => n + b.length, 0), 2);
      pdus.push(head, ...group);
    }
    const stream = Buffer.concat([storeCommand(uid), ...pdus]);
    // cut the byte stream at uneven places (inside PDU and PDV headers too), each piece its own write
    const cuts = [3, 11, 5000, 1, 2, 70_001, 9, 40_000, 6];
    for (let off = 0, k = 0; off < stream.length; k++) {
      const n = Math.min(cuts[k % cuts.length]!, stream.length - off);
      await p.send(stream.subarray(off, off + n));
      if (k % 4 === 0) await sleep(1);
      off += n;
    }
    t.equal(responseStatus((await p.nextPdu())!), 0, 'success');
    t.equal(scp.stored.length, 1);
    const m = scp.stored[0]!;
    const file = readFileSync(m.path);
    t.ok(file.subarray(file.length - ds.length).equals(ds), 'the data set is stored byte for byte');
    t.equal(m.size, file.length, 'size of the whole file');
    t.equal(m.sha256, createHash('sha256').update(file).digest('hex'), 'sha256 of the whole file');
    t.equal(scp.server.counters.storesInWorker, storeWorker === 'all' ? 1 : 0, 'where the file side ran');
    t.same(filesUnder(scp.dir).filter((f) => f.endsWith('.tmp')), [], 'no temp file left');
    p.destroy();
  });

  t.test(`a broken PDV item in a PDU that arrives in pieces, mid data set: aborted, nothing stored${named(storeWorker)}`, async (t) => {
    const scp = await startTestScp([device()], { storeWorker });
    t.teardown(() => scp.close());
    const p = await associated(scp);
    const uid = testUid();
    const ds = buildDataset({ sopClassUid: US, sopInstanceUid: uid, studyInstanceUid: testUid(), seriesInstanceUid: testUid(), modality: 'US', rows: 200, columns: 200 });
    await p.send(storeCommand(uid));
    await p.send(pdata(1, ds.subarray(0, 20_000), false, false));
    // one PDU: a good data PDV, then a PDV item declaring more bytes than the PDU holds
    const good = pdata(1, ds.subarray(20_000, 30_000), false, false).subarray(6);
    const bad = Buffer.from([0x00, 0x00, 0x10, 0x00, 0x01, 0x00, 0xaa, 0xbb]); // declares 4096 bytes, 4 follow
    const body = Buffer.concat([good, bad]);
    const head = Buffer.from([0x04, 0, 0, 0, 0, 0]);
    head.writeUInt32BE(body.length, 2);
    const pdu = Buffer.concat([head, body]);
    await p.send(pdu.subarray(0, 4));
    await p.send(pdu.subarray(4, 5000));
    await sleep(20);
    await p.send(pdu.subarray(5000));
    t.same(await drain(p), [PduType.Abort], 'A-ABORT');
    await sleep(50);
    t.equal(scp.stored.length, 0);
    t.same(filesUnder(scp.dir), [], 'no file, no temp file');
    t.ok(await echoOk(scp), 'still answers C-ECHO');
  });

  t.test(`deeply nested sequences: C-STORE refused, C-FIND aborted${named(storeWorker)}`, async (t) => {
    const scp = await startTestScp([device()], { storeWorker, worklistProvider: () => [] });
    t.teardown(() => scp.close());
    const enc = { explicit: true };
    let nested = el(0x00100020, 'LO', 'X', enc);
    for (let i = 0; i < 200; i++) nested = seq(0x00400100, [nested], enc, true);
    const uid = testUid();
    const head = Buffer.concat([el(0x00080016, 'UI', US, enc), el(0x00080018, 'UI', uid, enc)]);
    const p = await associated(scp);
    await p.send(storeCommand(uid));
    await p.send(pdata(1, Buffer.concat([head, nested]), false, true));
    t.equal(responseStatus((await p.nextPdu())!), 0xc000);
    t.same(filesUnder(scp.dir), []);
    p.destroy();

    const q = await associated(scp);
    await q.send(pdata(5, commandSet({ sopClassUid: MODALITY_WORKLIST_FIND, command: 0x0020, messageId: 1, hasDataset: true }), true, true));
    await q.send(pdata(5, nested, false, true));
    const types = await drain(q);
    t.ok(types.includes(PduType.Abort), 'A-ABORT sent');
    t.ok(await echoOk(scp));
  });

  t.test(`a peer that vanishes or stalls mid-transfer leaves nothing behind${named(storeWorker)}`, async (t) => {
    const scp = await startTestScp([device()], { storeWorker, pduTimeoutMs: 1500 });
    t.teardown(() => scp.close());
    const mk = () => {
      const uid = testUid();
      return { uid, ds: buildDataset({ sopClassUid: US, sopInstanceUid: uid, studyInstanceUid: testUid(), seriesInstanceUid: testUid(), modality: 'US', rows: 256, columns: 256 }) };
    };
    // vanishes: half the data set, then the socket is destroyed
    const a = mk();
    const p = await associated(scp);
    await p.send(storeCommand(a.uid));
    await p.send(pdata(1, a.ds.subarray(0, a.ds.length / 2), false, false));
    await sleep(100);
    p.destroy();
    // stalls: half the data set, then silence until the PDU timeout
    const b = mk();
    const q = await associated(scp);
    await q.send(storeCommand(b.uid));
    await q.send(pdata(1, b.ds.subarray(0, b.ds.length / 2), false, false));
    await drain(q);
    t.ok(q.isClosed(), 'stalled peer disconnected');
    t.ok(scp.server.counters.timeouts >= 1, 'timeout counted');
    await sleep(200);
    t.same(filesUnder(scp.dir), [], 'no temp or final file');
    t.equal(scp.stored.length, 0);
    t.ok(await echoOk(scp));
  });

  t.test(`an instance above maxInstanceBytes aborts the association, memory stays bounded${named(storeWorker)}`, async (t) => {
    const scp = await startTestScp([device()], { storeWorker, maxInstanceBytes: 100_000 });
    t.teardown(() => scp.close());
    const uid = testUid();
    const ds = buildDataset({ sopClassUid: US, sopInstanceUid: uid, studyInstanceUid: testUid(), seriesInstanceUid: testUid(), modality: 'US', rows: 512, columns: 512 });
    const p = await associated(scp);
    await p.send(storeCommand(uid));
    for (let off = 0; off < ds.length && !p.isClosed(); off += 16000) await p.send(pdata(1, ds.subarray(off, off + 16000), false, off + 16000 >= ds.length));
    const types = await drain(p);
    t.ok(types.includes(PduType.Abort), 'A-ABORT');
    t.equal(scp.server.counters.storesTooLarge, 1);
    await sleep(100);
    t.same(filesUnder(scp.dir), []);
  });
}

t.test('connection flood and association limit', async (t) => {
  const scp = await startTestScp([device()], { maxConnections: 5, maxAssociations: 2 });
  t.teardown(() => scp.close());
  const peers = await Promise.all(Array.from({ length: 20 }, () => rawPeer(scp.server.port)));
  await sleep(200);
  const open = peers.filter((p) => !p.isClosed());
  t.equal(open.length, 5, 'only maxConnections stay open');
  t.equal(scp.server.counters.connectionsRefused, 15);
  // two associations fill the limit; the third is rejected transient / local limit exceeded
  await open[0]!.send(associateRq(MODALITY_AE, SCP_AE, contexts));
  await open[1]!.send(associateRq(MODALITY_AE, SCP_AE, contexts));
  t.equal((await open[0]!.nextPdu())![0], PduType.AssociateAc);
  t.equal((await open[1]!.nextPdu())![0], PduType.AssociateAc);
  await open[2]!.send(associateRq(MODALITY_AE, SCP_AE, contexts));
  const rj = (await open[2]!.nextPdu())!;
  t.same([rj[0], rj[7], rj[8], rj[9]], [PduType.AssociateRj, 2, 3, 2], 'A-ASSOCIATE-RJ transient, provider, local limit');
  t.equal(scp.server.counters.rejectedLimit, 1);
  for (const p of peers) p.destroy();
  await sleep(200);
  t.ok(await echoOk(scp), 'serves again once the flood is gone');
});

t.test('a flood from one host leaves room for the other devices', async (t) => {
  const scp = await startTestScp([device()], { maxConnectionsPerHost: 3 });
  t.teardown(() => scp.close());
  // the whole 127/8 is loopback on Linux: the flood comes from 127.0.0.2
  const flood = await Promise.all(Array.from({ length: 10 }, () => rawPeer(scp.server.port, '127.0.0.2')));
  await sleep(200);
  t.equal(flood.filter((p) => !p.isClosed()).length, 3, 'three kept from the flooding host');
  t.ok(await echoOk(scp), 'a registered device on another address is still served');
  for (const p of flood) p.destroy();
});

t.test('a slow registry cannot let a burst overshoot the association limit; a failing one rejects transiently', async (t) => {
  let fail = false;
  const scp = await startTestScp([device()], {
    maxAssociations: 2,
    lookupDevice: async (ae) => {
      await sleep(100);
      if (fail) throw new Error('registry database locked');
      return ae === MODALITY_AE ? device() : null;
    },
  });
  t.teardown(() => scp.close());
  const peers = await Promise.all(Array.from({ length: 5 }, () => rawPeer(scp.server.port)));
  await Promise.all(peers.map((p) => p.send(associateRq(MODALITY_AE, SCP_AE, contexts))));
  const answers = await Promise.all(peers.map((p) => p.nextPdu()));
  t.equal(answers.filter((a) => a?.[0] === PduType.AssociateAc).length, 2);
  t.equal(answers.filter((a) => a?.[0] === PduType.AssociateRj).length, 3);
  t.equal(scp.server.counters.rejectedLimit, 3);
  for (const p of peers) p.destroy();
  await sleep(100);
  fail = true;
  const p = await rawPeer(scp.server.port);
  await p.send(associateRq(MODALITY_AE, SCP_AE, contexts));
  const rj = (await p.nextPdu())!;
  t.same([rj[0], rj[7], rj[8], rj[9]], [PduType.AssociateRj, 2, 3, 1], 'transient, provider, temporary congestion');
  t.equal(scp.server.counters.rejectedUnavailable, 1);
  p.destroy();
});

t.test('arbitrary bytes after a valid association never crash the SCP or store anything', async (t) => {
  const scp = await startTestScp();
  t.teardown(() => scp.close());
  await fc.assert(
    fc.asyncProperty(fc.array(fc.uint8Array({ minLength: 1, maxLength: 300 }), { minLength: 1, maxLength: 4 }), async (chunks) => {
      const p = await associated(scp);
      for (const c of chunks) await p.send(Buffer.from(c));
      await sleep(20);
      p.destroy();
      await p.closed;
    }),
    { numRuns: 40 },
  );
  await sleep(100);
  t.ok(await echoOk(scp));
  t.equal(scp.stored.length, 0);
  t.same(filesUnder(scp.dir).filter((f) => f.endsWith('.tmp')), []);
});
