/**
 * The portal's imaging workload page (影像工作量) over the regional archive's real index in the
 * warehouse: instances indexed as central's imaging module indexes them, reports from
 * radiologists, then per clinic and per device counts, volume and positive rate, the daily
 * chart, scope (a centre manager sees their clinic only), period checks (also with generated
 * input, fast-check), and the page in Chromium (/tmp/ui-portal-imaging.png) with its Excel export.
 */
import t from 'tap';
import fc from 'fast-check';
import { randomUUID } from 'node:crypto';
import ExcelJS from 'exceljs';
import { readFileSync } from 'node:fs';
import { openImagingIndex } from '../../central/imaging/index.ts';
import type { IndexedInstance, ReportActivity } from '../../central/imaging/index-store.ts';
import { MAX_WORKLOAD_DAYS, readerTable, workloadPeriod } from '../../central/portal/imaging.tsx';
import { launchBrowser, screenshotPath } from '../helpers/browser.ts';
import { browserLogin, Client, startPortal } from './portal-server.ts';

const uid = () => `2.25.${BigInt(`0x${randomUUID().replace(/-/g, '')}`)}`;
function inst(clinicId: string, o: Partial<IndexedInstance> & { studyInstanceUid: string; receivedAt: string }): IndexedInstance {
  return {
    sopInstanceUid: uid(), clinicId, seriesInstanceUid: `${o.studyInstanceUid}.1`, sopClassUid: '1.2.840.10008.5.1.4.1.1.6.1', transferSyntaxUid: '1.2.840.10008.1.2.1',
    size: 524_288, sha256: '0'.repeat(64), path: `/x/${clinicId}/${o.studyInstanceUid}`, patientId: 'P1', patientName: '王^建国', patientBirthDate: '19600101', patientSex: 'M',
    accessionNumber: null, modality: 'US', studyDate: '20261127', studyTime: '090000', studyDescription: null, seriesNumber: '1', instanceNumber: '1', rows: 600, columns: 800,
    numberOfFrames: null, stationAe: 'US_ROOM1', ...o,
  };
}
const report = (status: 'preliminary' | 'final', positive: boolean) => ({ status, findings: '肝脏形态大小正常', impression: positive ? '胆囊结石' : '未见明显异常', positive, radiologist: '李医生' });

