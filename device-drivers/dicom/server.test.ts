import t from 'tap';
import { Socket } from 'node:net';
import { echo } from './echo.ts';
import { device, MODALITY_AE, SCP_AE, startTestScp } from './test-support/harness.ts';

t.test('accepted sockets get TCP no-delay; rejections are logged with their reason', async (t) => {
  const calls: boolean[] = [];
  const orig = Socket.prototype.setNoDelay;
  Socket.prototype.setNoDelay = function (this: Socket, noDelay?: boolean) {
    calls.push(noDelay ?? true);
    return orig.call(this, noDelay);
  };
  t.teardown(() => {
    Socket.prototype.setNoDelay = orig;
  });
  const warnings: { event?: string; reason?: string; callingAe?: string }[] = [];
  const scp = await startTestScp([device()], { log: { info() {}, error() {}, warn: (o) => warnings.push(o as (typeof warnings)[number]) } });
  t.teardown(() => scp.close());
  const ok = await echo({ host: '127.0.0.1', port: scp.server.port, callingAe: MODALITY_AE, calledAe: SCP_AE });
  t.ok(ok.ok);
  t.ok(calls.includes(true), 'setNoDelay(true) on the server side');
  await echo({ host: '127.0.0.1', port: scp.server.port, callingAe: 'STRANGER', calledAe: SCP_AE });
  t.match(warnings, [{ event: 'dicom.association.rejected', reason: 'unknown-ae', callingAe: 'STRANGER' }]);
});
