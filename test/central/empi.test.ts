/**
 * EMPI: hand-worked Fellegi–Sunter scores, deterministic rules, a fast-check property that matching
 * never throws, and the index on both warehouse backends (links across clinics, reviews, merge and
 * unmerge with history, person changes queued for the edges).
 */
import fc from 'fast-check';
import t from 'tap';
import { Empi } from '../../central/empi/empi.ts';
import { blockingKeys, match, namePinyin, type Demographics } from '../../central/empi/match.ts';
import type { IngestItem, Warehouse } from '../../central/warehouse/types.ts';
import { formatHlc, makeResidentId, recordTypes } from '../../contracts/index.ts';
import { postgresTestWarehouse, sqliteTestWarehouse } from './postgres.ts';

const st = (status: number) => ({ status }) as unknown as Error;
const near = (a: number, b: number) => Math.abs(a - b) < 0.001;

t.test('Fellegi–Sunter scores, worked by hand', async (t) => {
  // Weights log2(m/u): name agree log2(0.92/0.001) = 9.8455, birth date agree log2(0.96/0.0004) = 11.2288,
  // sex agree log2(0.98/0.5) = 0.9709, phone agree log2(0.75/0.0001) = 12.8727,
  // name same pinyin only log2(0.05/0.005) = 3.3219, phone disagree log2(0.25/0.9999) = -2.0000,
  // name disagree log2(0.03/0.994) = -5.0502, sex disagree log2(0.02/0.5) = -4.6439.
  const a: Demographics = { name: '王秀英', sex: '2', birthDate: '1956-03-07', phone: '13800000000' };

  const same = match(a, { name: '王 秀英', sex: '2', birthDate: '1956-03-07', phone: '+86 138-0000-0000' });
  t.ok(near(same.score, 9.8455 + 11.2288 + 0.9709 + 12.8727), `name+birth+sex+phone = 34.9179 (${same.score})`);
  t.equal(same.decision, 'link', '>= 24 links automatically');
  t.same(same.fields.address, { level: 'missing', weight: 0 }, 'a missing field weighs nothing');

  const noPhone = match(a, { name: '王秀英', sex: '2', birthDate: '1956-03-07' });
  t.ok(near(noPhone.score, 22.0452), `name+birth+sex = 22.0452 (${noPhone.score})`);
  t.equal(noPhone.decision, 'review', 'between 12 and 24: review');

  const homophone = match(a, { name: '王秀瑛', sex: '2', birthDate: '1956-03-07', phone: '13900000000' });
  t.equal(homophone.fields.name.level, 'partial', '王秀英 / 王秀瑛 share the pinyin');
  t.ok(near(homophone.score, 3.3219 + 11.2288 + 0.9709 - 1.9999), `pinyin+birth+sex-phone = 13.5217 (${homophone.score})`);
  t.equal(homophone.decision, 'review');

  const other = match(a, { name: '李强', sex: '1', birthDate: '1956-03-07' });
  t.ok(near(other.score, -5.0502 + 11.2288 - 4.6439), `-name+birth-sex = 1.5347 (${other.score})`);
  t.equal(other.decision, 'no-link');

  const swapped = match({ birthDate: '1956-03-07' }, { birthDate: '1956-07-03' });
  t.equal(swapped.fields.birthDate.level, 'partial', 'day and month swapped is a partial agreement');
  t.ok(near(swapped.score, 1.585));
});

