import t from 'tap';
import ExcelJS from 'exceljs';
import { writeFileSync } from 'node:fs';
import type { LabReading } from '../../device-drivers/index.ts';
import { devicesByStore } from '../../edge-agent/devices/index.ts';
import { startNatsServer } from '../helpers/nats-server.ts';
import { centralInProcess, clinicName, edgeInProcess, tempDir } from '../helpers/spine.ts';
import { launchBrowser, screenshotPath } from '../helpers/browser.ts';
import { waitFor } from '../helpers/wait.ts';
import { addResident } from './helpers.ts';

t.test('lab technician imports results (Excel, per-row errors), enters results by hand, releases them, corrects one; trend chart; central gets preliminary, final and corrected versions', async (t) => {
  await using ns = await startNatsServer();
  const tmp = tempDir('lab-ui');
  t.teardown(tmp.cleanup);
  const central = await centralInProcess(ns.url, `${tmp.dir}/central`);
  const clinic = clinicName('labui');
  const edge = await edgeInProcess(ns.url, clinic, `${tmp.dir}/edge`, { clinicName: '新华社区卫生服务中心', adminPassword: 'Admin-Pass-2026' });
  t.teardown(async () => { await edge.stop(); await central.stop(); });
  edge.accounts.create({ username: 'lab.chen', displayName: '陈静', role: 'lab_tech', password: 'Lab-Pass-2026' }, 'test', 'local');
  edge.accounts.create({ username: 'nurse.liu', displayName: '刘晓燕', role: 'nurse', password: 'Nurse-Pass-2026' }, 'test', 'local');
  addResident(edge, 'r-wu', '吴桂英', '19580412', '046');
  const idLi = addResident(edge, 'r-li', '李建国', '19630921', '013');
  const specimen = 'S2026000777';
  edge.store.write('order', 'o-77', { orderId: 'o-77', residentId: 'r-wu', kind: 'lab', code: 'BIO', display: '生化全项', status: 'requested', requestedAt: new Date().toISOString(), specimenId: specimen });

  // Earlier glucose results of Wu from the analyser (for the trend), and one today.
  const dev = devicesByStore.get(clinic)!;
  const analyser = dev.registry.create({ name: '生化分析仪', profileId: 'biochemistry-analyser', room: '检验科', connection: { type: 'listener' }, sourceName: 'BIOCHEM' }, { username: 'test', ip: 'local' });
  const glu = (v: number, daysAgo: number): LabReading => ({ type: 'lab_result', deviceId: analyser.id, profileId: 'biochemistry-analyser', quantity: 'glu', at: new Date(Date.now() - daysAgo * 86_400_000).toISOString(),
    implausible: false, critical: false, sourceId: `glu-${daysAgo}`, specimenId: specimen, testCode: '14749-6', testName: 'Glucose', value: String(v), numericValue: v, unit: 'mmol/L', status: 'final' });
  await dev.ingest.storeBatch(analyser, [glu(8.9, 90), glu(7.6, 60), glu(6.8, 30), glu(6.2, 0)]);

  // The file from an analyser without an interface: 3 good rows (K 6.8 is critical), 3 bad ones.
  const wb = new ExcelJS.Workbook();
  const ws = wb.addWorksheet('结果');
  ws.addRow(['标本号', '身份证号', '项目代码', '结果', '单位', '检测时间']);
  const at = new Date(Date.now() - 3_600_000);
  const local = new Date(Date.UTC(at.getFullYear(), at.getMonth(), at.getDate(), at.getHours(), at.getMinutes()));
  ws.addRow([specimen, '', 'K', 6.8, 'mmol/L', local]);
  ws.addRow([specimen, '', 'NA', 141, 'mmol/L', local]);
  ws.addRow(['S-LI-01', idLi, 'CREA', 88, '', local]);
  ws.addRow([specimen, '', 'ALT', '阴性', '', local]);
  ws.addRow(['', '', 'UREA', 5.1, '', local]);
  ws.addRow([specimen, '', 'HBA1C', 6.1, '', local]);
  const xlsx = `${tmp.dir}/生化结果.xlsx`;
  writeFileSync(xlsx, Buffer.from(await wb.xlsx.writeBuffer()));

  await using browser = await launchBrowser();
  const page = await browser.newPage();
  const shot = (name: string) => page.screenshot({ path: screenshotPath(`lab-${name}`), fullPage: true });
  await page.goto(`${edge.http.url}/login`);
  await page.fill('#username', 'lab.chen'); await page.fill('#password', 'Lab-Pass-2026'); await page.click('button.primary');
  await page.waitForURL(`${edge.http.url}/`);
  await page.click('header nav >> text=检验审核');
  t.match(await page.locator('[data-testid=pending-table]').innerText(), /吴桂英\s+S2026000777\s+葡萄糖\s+6\.2 mmol\/L/, 'analyser results wait for review');

  // ---- file import
  await page.click('[data-testid=lab-nav] >> text=文件导入');
  await page.selectOption('#profileId', 'biochemistry-analyser');
  await page.setInputFiles('#file', xlsx);
  await page.click('[data-testid=import]');
  t.match(await page.locator('[data-testid=import-summary]').innerText(), /共 6 行：导入 3 行，重复 0 行，错误 3 处；其中待关联居民 0 行，危急值 1 个/);
  const errs = await page.locator('[data-testid=import-errors]').innerText();
  t.match(errs, /5\s+D\s+第 5 行，第 D 列（结果）：“阴性”不是数字/, 'non-numeric result named by row and column');
  t.match(errs, /6\s+A\s+第 6 行，第 A 列（标本号）：不能为空/);
  t.match(errs, /7\s+C\s+第 7 行，第 C 列（项目代码）：未知项目“HBA1C”/);
  await shot('import');
  // The same file again: nothing twice.
  await page.setInputFiles('#file', xlsx);
  await page.click('[data-testid=import]');
  t.match(await page.locator('[data-testid=import-summary]').innerText(), /导入 0 行，重复 3 行/, 're-import recognised row by row');

  // ---- manual entry (haematology analyser without an interface), first with a typo
  await page.click('[data-testid=lab-nav] >> text=手工录入');
  await page.selectOption('#profileId', 'haematology-analyser');
  await page.waitForURL(/profileId=haematology-analyser/);
  await page.fill('#specimenId', 'S-LI-02');
  await page.fill('#patientId', idLi);
  await page.fill('#v-hgb', '12o');
  await page.fill('#v-wbc', '6.4');
  await page.click('[data-testid=manual-save]');
  t.match(await page.locator('[data-testid=error]').innerText(), /血红蛋白（结果）：“12o”不是数字/, 'typo reported by test name, nothing saved');
  t.equal(await page.inputValue('#v-wbc'), '6.4', 'form keeps what was typed');
  await page.fill('#v-hgb', '128');
  await page.click('[data-testid=manual-save]');
  t.match(await page.locator('[data-testid=notice]').innerText(), /已保存 2 项结果，待审核/);
  await shot('manual');

  // ---- review and release everything
  await page.click('[data-testid=lab-nav] >> text=结果审核');
  const pending = await page.locator('[data-testid=pending-table]').innerText();
  t.match(pending, /钾\s+6\.8 mmol\/L HH\s*危急值/, 'critical import result flagged');
  t.match(pending, /李建国\s+S-LI-02\s+血红蛋白\s+128 g\/L/, 'manual entry bound by ID number');
  await shot('review');
  await page.check('[data-testid=check-all]');
  await page.click('[data-testid=approve]');
  t.match(await page.locator('[data-testid=notice]').innerText(), /已审核发布 9 条结果/);
  t.equal(await page.locator('[data-testid=no-pending]').count(), 1, 'nothing left to review');

  // ---- correct the potassium result (haemolysed sample re-measured)
  await page.locator('[data-testid=released-table] tr', { hasText: '钾' }).locator('a').click();
  t.match(await page.locator('[data-testid=lab-status]').first().innerText(), /已发布/);
  await page.fill('#value', '4.9');
  await page.fill('#reason', '标本溶血，重新采样复测');
  await page.click('[data-testid=correct]');
  t.match(await page.locator('[data-testid=notice]').innerText(), /已更正/);
  t.match(await page.locator('[data-testid=result-value]').innerText(), /4\.9 mmol\/L/);
  t.match(await page.locator('[data-testid=versions-table]').innerText(), /1\s+待审核\s+6\.8 mmol\/L[\s\S]*2\s+已发布\s+6\.8 mmol\/L HH\s+陈静[\s\S]*3\s+已更正\s+4\.9 mmol\/L\s*N?\s*陈静[\s\S]*标本溶血，重新采样复测/);
  await shot('corrected');
  const kId = new URL(page.url()).pathname.split('/')[3]!; // /devices/lab/<id>/correct

  // ---- trend of Wu's glucose: server-rendered SVG, values listed
  await page.click('[data-testid=lab-nav] >> text=趋势图');
  await page.fill('#resident', 'r-wu');
  await page.click('[data-testid=trend-form] button');
  await page.selectOption('#code', '14749-6');
  await page.click('[data-testid=trend-form] button');
  await page.waitForURL(/code=14749-6/);
  t.equal(await page.locator('[data-testid=trend-chart] svg').count(), 1, 'ECharts SVG rendered on the server');
  t.match(await page.locator('[data-testid=trend-chart]').innerHTML(), /8\.9[\s\S]*7\.6[\s\S]*6\.8[\s\S]*6\.2/, 'points in time order');
  t.equal((await page.locator('[data-testid=trend-table] tbody tr').count()), 4);
  await shot('trend');

  // A nurse can look at trends but not release.
  await page.click('header button');
  await page.fill('#username', 'nurse.liu'); await page.fill('#password', 'Nurse-Pass-2026'); await page.click('button.primary');
  await page.waitForURL(`${edge.http.url}/`);
  t.equal((await page.goto(`${edge.http.url}/devices/lab`))!.status(), 403, 'nurse cannot open the review page');
  t.equal((await page.goto(`${edge.http.url}/devices/trend?resident=r-wu`))!.status(), 200, 'nurse can see trends');

  // Central: K result as preliminary (v1), final (v2), corrected (v3) with the new value, applied in order.
  const versions = () => central.wh.db.prepare<[string, string], { version: number; payload: string }>("SELECT version, payload FROM records WHERE clinic_id = ? AND type = 'lab_result' AND record_id = ? ORDER BY version").all(clinic, kId);
  await waitFor('corrected version at central', () => versions().length === 3, 30_000).catch((e: Error) => {
    console.log(JSON.stringify({ versions: versions(), dead: central.wh.db.prepare('SELECT * FROM dead_letters').all(), wm: edge.store.stats(), relay: edge.relay.counters }, null, 1).slice(0, 4000));
    throw e;
  });
  t.same(versions().map((v) => { const p = JSON.parse(v.payload) as { status: string; value: string; flag?: string }; return [v.version, p.status, p.value, p.flag]; }),
    [[1, 'preliminary', '6.8', 'HH'], [2, 'final', '6.8', 'HH'], [3, 'corrected', '4.9', 'N']], 'central holds every version of the result');
  const audit = edge.store.db.prepare<[], { action: string }>("SELECT action FROM audit_log WHERE action LIKE 'lab.%' ORDER BY id").all().map((a) => a.action);
  t.same([...new Set(audit)], ['lab.import', 'lab.manual', 'lab.release', 'lab.correct'], 'every lab action audited');
  const metrics = await (await fetch(`${edge.http.url}/metrics`)).text();
  t.match(metrics, /edge_lab_results_total\{action="importRowErrors"[^}]*\} 6\n/, 'import row errors counted (3 per import)');
  t.match(metrics, /edge_lab_results_pending_review(\{[^}]*\})? 0\n/);
});
