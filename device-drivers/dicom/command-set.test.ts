import t from 'tap';
import fc from 'fast-check';
import { readCommandSet, C_STORE_RQ } from './command-set.ts';
import { DatasetError } from '../../contracts/dicom/dataset-walker.ts';
import { commandSet } from './test-support/raw-peer.ts';

t.test('round trip of generated command sets', async (t) => {
  const uid = fc.array(fc.integer({ min: 1, max: 99999 }), { minLength: 2, maxLength: 8 }).map((a) => a.join('.'));
  fc.assert(fc.property(uid, uid, fc.integer({ min: 0, max: 65535 }), fc.boolean(), (cls, inst, id, ds) => {
    const c = readCommandSet(commandSet({ sopClassUid: cls, command: C_STORE_RQ, messageId: id, hasDataset: ds, sopInstanceUid: inst }));
    return c.affectedSopClassUid === cls && c.affectedSopInstanceUid === inst && c.messageId === id && c.commandField === C_STORE_RQ && c.dataSetType === (ds ? 0 : 0x0101);
  }));
  t.pass();
});

t.test('random bytes raise only DatasetError', async (t) => {
  fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), (a) => {
    try {
      readCommandSet(Buffer.from(a));
    } catch (e) {
      if (!(e instanceof DatasetError)) throw e;
    }
    return true;
  }), { numRuns: 2000 });
  t.pass();
});

t.test('fixtures', async (t) => {
  t.throws(() => readCommandSet(Buffer.from([
    0x00, 0x00, 0x00, 0x01, // (0000,0100) command field
    0x02, 0x00, 0x00, 0x00, // length 2
    0x01, // only 1 byte
  ])), /declares 2 bytes/);
  t.throws(() => readCommandSet(Buffer.from([
    0x08, 0x00, 0x16, 0x00, // (0008,0016): not a command group
    0x00, 0x00, 0x00, 0x00,
  ])), /group 8/);
  t.throws(() => readCommandSet(Buffer.from([
    0x00, 0x00, 0x00, 0x01, // (0000,0100)
    0x04, 0x00, 0x00, 0x00, // US with 4 bytes
    0x01, 0x00, 0x00, 0x00,
  ])), /must be 2 bytes/);
});
