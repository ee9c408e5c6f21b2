/**
 * Health-record migration between two clinics over the spine (real nats-server with per-clinic
 * users, central, two edges): the sender migrates a record out while the receiver is offline;
 * the receiver gets it on reconnect, sees it under 迁入档案 (Chromium), refuses an empty reason,
 * accepts; the sender learns it. A second record is refused with a reason while the sender is
 * offline; on reconnect the sender's record is active again. Redelivery changes nothing. A clinic
 * cannot read another clinic's transfers. Screenshots: /tmp/ui-care-transfer-*.png.
 */
import t from 'tap';
import { connect } from '@nats-io/transport-node';
import { jetstream } from '@nats-io/jetstream';
import { STREAMS, subjects } from '../../contracts/index.ts';
import { careByClinic, CareTransfers } from '../../edge-agent/care/index.ts';
import { addDays, today as todayOf } from '../../edge-agent/care/rules/dates.ts';
import { CareTransferRouter, ensureTransferStream } from '../../central/care-transfer/index.ts';
import { all as sqlAll } from '../../central/empi/sql.ts';
import { centralUser, clinicUser, hashPassword, renderAuthorization } from '../../provisioning/nats.ts';
import { startNatsServer } from '../helpers/nats-server.ts';
import { centralInProcess, clinicName, edgeInProcess, tempDir } from '../helpers/spine.ts';
import { launchBrowser, screenshotPath } from '../helpers/browser.ts';
import { waitFor } from '../helpers/wait.ts';
import { addResident } from '../devices/helpers.ts';

