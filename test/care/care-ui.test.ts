/**
 * A doctor's day in the care pages, in headless Chromium against a real edge agent, a real
 * Modbus BP simulator, a real nats-server and central:
 * record + enrol a hypertensive resident, a BP reading arrives from the device, the follow-up
 * form opens prefilled and flags the urgent-referral value at once, the follow-up is saved
 * (with its referral), the contract is signed and printed, bad input is refused next to the
 * field with nothing saved; the records reach central. Screenshots: /tmp/ui-care-*.png.
 */
import t from 'tap';
import ExcelJS from 'exceljs';
import { builtinProfile, startModbusSimulator, type ModbusProfile } from '../../device-drivers/index.ts';
import { devicesByStore } from '../../edge-agent/devices/index.ts';
import { seedCareDemo } from '../../edge-agent/care/index.ts';
import { startNatsServer } from '../helpers/nats-server.ts';
import { centralInProcess, clinicName, edgeInProcess, tempDir } from '../helpers/spine.ts';
import { launchBrowser, screenshotPath } from '../helpers/browser.ts';
import { waitFor } from '../helpers/wait.ts';
import { residentIdNumber, signIn } from '../devices/helpers.ts';

t.test('care: enrol, device BP, prefilled follow-up with urgent flag, contract signed and printed, records at central', async (t) => {
  await using ns = await startNatsServer();
  const tmp = tempDir('care-ui');
  t.teardown(tmp.cleanup);
  const central = await centralInProcess(ns.url, `${tmp.dir}/central`);
  t.teardown(() => central.stop());
  const clinic = clinicName('care');
  const edge = await edgeInProcess(ns.url, clinic, `${tmp.dir}/edge`, { clinicName: '新华社区卫生服务中心', adminPassword: 'Admin-Pass-2026' });
  t.teardown(() => edge.stop());
  edge.accounts.create({ username: 'dr.li', displayName: '李建华', role: 'doctor', password: 'Doctor-Pass-2026' }, 'test', 'local');
  edge.accounts.create({ username: 'nurse.wang', displayName: '王丽', role: 'nurse', password: 'Nurse-Pass-2026' }, 'test', 'local');
  t.ok(seedCareDemo(edge.store, { doctor: 'dr.li', doctorName: '李建华', nurse: 'nurse.wang', nurseName: '王丽' }), 'demo team and packages seeded');

  const profile = builtinProfile('bp-monitor') as ModbusProfile;
  const sim = await startModbusSimulator({ profile, updateMs: 3_600_000, mix: { criticalRate: 0, implausibleRate: 0 } });
  t.teardown(() => sim.stop());
  sim.set('systolic', 128); sim.set('diastolic', 82); sim.set('pulse', 72);
  const dev = devicesByStore.get(clinic)!;
  const device = dev.registry.create({ name: '诊室2 电子血压计', profileId: 'bp-monitor', room: '全科诊室2', connection: { type: 'tcp', host: '127.0.0.1', port: sim.port }, pollIntervalMs: 300 }, { username: 'admin', ip: 'test' });

  await using browser = await launchBrowser();
  const page = await browser.newPage();
  const url = edge.http.url;
  const shot = (name: string) => page.screenshot({ path: screenshotPath(`care-${name}`), fullPage: true });
  await page.goto(`${url}/login`);
  await page.fill('#username', 'dr.li'); await page.fill('#password', 'Doctor-Pass-2026'); await page.click('button.primary');
  await page.waitForURL(`${url}/`);

  // Health record: a birth date in the future is refused next to the field, nothing saved.
  await page.click('header nav >> text=健康档案');
  t.equal(await page.locator('h1').first().innerText(), '居民健康档案');
  // Records other than audit_event (every audit_log entry, refusals included, replicates as one).
  const domainSeq = () => edge.store.stats().lastSeq - edge.store.db.prepare<[], { n: number }>('SELECT count(*) AS n FROM audit_log').get()!.n;
  const seqBefore = domainSeq();
  const newRec = page.locator('[data-testid=new-record]');
  await newRec.locator('#name').fill('王建国');
  await newRec.locator('#sex').selectOption('1');
  await newRec.locator('#birthDate').fill('2030-05-20');
  await newRec.locator('#idNumber').fill(residentIdNumber('110105', '19580520', '013'));
  await newRec.locator('#phone').fill('13912345678');
  await page.click('[data-testid=create-record]');
  t.match(await page.locator('[data-error-for=birthDate]').innerText(), /出生日期 2030-05-20 晚于今天/, 'message next to the birth-date field');
  t.match(await page.locator('[data-testid=form-error]').innerText(), /没有写入任何数据/);
  t.equal(domainSeq(), seqBefore, 'nothing written');
  await shot('record-bad-birthdate');
  await newRec.locator('#birthDate').fill('1958-05-20');
  await newRec.locator('#residenceType').selectOption('1');
  await newRec.locator('#aboBloodGroup').selectOption('3');
  await newRec.locator('#currentAddress').fill('新华街道幸福里 3 号楼 402');
  await page.click('[data-testid=create-record]');
  await page.waitForURL(/\/care\/r\/r-/);
  const rid = page.url().match(/\/care\/r\/(r-[0-9a-f]+)/)![1]!;
  t.match(await page.locator('[data-testid=notice]').innerText(), /建档 11010500100100001/);

  // Enrol in hypertension management; BP at enrolment 152/96 (uncontrolled -> first follow-up in 2 weeks).
  await page.selectOption('[data-testid=enrol-form] #disease', 'HTN');
  await page.fill('[data-testid=enrol-form] #sbp', '152');
  await page.fill('[data-testid=enrol-form] #dbp', '96');
  await page.click('[data-testid=enrol-button]');
  t.match(await page.locator('[data-testid=chronic-card]').innerText(), /高血压：管理中/);
  await shot('resident-enrolled');

  // The resident sits at the BP monitor; the nurse chose her as the station's patient. A measurement arrives.
  await waitFor('first (unbound) reading', async () => dev.registry.status(device.id).readings >= 3, 15_000);
  dev.registry.setStationPatient(device.id, rid, { username: 'nurse.wang', ip: 'test' });
  sim.set('systolic', 186); sim.set('diastolic', 112); sim.set('pulse', 90);
  await waitFor('bound BP reading', async () => (edge.store.db.prepare("SELECT count(*) AS n FROM records WHERE type = 'observation' AND json_extract(payload, '$.residentId') = ? AND json_extract(payload, '$.value') = 186").get(rid) as { n: number }).n > 0, 15_000);

  // The follow-up form opens prefilled from the device and flags the urgent referral at once.
  await page.goto(`${url}/care/r/${rid}`);
  await page.click('[data-testid=followup-HTN]');
  t.equal(await page.inputValue('#sbp'), '186', 'systolic prefilled from the device');
  t.equal(await page.inputValue('#dbp'), '112', 'diastolic prefilled');
  t.equal(await page.inputValue('#heartRate'), '90', 'pulse prefilled');
  t.match(await page.locator('[data-testid=prefill-source]').innerText(), /设备「诊室2 电子血压计」/);
  t.match(await page.locator('[data-testid=urgent-flag]').innerText(), /紧急转诊指征：血压 186\/112 mmHg/);
  await shot('followup-prefilled-urgent');

  // An impossible value is refused beside its field, the rest of the form kept.
  await page.fill('#sbp', '350');
  await page.click('[data-testid=save-followup]');
  t.match(await page.locator('[data-error-for=sbp]').innerText(), /收缩压 350 mmHg 超出可信范围/);
  t.equal(await page.inputValue('#dbp'), '112', 'other values kept');
  t.equal(await page.locator('[data-testid=urgent-flag]').count(), 0, 'a refused value is not used for the urgent flag');
  await shot('followup-bad-sbp');
  await page.fill('#sbp', '186');
  await page.fill('#referralTo', '区人民医院心内科');
  await page.fill('#medications', '氨氯地平片,5mg 每日一次');
  await page.click('[data-testid=save-followup]');
  await page.waitForURL(new RegExp(`/care/r/${rid}\\?saved=followup`));
  t.match(await page.locator('[data-testid=urgent-flag]').innerText(), /紧急转诊.*已生成上转记录/);
  t.match(await page.locator('[data-testid=notice]').innerText(), /3级高血压；控制不满意；转诊/);
  t.match(await page.locator('[data-testid=referrals]').innerText(), /上转（紧急） → 区人民医院心内科：已转出，\d{4}-\d{2}-\d{2} 前回访/);
  await shot('resident-after-followup');

  // Home page: the doctor's follow-up workload.
  await page.goto(`${url}/`);
  t.match(await page.locator('[data-testid=care-banner]').innerText(), /紧急转诊待回访 1 人/);

  // Due list: the urgent referral awaits its 2-week follow-up.
  await page.click('header nav >> text=慢病随访');
  t.match(await page.locator('[data-testid=due-table]').innerText(), /王建国[\s\S]*紧急转诊/);
  await shot('due-list');

  // Contract: packages recommended from the tags, signed with the ID card, printed.
  await page.goto(`${url}/care/r/${rid}/contract`);
  t.ok(await page.locator('[data-testid=recommended]').count() >= 1, 'chronic-disease package recommended');
  await page.fill('#idCheck', residentIdNumber('110105', '19580520', '013'));
  await shot('contract-sign');
  await page.click('[data-testid=sign-button]');
  await page.waitForURL(/\/care\/contracts\/[0-9a-f-]+\?signed=1/);
  t.match(await page.locator('[data-testid=contract-status]').innerText(), /已签约/);
  const contractUrl = page.url().replace(/\?.*$/, '');
  // Fulfilment: a delivered service counts against the package's agreed number.
  await page.selectOption('#item', { label: '面对面随访' });
  await page.click('[data-testid=record-service]');
  t.match(await page.locator('[data-testid=fulfilment]').innerText(), /面对面随访\s+4\s+1\s+25%/, '1 of 4 follow-ups delivered');
  await shot('contract-view');
  // Signing again for the same resident is refused.
  await page.goto(`${url}/care/r/${rid}/contract`);
  await page.fill('#idCheck', residentIdNumber('110105', '19580520', '013'));
  await page.click('[data-testid=sign-button]');
  t.match(await page.locator('[data-error-for=residentId]').innerText(), /已与「全科一团队」签约/);
  await shot('contract-duplicate');
  await page.goto(`${contractUrl}/print`);
  t.match(await page.locator('h1').innerText(), /家庭医生签约服务协议书/);
  t.match(await page.locator('body').innerText(), /乙方（签约居民）：王建国[\s\S]*慢病管理包/);
  await shot('agreement-screen');
  await page.emulateMedia({ media: 'print' });
  t.equal(await page.locator('[data-testid=print-button]').isVisible(), false, 'print button hidden when printing');
  await shot('agreement-print');
  const pdf = await page.pdf({ format: 'A4' });
  t.ok(pdf.length > 10_000, `agreement prints to PDF (${pdf.length} bytes)`);
  await page.emulateMedia({ media: 'screen' });

  // TCM questionnaire with a missing answer: named, nothing saved (resident is 68).
  await page.goto(`${url}/care/r/${rid}/tcm`);
  for (let q = 1; q <= 33; q++) if (q !== 7) await page.check(`input[name=q${q}][value="1"]`);
  const seqTcm = domainSeq();
  await page.click('[data-testid=save-tcm]');
  t.match(await page.locator('[data-error-for=q7]').innerText(), /第 7 题未作答/);
  t.equal(domainSeq(), seqTcm, 'questionnaire not saved');
  await page.locator('[data-testid=q7]').screenshot({ path: screenshotPath('care-tcm-missing') });
  await page.check('input[name=q7][value="1"]');
  await page.click('[data-testid=save-tcm]');
  t.match(await page.locator('[data-testid=tcm-result]').innerText(), /体质类型：平和质/);
  await shot('tcm-result');

  // Elderly annual check: self-care items scored, level shown on the resident page.
  await page.goto(`${url}/care/r/${rid}/elderly`);
  for (const [k, col] of [['eating', 2], ['grooming', 1], ['dressing', 0], ['toileting', 0]] as const) await page.check(`input[name=sc_${k}][value="${col}"]`);
  await page.click('[data-testid=save-elderly]');
  t.match(await page.locator('[data-error-for=sc_activity]').innerText(), /请选择「活动」的评估结果/, 'unanswered self-care item named');
  await shot('elderly-missing');
  await page.check('input[name=sc_activity][value="0"]');
  await page.click('[data-testid=save-elderly]');
  await page.waitForURL(new RegExp(`/care/r/${rid}\\?saved=`));
  t.match(await page.locator('body').innerText(), /自理能力 4 分，轻度依赖/, 'eating 3 + grooming 1 = 4: mild');

  // Screening: hypertensive residents aged 65+ without a follow-up this quarter (none: he was just followed up), export works.
  await page.goto(`${url}/care/screening?tags=hypertension&ageMin=65`);
  t.match(await page.locator('[data-testid=screen-count]').innerText(), /共 1 人/);
  await shot('screening');
  const cookie = await signIn(url, 'nurse.wang', 'Nurse-Pass-2026');
  const x = await fetch(`${url}/care/screening.xlsx?tags=hypertension&ageMin=65`, { headers: { cookie } });
  t.equal(x.headers.get('content-type'), 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet');
  const wb = new ExcelJS.Workbook(); await wb.xlsx.load(Buffer.from(await x.arrayBuffer()) as never);
  t.equal(wb.getWorksheet('筛查结果')!.getRow(2).getCell(1).value, '王建国', 'exported row');
  const none = await (await fetch(`${url}/care/screening?tags=hypertension&ageMin=65&noFollowupThisQuarter=1`, { headers: { cookie } })).text();
  t.match(none, /共 0 人/, 'followed up this quarter: not in the "no follow-up" list');

  // English is available.
  await page.goto(`${url}/care/records?lang=en`);
  t.equal(await page.locator('h1').first().innerText(), 'Resident health records');
  await page.goto(`${url}/care/records?lang=zh-CN`);

  // Roles: a cashier cannot open care pages; every view of the resident is audited.
  const audit = edge.accounts.recentAudit(500).map((a) => `${a.username} ${a.action} ${a.outcome}`);
  t.ok(audit.includes('dr.li care.followup.create ok') && audit.includes('dr.li care.contract.sign ok') && audit.includes('dr.li care.resident.view ok'), 'writes and views audited');
  t.ok(audit.some((a) => a.startsWith('dr.li care.form.refused refused: birthDate')), 'refused attempt audited');

  // The records reach central.
  const at = (type: string) => (central.wh.db.prepare('SELECT count(*) AS n FROM records WHERE type = ?').get(type) as { n: number }).n;
  await waitFor('care records at central', async () => at('health_record') >= 1 && at('chronic_enrolment') >= 1 && at('chronic_followup') >= 1 && at('referral') >= 1 && at('fd_contract') >= 1 && at('tcm_assessment') >= 1 && at('fd_team') >= 1 && at('fd_service') >= 1, 20_000);
  const fu = JSON.parse((central.wh.db.prepare("SELECT payload FROM records WHERE type = 'chronic_followup'").get() as { payload: string }).payload) as { sbp: number; urgentReferral: boolean; sourceReadingIds: string[]; control: string };
  t.same([fu.sbp, fu.urgentReferral, fu.control, fu.sourceReadingIds.length], [186, true, 'uncontrolled', 3], 'follow-up at central names the device readings it used');
});
