import t from 'tap';
import fc from 'fast-check';
import { diskBytes, inWindow, loadImagingConfig, parseDiskAmount, parseWindows } from './config.ts';

t.test('forwarding windows, including one that wraps midnight', async (t) => {
  const w = parseWindows('19:00-07:00, 12:00-13:30');
  const at = (h: number, m = 0) => new Date(2026, 10, 28, h, m);
  t.ok(inWindow(w, at(23)), '23:00 in the night window');
  t.ok(inWindow(w, at(6, 59)));
  t.notOk(inWindow(w, at(7)), '07:00 is the end (exclusive)');
  t.ok(inWindow(w, at(12, 30)), 'lunch window');
  t.notOk(inWindow(w, at(10)), 'clinic hours: outside');
  t.ok(inWindow([], at(10)), 'no windows: always');
});

t.test('config from EDGE_DICOM_*: defaults and clear errors', async (t) => {
  const c = loadImagingConfig('/data', {});
  t.equal(c.storageDir, '/data/dicom');
  t.equal(c.port, 0);
  t.equal(c.enabled, true);
  const d = loadImagingConfig('/data', { EDGE_DICOM_PORT: '11112', EDGE_DICOM_FORWARD_RATE: '500000', EDGE_DICOM_FORWARD_WINDOWS: '19:00-07:00', EDGE_DICOM_ENABLED: 'false' });
  t.same([d.port, d.forwardRate, d.forwardWindows, d.enabled], [11112, 500000, '19:00-07:00', false]);
  t.throws(() => loadImagingConfig('/data', { EDGE_DICOM_FORWARD_WINDOWS: '7-19' }), /forwardWindows \(env EDGE_DICOM_FORWARD_WINDOWS\)/);
  t.throws(() => loadImagingConfig('/data', { EDGE_DICOM_AE_TITLE: 'MUCH_TOO_LONG_AE_TITLE' }), /aeTitle/);
});

t.test('disk amounts: bytes, binary units, a share of the disk; anything else named with its variable', async (t) => {
  const c = loadImagingConfig('/data', {});
  t.same([c.diskReserve, c.evictBelowFree, c.keepDays], [{ bytes: 1024 ** 3 }, { percent: 10 }, 0], 'defaults: 1 GiB reserve, evict below 10% free, keep while there is room');
  const d = loadImagingConfig('/data', { EDGE_DICOM_DISK_RESERVE: '512M', EDGE_DICOM_EVICT_BELOW_FREE: '1.5GiB', EDGE_DICOM_KEEP_DAYS: '180' });
  t.same([d.diskReserve, d.evictBelowFree, d.keepDays], [{ bytes: 512 * 1024 ** 2 }, { bytes: 1.5 * 1024 ** 3 }, 180]);
  t.same(parseDiskAmount('2048'), { bytes: 2048 });
  t.same(parseDiskAmount(' 7.5 % '), { percent: 7.5 });
  t.same(parseDiskAmount('1t'), { bytes: 1024 ** 4 });
  t.equal(diskBytes({ percent: 10 }, 1000), 100);
  for (const bad of ['-1', '100%', '1X', '', 'ten', '1e9']) t.equal(parseDiskAmount(bad), null, `"${bad}" refused`);
  t.throws(() => loadImagingConfig('/data', { EDGE_DICOM_DISK_RESERVE: 'lots' }), /diskReserve \(env EDGE_DICOM_DISK_RESERVE\): "lots" is not a disk amount/);
  fc.assert(fc.property(fc.string({ maxLength: 12 }), (s) => {
    const a = parseDiskAmount(s);
    return a === null || ('bytes' in a ? Number.isSafeInteger(a.bytes) && a.bytes >= 0 : a.percent >= 0 && a.percent < 100);
  }), { numRuns: 2000 });
});