t.test('imaging workload in the portal', async (t) => {
  const p = await startPortal();
  t.teardown(() => p.close());
  const ix = openImagingIndex(p.wh);
  await ix.ready();
  // c01: two US studies on the 27th (China time; the first at 00:30 on the 27th is 16:30 UTC on the
  // 26th), one of them with two images, one DX study on the 28th; c02: one US study on the 28th.
  const [u1, u2, d1, b1] = [uid(), uid(), uid(), uid()];
  await ix.upsertInstance(inst('c01-xinhua', { studyInstanceUid: u1, receivedAt: '2026-11-26T16:30:00.000Z' }));
  await ix.upsertInstance(inst('c01-xinhua', { studyInstanceUid: u1, receivedAt: '2026-11-26T16:31:00.000Z' }));
  await ix.upsertInstance(inst('c01-xinhua', { studyInstanceUid: u2, receivedAt: '2026-11-27T08:00:00.000Z' }));
  await ix.upsertInstance(inst('c01-xinhua', { studyInstanceUid: d1, receivedAt: '2026-11-28T01:00:00.000Z', modality: 'DX', stationAe: 'DR_ROOM', size: 8_388_608 }));
  await ix.upsertInstance(inst('c02-dongfeng', { studyInstanceUid: b1, receivedAt: '2026-11-28T02:00:00.000Z' }));
  await ix.addReport(u1, report('final', true));
  await ix.addReport(u2, report('final', false));
  await ix.addReport(d1, report('preliminary', true));
  // One image today, for the default period (this month so far).
  await ix.upsertInstance(inst('c02-dongfeng', { studyInstanceUid: uid(), receivedAt: new Date().toISOString() }));

  const q = '/portal/imaging?from=2026-11-27&to=2026-11-28';
  const district = await Client.login(p.url, 'district', p.users.district);
  const page = await (await district.get(q)).text();
  t.match(page, /data-testid="imaging-studies">4</, 'four studies in the district over the two days');
  t.match(page, /data-testid="imaging-positive-rate">50\.0%</, 'positive rate over the two studies with a final report (the preliminary one is not counted)');
  const cells = (html: string, id: string) => [...(html.split(`data-testid="table-${id}"`)[1] ?? '').split('</table>')[0]!.matchAll(/<tr[^>]*>(.*?)<\/tr>/g)].slice(1).map((m) => [...m[1]!.matchAll(/<td[^>]*>(.*?)<\/td>/g)].map((c) => c[1]!.replace(/<[^>]+>/g, '')));
  t.same(cells(page, 'imaging-clinics').map((r) => [r[0], r[2], r[3], r[4], r[5], r[6], r[7]]), [
    ['c01-xinhua', '3', '4', '9.50', '2', '1', '50.0%'],
    ['c02-dongfeng', '1', '1', '0.50', '0', '0', '—'],
  ], 'per clinic: studies, images, MB, reported, positive, rate (none guessed without a report)');
  t.same(cells(page, 'imaging-devices').map((r) => [r[0], r[1], r[2], r[3]]), [
    ['c01-xinhua', 'DR_ROOM', '数字X线摄影（DR/DX）', '1'], ['c01-xinhua', 'US_ROOM1', '超声（US）', '2'], ['c02-dongfeng', 'US_ROOM1', '超声（US）', '1'],
  ], 'per device, with the modality named in Chinese');
  t.match(page, /data-testid="imaging-daily"[^>]*data-option="[^"]*11-27/, 'the daily chart covers the period');
  t.notMatch(page, /王\^建国|P1</, 'no patient on the page');
  t.match(await (await district.get('/portal/imaging')).text(), /data-testid="imaging-studies">[1-9]/, 'the default period (this month so far) shows today\'s image');

  // 医师工作量: reports issued in the period (by the day they were issued: today, in the default
  // period), per radiologist, with the turnaround from the first image to the first final report.
  const [s3, s4] = [uid(), uid()];
  await ix.upsertInstance(inst('c01-xinhua', { studyInstanceUid: s3, receivedAt: new Date(Date.now() - 3 * 3_600_000).toISOString() }));
  await ix.upsertInstance(inst('c02-dongfeng', { studyInstanceUid: s4, receivedAt: new Date(Date.now() - 5 * 3_600_000).toISOString() }));
  const wang = (status: 'preliminary' | 'final' | 'amended', positive: boolean) => ({ ...report(status === 'amended' ? 'final' : status, positive), status, radiologist: '区医院王医生' });
  await ix.addReport(s3, wang('preliminary', true));
  await ix.addReport(s3, wang('final', true));
  await ix.addReport(s4, wang('final', false));
  await ix.addReport(s4, wang('amended', false));
  const today = await (await district.get('/portal/imaging')).text();
  // (李医生's turnaround depends on today's date: his studies arrived on 27 November.)
  t.same(cells(today, 'imaging-readers').map((r, i) => (i === 1 ? r.slice(0, 6) : r)), [
    ['区医院王医生', '4', '2', '1', '1', '50.0%', '3', '5'],
    ['李医生', '3', '2', '0', '1', '50.0%'],
  ], 'per radiologist: versions issued, studies reported finally, amendments, preliminary, positive rate of their final reports, turnaround median and 90th percentile (hours)');
  t.match(today, /data-testid="imaging-turnaround">\d+(\.\d)? 小时</, 'the district\'s median turnaround as a figure');
  t.notMatch(await (await district.get(q)).text(), /<td[^>]*>区医院王医生</, 'a period in which nobody reported: no radiologist row');
  const a = await Client.login(p.url, 'managera', p.users.managera);
  t.same(cells(await (await a.get('/portal/imaging')).text(), 'imaging-readers').map((r) => r.slice(0, 3)), [['李医生', '3', '2'], ['区医院王医生', '2', '1']], 'a centre manager: reports on their clinic\'s studies only');
  const mine = await (await a.get(q)).text();
  t.same(cells(mine, 'imaging-clinics').map((r) => r[0]), ['c01-xinhua'], 'a centre manager sees only their clinic');
  const other = await (await a.get(`${q}&clinic=c02-dongfeng`)).text();
  t.match(other, /data-testid="imaging-error">机构 c02-dongfeng 不在您的管理范围内/, 'asking for another clinic says why nothing is shown');
  t.notMatch(other, /table-imaging-clinics/, 'and shows no row of it');
  for (const [bad, why] of [['from=2026-13-01', /开始日期“2026-13-01”不是有效日期/], ['from=2026-11-28&to=2026-11-01', /开始日期晚于结束日期/], ['from=2024-01-01&to=2026-11-28', new RegExp(`一次最多查询 ${MAX_WORKLOAD_DAYS} 天`)]] as const) {
    t.match(await (await district.get(`/portal/imaging?${bad}`)).text(), why, `${bad}: a clear error`);
  }
  // Date-shaped text with any numbers (month 13, day 31 of February, year 0) as well as any text.
  const dateText = fc.oneof(fc.string({ maxLength: 12 }), fc.tuple(fc.integer({ min: 0, max: 9999 }), fc.integer({ min: 0, max: 99 }), fc.integer({ min: 0, max: 99 }))
    .map(([y, m, d]) => `${String(y).padStart(4, '0')}-${String(m).padStart(2, '0')}-${String(d).padStart(2, '0')}`));
  for (const [f, to] of [['2026-02-30', '2026-03-01'], ['2026-13-01', '2026-12-01'], ['0000-00-00', '2026-01-01']]) {
    t.match(await (await district.get(`/portal/imaging?from=${f}&to=${to}`)).text(), /data-testid="imaging-error">开始日期“/, `from=${f}: refused with the field named`);
  }
  fc.assert(fc.property(fc.option(dateText), fc.option(dateText), (from, to) => {
    const r = workloadPeriod({ from: from ?? undefined, to: to ?? undefined });
    return 'error' in r ? typeof r.error[0] === 'string' : r.from <= r.to && (Date.parse(r.to) - Date.parse(r.from)) / 86_400_000 < MAX_WORKLOAD_DAYS;
  }), { numRuns: 500 });
  t.pass('any period text gives a checked period or an error, never a throw (500 generated)');

  await using browser = await launchBrowser();
  const b = await browser.newPage();
  await browserLogin(b, p.url, 'admin', p.users.admin);
  await b.click('header nav a:has-text("影像")');
  await b.waitForURL(/\/portal\/imaging$/);
  await b.fill('[data-testid=imaging-filter] input[name=from]', '2026-11-27');
  await b.fill('[data-testid=imaging-filter] input[name=to]', '2026-11-28');
  await b.click('[data-testid=imaging-filter] button');
  await b.waitForURL(/from=2026-11-27/);
  await b.waitForSelector('[data-testid=imaging-daily] svg');
  t.ok(await b.locator('[data-testid=imaging-daily] svg path').count(), 'the daily chart is drawn');
  await b.screenshot({ path: screenshotPath('portal-imaging'), fullPage: true });
  const [download] = await Promise.all([b.waitForEvent('download'), b.click('[data-testid=export-imaging-devices]')]);
  const wb = new ExcelJS.Workbook();
  await wb.xlsx.load(readFileSync((await download.path())!) as unknown as ArrayBuffer);
  const ws = wb.worksheets[0]!;
  t.equal(ws.getRow(2).getCell(2).value, '设备（AE）', 'the export has the device table\'s header');
  t.equal(ws.rowCount, 5, 'title, header and the three devices');
  await b.goto(`${p.url}/portal/imaging`);
  await b.waitForSelector('[data-testid=table-imaging-readers]');
  await b.screenshot({ path: screenshotPath('portal-imaging-readers'), fullPage: true });
});

