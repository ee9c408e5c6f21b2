import t from 'tap';
import { inWindow, loadImagingConfig, parseWindows } from './config.ts';

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