t.test('health-record migration between two clinics: offer, accept, refuse, offline both ways, permissions', async (t) => {
  const a = clinicName('tra');
  const b = clinicName('trb');
  const auth = renderAuthorization([centralUser(hashPassword('central-secret', 4)), clinicUser(a, hashPassword('secret-a', 4)), clinicUser(b, hashPassword('secret-b', 4))]);
  await using ns = await startNatsServer({ extraConfig: auth });
  const tmp = tempDir('care-transfer');
  t.teardown(tmp.cleanup);
  const central = await centralInProcess(ns.url, `${tmp.dir}/central`, { natsUser: 'central', natsPassword: 'central-secret' });
  const userA = { natsUser: `clinic-${a}`, natsPassword: 'secret-a', clinicName: '新华社区卫生服务中心' };
  const userB = { natsUser: `clinic-${b}`, natsPassword: 'secret-b', clinicName: '朝阳社区卫生服务中心', adminPassword: 'Admin-Pass-2026' };
  let edgeA = await edgeInProcess(ns.url, a, `${tmp.dir}/a`, userA);
  let edgeB = await edgeInProcess(ns.url, b, `${tmp.dir}/b`, userB);
  t.teardown(async () => { await edgeA.stop(); await edgeB.stop(); await central.stop(); });
  edgeB.accounts.create({ username: 'dr.zhang', displayName: '张医生', role: 'doctor', password: 'Doctor-Pass-2026' }, 'test', 'local');
  const router = new CareTransferRouter(central.wh, central.log); // reads central's routing table
  const actorA = { username: 'dr.li', ip: '127.0.0.1' };
  const today = todayOf();

  // Clinic A: a hypertensive resident with a record, an enrolment and a follow-up.
  const sA = careByClinic.get(a)!;
  const idn = addResident(edgeA, 'r-t1', '钱建国', '19580312', '031');
  const rec1 = sA.createHealthRecord({ residentId: 'r-t1', currentAddress: '新华路 8 号' }, actorA);
  sA.enrol({ residentId: 'r-t1', disease: 'HTN', enrolledDate: addDays(today, -40), doctorCode: 'dr.li', sbp: 156, dbp: 94 }, actorA);
  sA.recordFollowup({ residentId: 'r-t1', disease: 'HTN', date: addDays(today, -10), mode: 'clinic', symptoms: [], sbp: 148, dbp: 92, medications: [{ name: '氨氯地平', dose: '5mg qd' }], sourceReadingIds: [] }, actorA);

  // The receiver is offline when A migrates the record out.
  await edgeB.stop();
  sA.migrateRecord(rec1.healthRecordNo, b, '随子女迁居朝阳辖区', actorA);
  t.equal(sA.get('health_record', rec1.healthRecordNo)!.status, 'migrated');
  await waitFor('central routed the offer', async () => (await router.transfers()).some((x) => x.healthRecordNo === rec1.healthRecordNo && x.status === 'offered'), 30_000);

  // B comes back: the offer is delivered on reconnect.
  edgeB = await edgeInProcess(ns.url, b, `${tmp.dir}/b`, userB);
  const trB = () => new CareTransfers(careByClinic.get(b)!);
  await waitFor('B received the offer', () => trB().incoming('pending').length === 1, 30_000);
  const offer = trB().incoming('pending')[0]!;
  t.same([offer.fromClinicId, offer.healthRecordNo, offer.transfer.resident.name, offer.transfer.enrolments.length, offer.transfer.followups.length], [a, rec1.healthRecordNo, '钱建国', 1, 1]);

  await using browser = await launchBrowser();
  const page = await browser.newPage();
  const shot = (name: string) => page.screenshot({ path: screenshotPath(`care-transfer-${name}`), fullPage: true });
  const url = edgeB.http.url;
  await page.goto(`${url}/login`);
  await page.fill('#username', 'dr.zhang'); await page.fill('#password', 'Doctor-Pass-2026'); await page.click('button.primary');
  await page.waitForURL(`${url}/`);
  await page.goto(`${url}/care/transfers`);
  const card = page.locator(`[data-testid=incoming-${offer.transferId}]`);
  t.match(await card.innerText(), new RegExp(`钱建国[\\s\\S]*${rec1.healthRecordNo}[\\s\\S]*新华社区卫生服务中心[\\s\\S]*随子女迁居朝阳辖区[\\s\\S]*高血压[\\s\\S]*随访记录 1 次`));
  t.notMatch(await card.innerText(), new RegExp(idn), 'the ID number is masked');
  await shot('incoming');
  // Refusing without a reason is refused, nothing written.
  const decisions = () => (edgeB.store.db.prepare("SELECT count(*) AS n FROM records WHERE type = 'record_transfer_decision'").get() as { n: number }).n;
  await card.locator('[data-testid=refuse]').click();
  t.match(await page.locator('[data-error-for=reason]').innerText(), /拒绝迁入须填写原因/);
  t.same([decisions(), trB().incomingOne(offer.transferId)!.status], [0, 'pending'], 'a refused form writes nothing');
  // Accept.
  await page.locator(`[data-testid=incoming-${offer.transferId}] [data-testid=accept]`).click();
  t.match(await page.locator('[data-testid=notice]').innerText(), /已接收/);
  await shot('accepted');
  const accepted = trB().incomingOne(offer.transferId)!;
  t.equal(accepted.status, 'accepted');
  const rid = accepted.residentId!;
  const sB = careByClinic.get(b)!;
  const recB = sB.get('health_record', rec1.healthRecordNo)!;
  t.same([recB.status, recB.clinicId, recB.residentId, recB.doctorCode], ['active', b, rid, 'dr.zhang'], 'the record is now this clinic\'s, active, same number');
  t.equal(sB.resident(rid)!.idNumber, idn, 'the resident was created with the same ID number');
  t.same(sB.byResident('chronic_enrolment', rid).map((e) => [e.disease, e.status, e.doctorCode]), [['HTN', 'active', 'dr.zhang']], 'the enrolment moved with it');
  t.equal(sB.byResident('chronic_followup', rid).length, 0, 'the follow-ups are history, not this clinic\'s records');
  await page.goto(`${url}/care/r/${rid}`);
  t.match(await page.locator('[data-testid=prior-followups]').innerText(), new RegExp(`迁入前随访记录（只读）[\\s\\S]*${addDays(today, -10)}[\\s\\S]*148/92`));
  await shot('resident');

  // The sender learns it; its enrolment ends (moved away), its record stays migrated.
  const trA = () => new CareTransfers(careByClinic.get(a)!);
  await waitFor('A learned the acceptance', () => trA().outgoing().some((x) => x.transferId === offer.transferId && x.status === 'accepted'), 30_000);
  t.equal(sA.get('health_record', rec1.healthRecordNo)!.status, 'migrated');
  t.same(sA.byResident('chronic_enrolment', 'r-t1').map((e) => [e.status, e.endReason]), [['ended', 'moved_away']]);

  // Second record: refused with a reason while the sender is offline.
  addResident(edgeA, 'r-t2', '孙丽华', '19620708', '042');
  const rec2 = sA.createHealthRecord({ residentId: 'r-t2', currentAddress: '新华路 9 号' }, actorA);
  sA.migrateRecord(rec2.healthRecordNo, b, '迁居', actorA);
  await waitFor('B received the second offer', () => trB().incoming('pending').length === 1, 30_000);
  const offer2 = trB().incoming('pending')[0]!;
  await edgeA.stop();
  await page.goto(`${url}/care/transfers`);
  await page.locator(`[data-testid=incoming-${offer2.transferId}] #reason`).fill('该居民不在本中心辖区居住');
  await page.locator(`[data-testid=incoming-${offer2.transferId}] [data-testid=refuse]`).click();
  t.match(await page.locator('[data-testid=notice]').innerText(), /已拒绝/);
  t.match(await page.locator('[data-testid=incoming-decided]').innerText(), /孙丽华[\s\S]*已拒绝[\s\S]*该居民不在本中心辖区居住/);
  await shot('refused');
  await waitFor('central routed the refusal', async () => (await router.transfers()).some((x) => x.transferId === offer2.transferId && x.status === 'refused'), 30_000);
  edgeA = await edgeInProcess(ns.url, a, `${tmp.dir}/a`, userA);
  await waitFor('A learned the refusal on reconnect', () => careByClinic.get(a)!.get('health_record', rec2.healthRecordNo)?.status === 'active', 30_000);
  const out2 = trA().outgoing().find((x) => x.transferId === offer2.transferId)!;
  t.same([out2.status, out2.reason], ['refused', '该居民不在本中心辖区居住']);
  t.equal(careByClinic.get(a)!.get('health_record', rec2.healthRecordNo)!.migratedToClinicId, undefined, 'no migration left on the active record');

  // Idempotent: the same offer and decision again change nothing.
  t.equal(trB().apply({ kind: 'offer', transfer: offer.transfer }), 'duplicate');
  t.equal(trB().incoming().length, 2);
  const d2 = { transferId: offer2.transferId, healthRecordNo: rec2.healthRecordNo, fromClinicId: a, toClinicId: b, decision: 'refused' as const, reason: 'x', decidedAt: new Date().toISOString(), decidedBy: 'dr.zhang' };
  // Audit entries travel on the spine too (audit_event): count domain record versions only.
  const domainSeqA = () => edgeA.store.db.prepare<[], { n: number }>("SELECT coalesce(sum(version), 0) AS n FROM records WHERE type <> 'audit_event'").get()!.n;
  const seqA = domainSeqA();
  t.equal(trA().apply({ kind: 'decision', decision: d2 }), 'duplicate');
  t.equal(domainSeqA(), seqA, 'a repeated decision writes nothing');
  // A message for another clinic is ignored.
  t.equal(trA().apply({ kind: 'offer', transfer: { ...offer.transfer, transferId: 'tr-elsewhere', toClinicId: 'some-other' } }), 'ignored');
  // Central: every record is routed once (two offers, two decisions), nothing rejected.
  const routed = await router.transfers();
  t.same(routed.map((x) => x.status).sort(), ['accepted', 'refused']);

  // A forged offer (clinic B's record claiming to come from A) is not routed by central.
  const forgedSeq = edgeB.store.write('record_transfer', 'tr-forged', { ...offer.transfer, transferId: 'tr-forged', fromClinicId: a, toClinicId: b });
  await waitFor('central scanned the forged offer', async () => Number((await router.sql.tx(function* () { return yield* sqlAll<{ seq: number }>('SELECT seq FROM care_transfer_cursor WHERE clinic_id = ?', [b]); }))[0]?.seq ?? 0) >= forgedSeq, 30_000);
  t.notOk((await router.transfers()).some((x) => x.transferId === 'tr-forged'), 'forged offer not routed');

  // Permissions: clinic B's user reads its own transfers only.
  const admin = await connect({ servers: ns.url, user: 'central', pass: 'central-secret' });
  t.teardown(() => admin.close());
  await ensureTransferStream(admin);
  const nc = await connect({ servers: ns.url, user: `clinic-${b}`, pass: 'secret-b', inboxPrefix: `_INBOX_${b.replace(/-/g, '_')}` });
  t.teardown(() => nc.close());
  const js = jetstream(nc);
  const own = await js.consumers.get(STREAMS.transfers, { filter_subjects: subjects.transfer(b) });
  const m = await own.next({ expires: 5_000 });
  t.equal((m?.json() as { kind: string }).kind, 'offer', 'its own subject is readable');
  const other = await js.consumers.get(STREAMS.transfers, { filter_subjects: subjects.transfer(a) }).then(async (c) => c.next({ expires: 2_000 })).then(() => 'read', (e: Error) => e.message);
  t.not(other, 'read', `another clinic's transfers are refused (${other})`);
  const all = await js.consumers.get(STREAMS.transfers, {}).then(async (c) => c.next({ expires: 2_000 })).then(() => 'read', (e: Error) => e.message);
  t.not(all, 'read', `an unfiltered consumer is refused (${all})`);
});
