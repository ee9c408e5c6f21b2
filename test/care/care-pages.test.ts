/**
 * The rest of the care pages in Chromium: teams and packages (bad member line named),
 * record QC and duplicate merge, follow-up refused before enrolment, ASCVD with the published
 * China-PAR table (source shown, no warning), health education with an uploaded file, roles, English.
 * Screenshots: /tmp/ui-care-*.png.
 */
import t from 'tap';
import { seedCareDemo } from '../../edge-agent/care/index.ts';
import { ascvdRisk, CHINA_PAR_2016 } from '../../edge-agent/care/rules/ascvd.ts';
import { ageOn, today as todayOf } from '../../edge-agent/care/rules/dates.ts';
import { startNatsServer } from '../helpers/nats-server.ts';
import { clinicName, edgeInProcess, tempDir } from '../helpers/spine.ts';
import { launchBrowser, screenshotPath } from '../helpers/browser.ts';
import { addResident, signIn } from '../devices/helpers.ts';

t.test('care pages: teams, QC, duplicates, refusals, ASCVD, education, roles', async (t) => {
  await using ns = await startNatsServer();
  const tmp = tempDir('care-pages');
  t.teardown(tmp.cleanup);
  const edge = await edgeInProcess(ns.url, clinicName('carep'), `${tmp.dir}/edge`, { clinicName: '新华社区卫生服务中心', adminPassword: 'Admin-Pass-2026' });
  t.teardown(() => edge.stop());
  edge.accounts.create({ username: 'dr.li', displayName: '李建华', role: 'doctor', password: 'Doctor-Pass-2026' }, 'test', 'local');
  edge.accounts.create({ username: 'cashier.he', displayName: '何收费', role: 'cashier', password: 'Cashier-Pass-2026' }, 'test', 'local');
  seedCareDemo(edge.store, { doctor: 'dr.li', doctorName: '李建华' });
  addResident(edge, 'r-a', '周明', '19600101', '031');
  addResident(edge, 'r-b', '周明', '19600101', '033');
  addResident(edge, 'r-c', '吴桂芳', '19550909', '042');

  await using browser = await launchBrowser();
  const page = await browser.newPage();
  const url = edge.http.url;
  const shot = (name: string) => page.screenshot({ path: screenshotPath(`care-${name}`), fullPage: true });
  await page.goto(`${url}/login`);
  await page.fill('#username', 'dr.li'); await page.fill('#password', 'Doctor-Pass-2026'); await page.click('button.primary');
  await page.waitForURL(`${url}/`);

  // Teams: a malformed member line is named.
  await page.goto(`${url}/care/teams`);
  await page.fill('[data-testid=teams] #name', '全科二团队');
  await page.fill('[data-testid=teams] #leaderCode', 'dr.zhou');
  await page.fill('[data-testid=teams] #members', 'dr.zhou,周医生,gp\nnurse.x 护士');
  await page.click('[data-testid=teams] button.primary');
  t.match(await page.locator('[data-error-for=members]').innerText(), /第 2 行「nurse.x 护士」格式应为/);
  await page.fill('[data-testid=teams] #members', 'dr.zhou,周医生,gp\nnurse.x,许护士,nurse');
  await page.click('[data-testid=teams] button.primary');
  t.match(await page.locator('[data-testid=teams]').innerText(), /全科二团队：周医生\(dr.zhou,团队长\)、许护士\(nurse.x\)/);
  await shot('teams');

  // Records for both 周明 (same name, sex, birth date): the duplicate is found and merged.
  for (const rid of ['r-a', 'r-b']) {
    await page.goto(`${url}/care/r/${rid}`);
    await page.click('[data-testid=create-record-existing]');
  }
  await page.goto(`${url}/care/r/r-b`);
  t.match(await page.locator('[data-testid=record-card]').innerText(), /质控问题/);
  await page.goto(`${url}/care/qc`);
  t.match(await page.locator('[data-testid=qc-table]').innerText(), /现住址未填写/, 'missing fields listed per record');
  await shot('qc');
  await page.goto(`${url}/care/records/duplicates`);
  t.match(await page.locator('[data-testid=dup-table]').innerText(), /姓名、性别、出生日期相同/);
  await shot('duplicates');
  await page.locator('[data-testid=dup-table] button').first().click();
  t.match(await page.locator('[data-testid=notice]').innerText(), /已合并/);
  t.equal(await page.locator('[data-testid=dup-table] tbody tr').count(), 0);
  await page.goto(`${url}/care/records?status=cancelled`);
  t.match(await page.locator('[data-testid=records-table]').innerText(), /周明\s+已注销/);

  // Record maintenance: a past disease diagnosed before birth is refused next to the field.
  const no = (await page.locator('[data-testid=records-table] td').first().innerText()).trim();
  await page.goto(`${url}/care/records?status=active`);
  await page.locator('[data-testid=records-table] a', { hasText: '维护' }).first().click();
  await page.fill('#pastDiseases', '高血压,1950-01-01');
  await page.fill('#familyHistory', '父亲,脑卒中');
  await page.click('form[action$="' + (await page.url()).split('/').pop() + '"] button.primary');
  t.match(await page.locator('[data-error-for=pastDiseases]').innerText(), /确诊日期 1950-01-01 不合理/);
  await shot('record-edit-bad');
  t.equal(await page.inputValue('#familyHistory'), '父亲,脑卒中', 'other fields kept');
  await page.fill('#pastDiseases', '高血压,2015-06-01');
  await page.click('form[action$="' + (await page.url()).split('/').pop() + '"] button.primary');
  t.match(await page.locator('[data-testid=notice]').innerText(), /已保存/);
  t.equal(await page.inputValue('#familyHistory'), '父亲,脑卒中', 'family history saved');
  t.ok(no.length === 17);

  // Follow-up for a resident not enrolled: refused with the reason, nothing saved.
  // Audit entries travel on the spine too (audit_event, group-committed): count domain record versions only.
  const domainSeq = () => edge.store.db.prepare<[], { n: number }>("SELECT coalesce(sum(version), 0) AS n FROM records WHERE type <> 'audit_event'").get()!.n;
  const seq = domainSeq();
  await page.goto(`${url}/care/r/r-c/followup?disease=T2DM`);
  await page.fill('#fbg', '8.2');
  await page.click('[data-testid=save-followup]');
  t.match(await page.locator('[data-error-for=disease]').innerText(), /未纳入2型糖尿病管理，请先登记纳入管理/);
  t.equal(domainSeq(), seq);

  // Enrol T2DM, then a follow-up dated before enrolment is refused.
  await page.goto(`${url}/care/r/r-c`);
  await page.selectOption('[data-testid=enrol-form] #disease', 'T2DM');
  await page.fill('[data-testid=enrol-form] #enrolledDate', '2026-01-10');
  await page.fill('[data-testid=enrol-form] #fbg', '9.1');
  await page.click('[data-testid=enrol-button]');
  await page.goto(`${url}/care/r/r-c/followup?disease=T2DM`);
  await page.fill('#date', '2026-01-05');
  await page.fill('#fbg', '8.2');
  await page.click('[data-testid=save-followup]');
  t.match(await page.locator('[data-error-for=date]').innerText(), /随访日期 2026-01-05 早于纳入管理日期 2026-01-10/);
  await shot('followup-before-enrolment');

  // ASCVD with the published China-PAR table: the source is shown, no "unverified" warning, and
  // the page passes the form to the equation (woman born 1955-09-09, north, urban, untreated;
  // enrolled for type 2 diabetes above, so the diabetes box comes ticked).
  await page.goto(`${url}/care/r/r-c/ascvd`);
  t.match(await page.locator('[data-testid=coef-source]').innerText(), /Circulation 2016;134:1430-1440.*zwbao\/longevity-skills/);
  t.equal(await page.locator('[data-testid=unverified]').count(), 0);
  await page.fill('#sbp', '150'); await page.fill('#totalCholesterol', '5.8'); await page.fill('#hdlCholesterol', '1.1'); await page.fill('#waistCm', '88');
  await page.click('form[action$="/ascvd"] button.primary');
  const expected = ascvdRisk(CHINA_PAR_2016, { sex: '2', age: ageOn('1955-09-09', todayOf()), sbp: 150, onBpTreatment: false, totalCholesterol: 5.8, hdlCholesterol: 1.1, waistCm: 88, smoker: false, diabetes: true, region: 'north', area: 'urban', familyHistory: false });
  t.match(await page.locator('[data-testid=ascvd-result]').innerText(), new RegExp(`10年 ASCVD 发病风险 ${expected.riskPercent}%`));
  await shot('ascvd');

  // TCM: the default decision table is the national form's (raw sums, "<8" / "<10" for balanced).
  await page.goto(`${url}/care/r/r-c/tcm`);
  t.match(await page.locator('[data-testid=tcm-method]').innerText(), /国家规范《老年人中医药健康管理服务记录表》体质判定标准表.*其他 8 种均 <8 是、均 <10 基本是/);

  // Health education with an uploaded sign-in sheet; the file downloads back.
  await page.goto(`${url}/care/education`);
  await page.selectOption('#kind', 'lecture');
  await page.fill('#topic', '高血压的自我管理');
  await page.fill('#attendeeCount', '');
  await page.setInputFiles('#files', { name: '签到表.txt', mimeType: 'text/plain', buffer: Buffer.from('签到：张三、李四\n') });
  await page.click('[data-testid=edu-form] button.primary');
  t.match(await page.locator('[data-error-for=attendeeCount]').innerText(), /请填写参加人数/);
  await page.fill('#attendeeCount', '36');
  await page.setInputFiles('#files', { name: '签到表.txt', mimeType: 'text/plain', buffer: Buffer.from('签到：张三、李四\n') });
  await page.click('[data-testid=edu-form] button.primary');
  t.match(await page.locator('[data-testid=edu-table]').innerText(), /健康知识讲座\s+高血压的自我管理\s+36\s+签到表.txt/);
  await shot('education');
  const href = await page.locator('[data-testid=edu-table] a').first().getAttribute('href');
  const cookie = await signIn(url, 'dr.li', 'Doctor-Pass-2026');
  t.equal(await (await fetch(`${url}${href}`, { headers: { cookie } })).text(), '签到：张三、李四\n', 'material downloads');

  // Roles: a cashier may not open care pages (403, audited).
  const cashier = await signIn(url, 'cashier.he', 'Cashier-Pass-2026');
  t.equal((await fetch(`${url}/care/r/r-c`, { headers: { cookie: cashier } })).status, 403);
  t.ok(edge.accounts.recentAudit(50).some((a) => a.username === 'cashier.he' && a.outcome === 'forbidden'));

  // English.
  await page.goto(`${url}/care/due?lang=en`);
  t.equal(await page.locator('h1').first().innerText(), 'Follow-ups due and overdue');
  await shot('due-en');
});