t.test('deterministic rules', async (t) => {
  const id = makeResidentId('110101', new Date(Date.UTC(1956, 2, 7)), 13);
  const id2 = makeResidentId('110101', new Date(Date.UTC(1956, 2, 7)), 15);
  const base = { name: '王秀英', sex: '2', birthDate: '1956-03-07' };
  t.match(match({ ...base, idNumber: id }, { name: '王秀英', idNumber: id.toLowerCase() }), { decision: 'link', deterministic: ['idNumber'] }, 'same valid ID number');
  t.match(match({ ...base, idNumber: id }, { name: '张伟', idNumber: id }), { decision: 'review', reasons: [/different name/] }, 'same ID, different name: review');
  t.match(match({ ...base, idNumber: id, phone: '13800000000' }, { ...base, idNumber: id2, phone: '13800000000' }), { decision: 'no-link', idConflict: true }, 'two valid IDs that differ are two persons (twins), whatever the score');
  const bad = `${id.slice(0, 17)}${id[17] === '0' ? '1' : '0'}`;
  t.match(match({ name: '甲', idNumber: bad }, { name: '乙', idNumber: bad }), { deterministic: [] }, 'an ID failing the GB 11643 check is not an identifier');
  t.match(match({ name: '王秀英', insuranceCardNo: 'ins-1 ' }, { name: '王秀英', insuranceCardNo: 'INS-1' }), { decision: 'link', deterministic: ['insuranceCardNo'] });
  t.match(match({ name: '王秀英', healthCardId: 'E1' }, { name: '王秀英', healthCardId: 'E1' }), { decision: 'link', deterministic: ['healthCardId'] });
  t.match(match({ ...base, idType: '03', idNumber: 'E1234567' }, { ...base, idType: '03', idNumber: 'E1234567' }), { deterministic: [] }, 'passports are not deterministic here');
  t.equal(namePinyin('单田芳'), 'shantianfang', 'surname mode: 单 = shan');
  t.ok(blockingKeys({ ...base, idNumber: id, phone: '138 0000 0000' }).includes(`id:${id}`));
});

t.test('matching never throws on arbitrary input', async (t) => {
  const anyValue = fc.oneof(fc.string(), fc.string({ unit: 'grapheme' }), fc.constant(undefined), fc.constant(null), fc.integer(), fc.object(), fc.array(fc.anything()),
    fc.constantFrom('1956-03-07', '1956-13-45', '01', '02', '1', '2', '9', '110101195603070137', '11010119560307013X', '110101560307013'));
  const demo = fc.record({ name: anyValue, sex: anyValue, birthDate: anyValue, idType: anyValue, idNumber: anyValue, insuranceCardNo: anyValue, healthCardId: anyValue, phone: anyValue, address: anyValue }, { requiredKeys: [] });
  fc.assert(fc.property(demo, demo, (a, b) => {
    const r = match(a as Demographics, b as Demographics);
    blockingKeys(a as Demographics);
    return Number.isFinite(r.score) && ['link', 'review', 'no-link'].includes(r.decision) && match(b as Demographics, a as Demographics).decision === r.decision;
  }), { numRuns: 2000 });
  t.pass('2000 random pairs, symmetric and finite');
});

// ---- the index over a real warehouse ----

const seqs = new Map<string, number>();
function resident(clinic: string, payload: Record<string, unknown>, version = 1): IngestItem {
  const seq = (seqs.get(clinic) ?? 0) + 1;
  seqs.set(clinic, seq);
  const p = recordTypes.resident.parse(payload);
  return { kind: 'record', type: 'resident', payload: p, hash: `h-${clinic}-${seq}`, raw: '',
    envelope: { recordId: String(payload.residentId), type: 'resident', clinicId: clinic, seq, version, hlc: formatHlc({ ms: 1_750_000_000_000 + seq, counter: 0, node: clinic }), schemaVersion: 1, createdAt: new Date().toISOString(), payload: p } };
}

const ID_WANG = makeResidentId('110101', new Date(Date.UTC(1956, 2, 7)), 14);
const ID_LI = makeResidentId('110105', new Date(Date.UTC(1990, 10, 1)), 31);
const ID_ZHANG = makeResidentId('110105', new Date(Date.UTC(1962, 4, 20)), 51);

