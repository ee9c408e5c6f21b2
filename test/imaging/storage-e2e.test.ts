/**
 * The clinic's image disk filling up, end to end with real peers: the edge's DICOM store on a
 * 40 MiB tmpfs, storescu sending 1 MiB DX images while central is down. Below the 8 MiB reserve
 * the SCP refuses with 0xA700 (storescu sees it; nothing it was told "stored" is lost); the pages
 * say so in Chromium. Central comes back: everything is uploaded, the oldest uploads are removed
 * from the disk until it is above the eviction line, the refused images sent again are stored,
 * every instance is at central with its sha256. The study page shows a removed image from
 * central's rendering; with central gone again the tile says why in words.
 */
import t from 'tap';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startNatsServer } from '../helpers/nats-server.ts';
import { centralInProcess, clinicName, edgeInProcess, tempDir } from '../helpers/spine.ts';
import { clinicToken } from '../../contracts/clinic-token.ts';
import { edgeLogin, launchBrowser, screenshotPath } from '../helpers/browser.ts';
import { mountTmpfs, tmpfsUnavailable } from '../helpers/tmpfs.ts';
import { waitFor } from '../helpers/wait.ts';
import { imaging, imagingEnv, run, testUid, DX_SOP } from './fixtures.ts';
import { buildPart10 } from '../../device-drivers/dicom/test-support/dataset-builder.ts';
import type { Central } from '../../central/app.ts';

const TOKEN = 'test-token-0123456789';
const MiB = 1024 * 1024;
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

