/** Forwarding survives an edge restart while central is unreachable, and catches up when it appears. */
import t from 'tap';
import { createServer } from 'node:net';
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { buildPart10 } from '../../device-drivers/dicom/test-support/dataset-builder.ts';
import { join } from 'node:path';
import { startNatsServer } from '../helpers/nats-server.ts';
import { centralInProcess, clinicName, edgeInProcess, tempDir } from '../helpers/spine.ts';
import { clinicToken } from '../../contracts/clinic-token.ts';
import { waitFor } from '../helpers/wait.ts';
import { imaging, imagingEnv, run, testUid, writeInstance } from './fixtures.ts';

const freePort = () => new Promise<number>((resolve) => {
  const s = createServer().listen(0, '127.0.0.1', () => {
    const p = (s.address() as { port: number }).port;
    s.close(() => resolve(p));
  });
});

t.test('pending uploads resume after an edge restart; central outage of unknown length', async (t) => {
  await using ns = await startNatsServer();
  const tmp = tempDir('img-resume');
  t.teardown(tmp.cleanup);
  const centralPort = await freePort();
  const clinic = clinicName('imgrs');
  imagingEnv({ AE_TITLE: 'EDGE_RS', HOST: '127.0.0.1', PORT: '0', CENTRAL_URL: `http://127.0.0.1:${centralPort}`, CENTRAL_TOKEN: undefined, UPLOAD_TOKEN: clinicToken('test-token-0123456789', clinic), FORWARD_RETRY_MAX_MS: '300' });
  let edge = await edgeInProcess(ns.url, clinic, `${tmp.dir}/edge`);
  imaging(edge).repo.addDevice({ aeTitle: 'US_ROOM9', host: '127.0.0.1', port: 104, modality: 'US', enabled: true });
  const files = join(tmp.dir, 'files');
  mkdirSync(files);
  const study = testUid();
  const sent = [0, 1, 2, 3].map(() => writeInstance(files, { modality: 'US', name: '陈静', patientId: 'P-RS-1', study }));
  const r = await run('storescu', ['-aet', 'US_ROOM9', '-aec', 'EDGE_RS', '127.0.0.1', String(imaging(edge).scp!.port), ...sent.map((f) => f.path)], { env: { TCP_NODELAY: '1' } });
  t.equal(r.code, 0, r.stderr);
  await waitFor('attempts made', () => (imaging(edge).repo.instance(sent[0]!.sop)?.fwdAttempts ?? 0) > 0, 10_000);
  t.equal(imaging(edge).repo.forwardStats().pending, 4, 'nothing forwarded while central is unreachable');
  await edge.stop();

  edge = await edgeInProcess(ns.url, clinic, `${tmp.dir}/edge`);
  const central = await centralInProcess(ns.url, `${tmp.dir}/central`, { httpPort: centralPort });
  t.teardown(async () => { await edge.stop(); await central.stop(); });
  await waitFor('forwarded after restart', () => imaging(edge).repo.forwardStats().pending === 0, 30_000);
  const n = (central.wh.db.prepare('SELECT count(*) AS n FROM imaging_instances WHERE clinic_id = ?').get(clinic) as { n: number }).n;
  t.equal(n, 4, 'all four instances at central');
  t.equal(imaging(edge).repo.unreconciled().length, 1, 'the unmatched study is still waiting for reconciliation after the restart');
});

t.test('a large instance goes up in parts: central restarted mid-upload, the upload goes on where central\'s copy ends', async (t) => {
  await using ns = await startNatsServer();
  const tmp = tempDir('img-parts');
  t.teardown(tmp.cleanup);
  let central = await centralInProcess(ns.url, `${tmp.dir}/central`);
  const centralPort = central.http.port;
  const clinic = clinicName('imgpt');
  // 256 KiB parts at 1 MB/s: a 3 MiB multi-frame takes ~3 s, long enough to cut in the middle.
  imagingEnv({ AE_TITLE: 'EDGE_PT', HOST: '127.0.0.1', PORT: '0', CENTRAL_URL: central.http.url, CENTRAL_TOKEN: undefined, UPLOAD_TOKEN: clinicToken('test-token-0123456789', clinic), FORWARD_RETRY_MAX_MS: '300', FORWARD_RATE: '1000000', FORWARD_CHUNK_BYTES: '262144' });
  t.teardown(() => imagingEnv({ FORWARD_RATE: undefined, FORWARD_CHUNK_BYTES: undefined }));
  const edge = await edgeInProcess(ns.url, clinic, `${tmp.dir}/edge`);
  t.teardown(async () => { await edge.stop(); await central.stop(); });
  const img = imaging(edge);
  img.repo.addDevice({ aeTitle: 'US_ROOM8', host: '127.0.0.1', port: 104, modality: 'US', enabled: true });
  const files = join(tmp.dir, 'files');
  mkdirSync(files);
  const sop = testUid();
  const path = join(files, 'cine.dcm');
  writeFileSync(path, buildPart10({ sopClassUid: '1.2.840.10008.5.1.4.1.1.3.1', sopInstanceUid: sop, studyInstanceUid: testUid(), seriesInstanceUid: testUid(), modality: 'US', patientId: 'P-PT', rows: 512, columns: 512, frames: 12 }));
  const r = await run('storescu', ['-aet', 'US_ROOM8', '-aec', 'EDGE_PT', '127.0.0.1', String(img.scp!.port), path], { env: { TCP_NODELAY: '1' } });
  t.equal(r.code, 0, r.stderr);
  const local = img.repo.instance(sop)!;
  t.ok(local.size > 3 * 1024 * 1024, `a ${local.size}-byte instance`);
  const partFile = join(tmp.dir, 'central', 'imaging', '.uploads', clinic, `${sop}.${local.sha256}.part`);
  const held = () => { try { return statSync(partFile).size; } catch { return 0; } };
  await waitFor('two parts at central', () => held() >= 512 * 1024, 20_000);
  await central.stop();
  const before = held();
  t.ok(before > 0 && before < local.size, `central stopped holding ${before} of ${local.size} bytes`);
  await waitFor('an attempt fails while central is away', () => img.forwarder.counters.failures > 0, 10_000);
  central = await centralInProcess(ns.url, `${tmp.dir}/central`, { httpPort: centralPort });
  await waitFor('forwarded', () => img.repo.forwardStats().pending === 0, 30_000);
  t.ok(img.forwarder.counters.resumed >= 1, `taken up again ${img.forwarder.counters.resumed} time(s)`);
  t.ok(img.forwarder.counters.resumedBytes >= before, `${img.forwarder.counters.resumedBytes} bytes not sent again (central held ${before})`);
  const atCentral = await central.wh.db.prepare('SELECT path, sha256, size FROM imaging_instances WHERE sop_instance_uid = ?').get(sop) as { path: string; sha256: string; size: number };
  t.same([atCentral.sha256, atCentral.size], [local.sha256, local.size], 'central holds it with the edge\'s sha256');
  t.ok(readFileSync(atCentral.path).equals(readFileSync(local.path)), 'byte for byte');
  t.equal(held(), 0, 'no partial copy left at central');
});