function suite(name: string, make: () => Promise<{ wh: Warehouse; cleanup: () => Promise<void> }>) {
  t.test(`EMPI index on ${name}`, async (t) => {
    const { wh, cleanup } = await make();
    t.teardown(cleanup);
    seqs.clear();
    const empi = new Empi(wh);
    const ingest = async (items: IngestItem[]) => {
      const r = await wh.ingest(items);
      if (!r.outcomes.every((o) => o === 'applied')) throw new Error(r.outcomes.join());
    };
    await ingest([
      resident('clinic-a', { residentId: 'a-wang', name: '王秀英', sex: '2', birthDate: '1956-03-07', idNumber: ID_WANG, phone: '13800000000' }),
      resident('clinic-a', { residentId: 'a-li', name: '李强', sex: '1', birthDate: '1990-11-01', idNumber: ID_LI, insuranceCardNo: 'INS-LI' }),
      resident('clinic-a', { residentId: 'a-zhao', name: '赵敏', sex: '2', birthDate: '1970-01-02', idType: '03', idNumber: 'P123', phone: '13911112222' }),
      resident('clinic-a', { residentId: 'a-chen', name: '陈红', sex: '2', birthDate: '1948-08-08', idType: '99', idNumber: 'X1' }),
    ]);
    const first = await empi.runOnce();
    t.match(first, { scanned: 4, residents: 4, newPersons: 4, linked: 0 });

    await ingest([
      // Same ID number at another clinic: the same person.
      resident('clinic-b', { residentId: 'b-wang', name: '王秀英', sex: '2', birthDate: '1956-03-07', idNumber: ID_WANG }),
      // Same insurance card with another document type.
      resident('clinic-b', { residentId: 'b-li', name: '李强', sex: '1', birthDate: '1990-11-01', idType: '02', idNumber: 'HK-778', insuranceCardNo: 'INS-LI' }),
      // No shared identifier, but name + birth + sex + phone (34.9): linked probabilistically.
      resident('clinic-b', { residentId: 'b-zhao', name: '赵敏', sex: '2', birthDate: '1970-01-02', idType: '99', idNumber: 'none', phone: '139-1111-2222' }),
      // Name + birth + sex only (22.0): a review.
      resident('clinic-b', { residentId: 'b-chen', name: '陈红', sex: '2', birthDate: '1948-08-08', idType: '99', idNumber: 'none' }),
      // A stranger.
      resident('clinic-b', { residentId: 'b-zhang', name: '张伟', sex: '1', birthDate: '1962-05-20', idNumber: ID_ZHANG }),
    ]);
    const second = await empi.runOnce();
    t.match(second, { scanned: 5, residents: 5, linked: 3, newPersons: 2, reviews: 1 });
    t.match(await empi.runOnce(), { scanned: 0 }, 'the cursor does not scan twice');

    const wang = (await empi.personOf('a-wang'))!;
    t.same(wang.members.map((m) => [m.residentId, m.clinicId, m.method]), [['a-wang', 'clinic-a', 'new'], ['b-wang', 'clinic-b', 'deterministic:idNumber']]);
    t.same((await empi.personOf('b-li'))!.members.map((m) => m.method).sort(), ['deterministic:insuranceCardNo', 'new']);
    const zhao = (await empi.personOf('b-zhao'))!.members.find((m) => m.residentId === 'b-zhao')!;
    t.equal(zhao.method, 'probabilistic');
    t.ok(near(zhao.score!, 34.9178), 'linked at 34.9178 (name+birth+sex+phone)');
    t.equal((await empi.personOf('b-zhang'))!.members.length, 1);

    // Person changes queued for both clinics of each shared person.
    const out = await empi.unpublished();
    t.same([...new Set(out.map((o) => o.clinicId))].sort(), ['clinic-a', 'clinic-b']);
    t.ok(out.some((o) => o.clinicId === 'clinic-a' && o.event.personId === wang.personId && o.event.residents.length === 2), 'clinic-a learns that a-wang is also b-wang');
    await empi.markPublished(out.map((o) => o.id));
    t.equal((await empi.unpublished()).length, 0);

    // The review: accept, then unmerge, with history.
    const open = await empi.reviews('open', 10, 0);
    t.equal(open.total, 1);
    const rv = open.reviews[0]!;
    t.match(rv, { resident: { residentId: 'b-chen', demographics: { name: '陈红' } }, candidate: { residentId: 'a-chen' } });
    t.ok(near(rv.score, 22.0452), `review score ${rv.score}`);
    const chenA = rv.candidate.personId!;
    const chenB = rv.resident.personId!;
    const accepted = await empi.acceptReview(rv.id, 'reviewer-1');
    t.match(accepted, { review: { status: 'accepted', decidedBy: 'reviewer-1' }, merge: { action: 'review-accepted', personId: chenA, otherPersonId: chenB, residents: [{ residentId: 'b-chen' }] } });
    t.same((await empi.personOf('b-chen'))!.personId, chenA);
    t.match(await empi.person(chenB), { status: 'merged', mergedInto: chenA, members: [] });
    await t.rejects(empi.acceptReview(rv.id, 'x'), st(409), 'a decided review cannot be decided again');

    const undone = await empi.unmerge(accepted.merge!.id, 'reviewer-2', 'different people after all');
    t.match(undone, { action: 'unmerge', personId: chenA, otherPersonId: chenB });
    t.equal((await empi.personOf('b-chen'))!.personId, chenB);
    t.match(await empi.person(chenB), { status: 'active', members: [{ residentId: 'b-chen' }] });
    await t.rejects(empi.unmerge(accepted.merge!.id, 'x'), st(409), 'undone once only');
    const h = await empi.history(chenA);
    t.same(h.map((x) => x.action), ['review-accepted', 'unmerge']);
    t.equal(h[0]!.undoneBy, undone.id);
    const events = await empi.unpublished();
    t.ok(events.some((e) => e.event.kind === 'unmerge' && e.clinicId === 'clinic-b' && e.event.personId === chenB), 'the unmerge goes down to clinic-b');

    // Manual merge and its errors.
    const zhang = (await empi.personOf('b-zhang'))!.personId;
    const m = await empi.merge(wang.personId, zhang, 'admin', 'test');
    t.equal((await empi.personOf('b-zhang'))!.personId, wang.personId);
    await t.rejects(empi.merge(wang.personId, zhang, 'admin'), st(409), 'a merged person cannot be merged again');
    await t.rejects(empi.merge(wang.personId, 'nobody', 'admin'), st(404));
    await t.rejects(empi.merge(wang.personId, wang.personId, 'admin'), st(409));
    await empi.unmerge(m.id, 'admin');
    t.equal((await empi.personOf('b-zhang'))!.personId, zhang);

    // Rejecting: a new probable match, rejected, is not proposed again for that pair.
    await ingest([resident('clinic-c', { residentId: 'c-chen', name: '陈红', sex: '2', birthDate: '1948-08-08', idType: '99', idNumber: 'none' })]);
    const third = await empi.runOnce();
    t.equal(third.reviews, 2, 'c-chen resembles both chen persons');
    for (const r of (await empi.reviews('open', 10, 0)).reviews) t.match(await empi.rejectReview(r.id, 'reviewer-1'), { status: 'rejected' });
    t.equal((await empi.reviews('open', 10, 0)).total, 0);
    t.equal((await empi.reviews('all', 10, 0)).total, 3);

    // An indexed resident whose demographics change is not relinked; a shared identifier is a review.
    await ingest([resident('clinic-b', { residentId: 'b-zhang', name: '张伟', sex: '1', birthDate: '1962-05-20', idNumber: ID_ZHANG, insuranceCardNo: 'INS-LI' }, 2)]);
    const fourth = await empi.runOnce();
    t.match(fourth, { residents: 1, linked: 0, newPersons: 0, reviews: 1 });
    const changed = (await empi.reviews('open', 10, 0)).reviews;
    t.match(changed, [{ resident: { residentId: 'b-zhang' }, detail: { reasons: [/different ID numbers but the same insuranceCardNo/, /demographics changed/] } }]);
    t.equal((await empi.personOf('b-zhang'))!.personId, zhang, 'still its own person until someone decides');
    await ingest([resident('clinic-b', { residentId: 'b-zhang', name: '张伟', sex: '1', birthDate: '1962-05-20', idNumber: ID_ZHANG, insuranceCardNo: 'INS-LI', phone: '1' }, 3)]);
    t.match(await empi.runOnce(), { reviews: 0 }, 'the same pair is not proposed twice');

    // Search without writing.
    const found = await empi.search({ name: '王秀英', sex: '2', birthDate: '1956-03-07' });
    t.equal(found[0]?.personId, wang.personId);
  });
}