t.test('radiologists\' workload, generated: every version counted once, as a study\'s first final report, an amendment or a preliminary one; turnarounds within what was given', async (t) => {
  const ctx = { t: (zh: string) => zh } as unknown as Parameters<typeof readerTable>[0];
  const version = fc.record({ reader: fc.constantFrom('甲医生', '乙医生', '丙医生'), status: fc.constantFrom('preliminary', 'final', 'amended'), positive: fc.boolean(), hours: fc.integer({ min: 0, max: 500 }) });
  const study = fc.array(version, { minLength: 1, maxLength: 5 });
  fc.assert(fc.property(fc.array(study, { maxLength: 12 }), (studies) => {
    // Reports as the archive keeps them: versions in order, the first non-preliminary one is the study's first final.
    const rows: ReportActivity[] = studies.flatMap((vs, s) => {
      const first = vs.findIndex((v) => v.status !== 'preliminary');
      return vs.map((v, i) => ({
        studyInstanceUid: `2.25.${s}`, version: i + 1, status: v.status as ReportActivity['status'], positive: v.positive, radiologist: v.reader,
        reportedAt: new Date(Date.UTC(2026, 10, 1) + v.hours * 3_600_000).toISOString(), clinicId: 'c01', firstReceivedAt: new Date(Date.UTC(2026, 10, 1)).toISOString(),
        firstFinalVersion: first < 0 ? null : first + 1,
      }));
    });
    const table = readerTable(ctx, rows);
    const sum = (k: string) => table.rows.reduce((a, r) => a + (r[k] as number), 0);
    if (sum('versions') !== rows.length) throw new Error('versions not counted once each');
    if (sum('finals') + sum('amended') + sum('preliminary') !== rows.length) throw new Error('a version counted as none or two kinds');
    const finals = rows.filter((r) => r.version === r.firstFinalVersion);
    if (sum('finals') !== finals.length || table.finals !== finals.length) throw new Error('studies reported finally miscounted');
    for (const r of table.rows) {
      const mine = finals.filter((f) => f.radiologist === r.radiologist).map((f) => (Date.parse(f.reportedAt) - Date.parse(f.firstReceivedAt)) / 3_600_000);
      if (!mine.length ? r.median !== null : (r.median as number) < Math.min(...mine) || (r.median as number) > Math.max(...mine) || (r.p90 as number) < (r.median as number)) throw new Error(`turnaround of ${r.radiologist} outside its reports`);
      const pos = finals.filter((f) => f.radiologist === r.radiologist && f.positive).length;
      if (mine.length ? Math.abs((r.positiveRate as number) - pos / mine.length) > 1e-9 : r.positiveRate !== null) throw new Error('positive rate not over the first final reports');
    }
  }), { numRuns: 300 });
  t.pass('300 generated report histories');
});
