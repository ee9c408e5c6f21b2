/** Guards the dcmjs-dimse internals the SCP hooks, so an upgrade that moves them fails here. */
import t from 'tap';
import { Socket } from 'node:net';
import { Scp, association, dimseVersion, elementString, internals } from './dimse.ts';
import { DicomConfigError, resolveOptions } from './config.ts';
import { silentLogger } from './types.ts';

t.test('dcmjs-dimse internals used by EdgeScp', async (t) => {
  t.equal(dimseVersion, '0.3.3', 'hooks were checked against 0.3.3');
  const socket = new Socket();
  const scp = new Scp(socket, { associationTimeout: 1000 });
  const net = internals(scp);
  t.equal(socket.listenerCount('data'), 1, 'exactly one data listener to replace');
  t.type(net._processPdu, 'function');
  t.equal(net.socket, socket);
  t.type(net.association, 'undefined', 'association appears once requested');
  t.type(association.Association.prototype.toString, 'function', 'Association#toString (quietAssociationText replaces it)');
  socket.destroy();
  socket.emit('close');
});

t.test('naturalized values as strings', async (t) => {
  t.equal(elementString([{ Alphabetic: 'ZHANG^SAN', Ideographic: '张三' }]), 'ZHANG^SAN=张三');
  t.equal(elementString(['US']), 'US');
  t.equal(elementString(12), '12');
  t.equal(elementString([]), '');
  t.equal(elementString(undefined), undefined);
});

function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (e) {
    return e;
  }
  return undefined;
}

t.test('config fails fast with the field name', async (t) => {
  const base = { aeTitle: 'EDGE', storageDir: '/tmp/x', lookupDevice: () => null, onInstance: async () => {} };
  t.equal(resolveOptions(base, silentLogger).maxAssociations, 16);
  t.throws(() => resolveOptions({ ...base, aeTitle: 'A\\B' }, silentLogger), DicomConfigError);
  t.match(thrown(() => resolveOptions({ ...base, aeTitle: 'THIS_IS_TOO_LONG_FOR_AE' }, silentLogger)), { field: 'aeTitle' });
  t.match(thrown(() => resolveOptions({ ...base, maxPduLength: 100 }, silentLogger)), { field: 'maxPduLength' });
  t.match(thrown(() => resolveOptions({ ...base, maxAssociations: 0 }, silentLogger)), { field: 'maxAssociations' });
  t.match(thrown(() => resolveOptions({ ...base, port: 70000 }, silentLogger)), { field: 'port' });
  t.match(thrown(() => resolveOptions({ ...base, storageDir: '' }, silentLogger)), { field: 'storageDir' });
});