t.test('image disk full: refused below the reserve, uploaded images removed once central holds them, nothing lost', { skip: tmpfsUnavailable() }, async (t) => {
  await using ns = await startNatsServer();
  const tmp = tempDir('img-disk');
  t.teardown(tmp.cleanup);
  const fs = mountTmpfs('img-disk', 40 * MiB);
  if ('skip' in fs) throw new Error(fs.skip);
  t.teardown(() => fs.close());
  // Central's port first; then central down for the first part.
  let central: Central = await centralInProcess(ns.url, `${tmp.dir}/central`);
  const centralPort = central.http.port;
  const centralUrl = central.http.url;
  await central.stop();
  const clinic = clinicName('disk');
  imagingEnv({
    AE_TITLE: 'EDGE_DISK', HOST: '127.0.0.1', PORT: '0', STORAGE_DIR: join(fs.dir, 'dicom'), CENTRAL_URL: centralUrl, CENTRAL_TOKEN: undefined,
    UPLOAD_TOKEN: clinicToken(TOKEN, clinic), FORWARD_RETRY_MAX_MS: '300', DISK_RESERVE: '8M', EVICT_BELOW_FREE: '16M', DISK_CHECK_MS: '250',
  });
  t.teardown(() => imagingEnv({ STORAGE_DIR: undefined, DISK_RESERVE: undefined, EVICT_BELOW_FREE: undefined, DISK_CHECK_MS: undefined }));
  const edge = await edgeInProcess(ns.url, clinic, `${tmp.dir}/edge`, { clinicName: '新华社区卫生服务中心', adminPassword: 'Admin-Pass-2026' });
  t.teardown(async () => { await edge.stop(); await central.stop(); });
  const img = imaging(edge);
  img.repo.addDevice({ aeTitle: 'DR_ROOM1', host: '127.0.0.1', port: 104, modality: 'DX', room: '放射科', enabled: true });

  // 40 DX images of 1 MiB (512 x 1024 x 16 bits), one study.
  const files = join(tmp.dir, 'files');
  mkdirSync(files);
  const study = testUid();
  const series = testUid();
  const sent = Array.from({ length: 40 }, (_, i) => {
    const sop = testUid();
    const bytes = buildPart10({ sopClassUid: DX_SOP, sopInstanceUid: sop, studyInstanceUid: study, seriesInstanceUid: series, modality: 'DX', patientId: 'P-DISK', rows: 512, columns: 1024, bitsAllocated: 16, instanceNumber: i + 1 });
    const path = join(files, `${String(i).padStart(2, '0')}.dcm`);
    writeFileSync(path, bytes);
    // the data set as sent (the stored file carries the edge's own file meta group before it)
    return { sop, path, dataset: bytes.subarray(132 + 12 + bytes.readUInt32LE(140)) };
  });
  /** The stored file is the data set storescu sent, and its index row has its sha256. */
  const intact = (s: (typeof sent)[number]) => {
    const i = img.repo.instance(s.sop);
    if (!i || !existsSync(i.path)) return false;
    const b = readFileSync(i.path);
    return sha(b) === i.sha256 && b.subarray(b.length - s.dataset.length).equals(s.dataset);
  };
  const storescu = (paths: string[]) => run('storescu', ['-v', '--no-halt', '-aet', 'DR_ROOM1', '-aec', 'EDGE_DISK', '127.0.0.1', String(img.scp!.port), ...paths], { env: { TCP_NODELAY: '1' } });

  // Central down: the disk fills with images waiting for upload; below the reserve they are refused.
  const first = await storescu(sent.map((s) => s.path));
  t.match(first.stderr + first.stdout, /Out ?of ?Resources|0xa700/i, 'storescu is told: out of resources');
  const stored = sent.filter((s) => img.repo.instance(s.sop));
  const refused = sent.filter((s) => !img.repo.instance(s.sop));
  t.ok(stored.length >= 20 && refused.length >= 3, `${stored.length} stored, ${refused.length} refused`);
  t.equal(img.scp!.counters.storesNoSpace, refused.length, 'each refusal counted as no-space');
  t.ok(stored.every(intact), 'every image the device was told is stored is on disk, as sent');
  t.equal((first.stdout + first.stderr).match(/Received Store Response \(Success\)/g)?.length ?? 0, stored.length, 'storescu was told "stored" exactly for those');
  const full = img.storage.status();
  t.equal(full.state, 'refusing');
  t.same([full.local.n, full.evicted.n, full.pending.n], [0, 0, stored.length], 'nothing removable: every image waits for upload');
  const metrics = await (await fetch(`${edge.http.url}/metrics`)).text();
  t.match(metrics, new RegExp(`device_dicom_stores_no_space_total\\{clinic="${clinic}"\\} ${refused.length}`), 'refusals in the metrics');
  t.match(metrics, /edge_imaging_disk_reserve_bytes\{clinic="[^"]+"\} 8388608/);

  // What the technician and the doctors see.
  await using browser = await launchBrowser();
  const page = await browser.newPage();
  await edgeLogin(page, edge.http.url, 'admin', 'Admin-Pass-2026');
  await page.goto(`${edge.http.url}/imaging`);
  const banner = page.locator('[data-testid=storage-banner]');
  t.equal(await banner.getAttribute('data-state'), 'refusing');
  t.match(await banner.innerText(), new RegExp(`影像存储空间不足.*暂被拒收.*${stored.length} 个影像.*等待上传`, 's'), 'the banner: refused, why, what to check');
  t.match(await page.locator('[data-testid=storage]').innerText(), new RegExp(`待上传 ${stored.length} 个`));
  await page.screenshot({ path: screenshotPath('imaging-disk-full'), fullPage: true });
  await page.goto(`${edge.http.url}/imaging/devices`);
  t.equal(await page.locator('[data-testid=storage-banner]').getAttribute('data-state'), 'refusing', 'the technician\'s page says it too');

  // Central back: everything uploads, the oldest uploads are removed until the disk is above the line.
  central = await centralInProcess(ns.url, `${tmp.dir}/central`, { httpPort: centralPort });
  await waitFor('all uploaded', () => img.repo.forwardStats().pending === 0, 60_000);
  await waitFor('room made: above the eviction line', () => img.storage.status().state === 'ok', 30_000).catch((e: Error) => { const open = readdirSync('/proc/self/fd').map((fd) => { try { return readlinkSync(`/proc/self/fd/${fd}`); } catch { return ''; } }).filter((l) => l.includes('img-disk')); throw new Error(`${e.message}: ${JSON.stringify(img.storage.status())} open: ${open.length} ${open.slice(0, 5).join(' ')}`); });
  const after = img.storage.status();
  t.ok(after.evicted.n > 0, `${after.evicted.n} uploaded images removed from the disk`);
  t.ok(after.free! >= 16 * MiB, `free ${after.free} above the eviction line`);
  const evicted = stored.filter((s) => img.repo.instance(s.sop)!.evictedAt);
  t.equal(evicted.length, after.evicted.n);
  for (const s of evicted) t.notOk(existsSync(img.repo.instance(s.sop)!.path), 'a removed image has no file here');
  const order = stored.map((s) => img.repo.instance(s.sop)!).sort((a, b) => a.forwardedAt!.localeCompare(b.forwardedAt!));
  const firstKept = order.findIndex((i) => !i.evictedAt);
  t.ok(order.slice(firstKept).every((i) => !i.evictedAt), 'removed oldest upload first');

  // The device sends the refused ones again: stored now.
  const again = await storescu(refused.map((s) => s.path));
  t.equal(again.code, 0, `resent: ${again.stderr}`);
  await waitFor('all uploaded again', () => img.repo.forwardStats().pending === 0, 60_000);
  // Every image at central, byte for byte.
  const atCentral = [];
  for (const s of sent) {
    const held = await central.wh.db.prepare('SELECT sha256 FROM imaging_instances WHERE sop_instance_uid = ?').get(s.sop) as { sha256: string } | undefined;
    if (held && held.sha256 === img.repo.instance(s.sop)?.sha256) atCentral.push(s.sop);
  }
  t.equal(atCentral.length, sent.length, 'all 40 at central, with the sha256 the edge indexed');
  t.ok(sent.filter((s) => !img.repo.instance(s.sop)!.evictedAt).every(intact), 'the ones still here are intact');

  // The study page: a removed image is shown from central's rendering.
  const removed = evicted[0]!;
  await page.goto(`${edge.http.url}/imaging/studies/${study}`);
  t.ok(await page.locator('[data-testid=evicted]').count() >= evicted.length, 'removed images marked 在区影像中心');
  const png = await page.evaluate(async (u) => { const r = await fetch(u); return { status: r.status, type: r.headers.get('content-type') }; }, `/imaging/instances/${removed.sop}/preview.png`);
  t.same(png, { status: 200, type: 'image/png' }, 'its thumbnail comes from the archive');
  await page.screenshot({ path: screenshotPath('imaging-disk-evicted'), fullPage: true });
  const audit = await central.wh.db.prepare("SELECT count(*) AS n FROM audit_log WHERE action = 'imaging.instance.rendered' AND target = ?").get(removed.sop) as { n: number };
  t.ok(audit.n >= 1, 'central audits the rendering for the clinic');

  // The archive's rendering for clinics: only with a clinic's token, only its own instances.
  const rendered = (token?: string) => fetch(`${central.http.url}/archive/instances/${removed.sop}/rendered?size=64`, { headers: token ? { authorization: `Bearer ${token}` } : {} });
  t.equal((await rendered()).status, 401, 'no token: 401');
  t.equal((await rendered(clinicToken(TOKEN, 'another-clinic'))).status, 404, 'another clinic\'s token: 404, as for an unknown instance');
  t.equal((await rendered(TOKEN)).status, 401, 'the shared API token is not a clinic token');
  const own = await rendered(clinicToken(TOKEN, clinic));
  t.same([own.status, own.headers.get('content-type')], [200, 'image/png']);

  // Central gone again: the tile says why, in words.
  await central.stop();
  const down = await page.evaluate(async (u) => { const r = await fetch(u, { cache: 'no-store' }); return { status: r.status, body: await r.text() }; }, `/imaging/instances/${removed.sop}/preview.png?size=512`);
  t.equal(down.status, 503);
  t.match(down.body.replace(/<[^>]+>/g, ''), /已从本机清理；现在连不上区影像中心，恢复连接后刷新即可查看/, 'the tile: at the archive, which cannot be reached now');
});