suite('sqlite', () => sqliteTestWarehouse('empi-'));

suite('postgres', () => postgresTestWarehouse('wh_empi'));

t.test('the background scan works in time slices: a slice out of time leaves the rest for the next, nothing is skipped', async (t) => {
  // The same 40 residents (20 at each of two clinics, every one of clinic-d the same person as one
  // of clinic-c) indexed by an EMPI whose slices take one resident each and by one without a time limit.
  const people = Array.from({ length: 20 }, (_, i) => ({ name: `测试${i}`, sex: i % 2 ? '1' : '2', birthDate: `19${50 + i}-0${1 + (i % 9)}-1${i % 10}`, phone: `1380000${String(1000 + i)}` }));
  const index = async (opts: ConstructorParameters<typeof Empi>[1]) => {
    const { wh, cleanup } = await sqliteTestWarehouse('empi-slice-');
    t.teardown(cleanup);
    seqs.clear();
    const r = await wh.ingest([
      ...people.map((p, i) => resident('clinic-c', { residentId: `c-${i}`, idType: '99', idNumber: 'none', ...p })),
      ...people.map((p, i) => resident('clinic-d', { residentId: `d-${i}`, idType: '99', idNumber: 'none', ...p })),
    ]);
    t.ok(r.outcomes.every((o) => o === 'applied'));
    const empi = new Empi(wh, opts);
    // Count the transactions the scan runs (one per slice, plus one listing the clinics).
    const sql = empi.sql as { tx: Empi['sql']['tx'] };
    const tx = sql.tx.bind(sql);
    let txs = 0;
    sql.tx = ((body, lock) => { txs++; return tx(body, lock); }) as Empi['sql']['tx'];
    const stats = await empi.runOnce();
    const scanTxs = txs;
    const again = await empi.runOnce();
    const persons = new Map<string, string[]>();
    for (let i = 0; i < 20; i++) persons.set(`c-${i}`, (await empi.personOf(`c-${i}`))!.members.map((m) => m.residentId).sort());
    return { stats, again, txs: scanTxs, persons };
  };
  const sliced = await index({ sliceMs: 0 });
  const whole = await index({ sliceMs: Infinity }); // no time limit: batches of 50, whatever the machine's load
  t.match(sliced.stats, { scanned: 40, residents: 40, newPersons: 20, linked: 20 }, 'every resident indexed once');
  t.same(sliced.stats, whole.stats, 'the same outcome as in batches of 50');
  t.same([...sliced.persons], [...whole.persons], 'the same persons');
  t.ok([...sliced.persons.values()].every((m) => m.length === 2), 'each clinic-c resident linked with its clinic-d twin');
  t.match(sliced.again, { scanned: 0 }, 'the cursor passed every resident');
  t.ok(sliced.txs > 40, `slices of one resident: ${sliced.txs} transactions`);
  t.equal(whole.txs, 3, 'batches of 50: the clinic list, then one transaction per clinic');
});
