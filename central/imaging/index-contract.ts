/**
 * The contract every `ImagingIndex` passes (SQLite and PostgreSQL), like the warehouse's
 * `runWarehouseContract`. A backend's test supplies a factory for a fresh, empty index.
 *
 *   runImagingIndexContract(t, 'sqlite', async () => ({ index: new SqliteImagingIndex(db), cleanup }));
 */
import { randomBytes } from 'node:crypto';
import type t from 'tap';
import fc from 'fast-check';
import type { ImagingIndex, IndexedInstance } from './index-store.ts';
import type { ReportInput } from './reports.ts';
import { ReportError } from './index-store.ts';

type Test = typeof t;

export interface ImagingIndexHarness {
  index: ImagingIndex;
  cleanup(): Promise<void>;
}

const clinic = (tag: string) => `${tag}-${randomBytes(3).toString('hex')}`;
let uidN = 0;
const uid = () => `2.25.${BigInt(`0x${randomBytes(12).toString('hex')}`)}${++uidN}`;

export function inst(clinicId: string, o: Partial<IndexedInstance> = {}): IndexedInstance {
  const sop = o.sopInstanceUid ?? uid();
  return {
    sopInstanceUid: sop, clinicId, studyInstanceUid: uid(), seriesInstanceUid: uid(), sopClassUid: '1.2.840.10008.5.1.4.1.1.6.1',
    transferSyntaxUid: '1.2.840.10008.1.2.1', size: 1000, sha256: 'a'.repeat(64), path: `/archive/${clinicId}/${sop}.dcm`,
    patientId: 'P1', patientName: '张三^', patientBirthDate: '19800101', patientSex: 'M', accessionNumber: 'ACC1', modality: 'US',
    studyDate: '20261128', studyTime: '093000', studyDescription: '腹部超声', seriesNumber: '1', instanceNumber: '1',
    rows: 512, columns: 512, numberOfFrames: null, stationAe: 'US_ROOM1', receivedAt: '2026-11-28T02:00:00.000Z', ...o,
  };
}

const report = (status: ReportInput['status'], positive: boolean): ReportInput =>
  ({ status, findings: '肝脏形态大小正常', impression: positive ? '胆囊结石' : '未见明显异常', positive, radiologist: '区医院 王医生' });

async function rejectsWith(p: Promise<unknown>, status: number): Promise<boolean> {
  try {
    await p;
    return false;
  } catch (e) {
    return e instanceof ReportError && e.status === status;
  }
}

export function runImagingIndexContract(tap: Test, name: string, make: () => Promise<ImagingIndexHarness>): void {
  tap.test(`ImagingIndex contract: ${name}`, async (tt) => {
    const h = await make();
    tt.teardown(() => h.cleanup());
    const ix = h.index;
    await ix.ready();

    tt.test('an instance row round-trips; a replacement keeps the clinic', async (t) => {
      const c = clinic('rt');
      const a = inst(c, { numberOfFrames: 24, size: 3_000_000_123, receivedAt: '2026-11-28T01:02:03.456Z' });
      await ix.upsertInstance(a);
      t.same(await ix.instance(a.sopInstanceUid), a, 'every field as written (size above 2^31, ms timestamp)');
      t.equal(await ix.instance(uid()), null, 'unknown SOP: null');
      await ix.upsertInstance({ ...a, clinicId: 'someone-else', sha256: 'b'.repeat(64), size: 42, path: '/new', receivedAt: '2026-11-28T05:00:00.000Z' });
      const b = await ix.instance(a.sopInstanceUid);
      t.same([b?.clinicId, b?.sha256, b?.size, b?.path, b?.receivedAt], [c, 'b'.repeat(64), 42, '/new', '2026-11-28T05:00:00.000Z'], 'bytes replaced, clinic kept');
    });

    tt.test('QIDO study search: keys, wildcards, ranges, lists, paging, aggregates', async (t) => {
      const c = clinic('qido');
      const s1 = uid();
      const s2 = uid();
      const s3 = uid();
      const se = [uid(), uid()];
      await ix.upsertInstance(inst(c, { studyInstanceUid: s1, seriesInstanceUid: se[0], patientId: 'P_100', patientName: 'ZHANG^SAN', studyDate: '20261101', modality: 'US', receivedAt: '2026-11-28T01:00:00.000Z' }));
      await ix.upsertInstance(inst(c, { studyInstanceUid: s1, seriesInstanceUid: se[0], patientId: 'P_100', patientName: 'ZHANG^SAN', studyDate: '20261101', modality: 'US', receivedAt: '2026-11-28T01:00:01.000Z' }));
      await ix.upsertInstance(inst(c, { studyInstanceUid: s1, seriesInstanceUid: se[1], patientId: 'P_100', patientName: 'ZHANG^SAN', studyDate: '20261101', modality: 'SR', receivedAt: '2026-11-28T01:00:02.000Z' }));
      await ix.upsertInstance(inst(c, { studyInstanceUid: s2, patientId: 'PX100', patientName: '李四', studyDate: '20261115', modality: 'DX', accessionNumber: 'A%2', receivedAt: '2026-11-28T03:00:00.000Z' }));
      await ix.upsertInstance(inst(c, { studyInstanceUid: s3, patientId: 'Q9', patientName: '王五', studyDate: '20261130', modality: 'DX', receivedAt: '2026-11-28T02:00:00.000Z' }));
      const ids = async (q: Record<string, string>) => (await ix.searchStudies({ ClinicID: c, ...q })).map((s) => s.studyInstanceUid);
      t.same(await ids({}), [s2, s3, s1], 'newest received first');
      const first = (await ix.searchStudies({ ClinicID: c, StudyInstanceUID: s1 }))[0]!;
      t.same([first.series, first.instances, first.modalities, first.patientName, first.clinicId, first.lastReceivedAt], [2, 3, ['SR', 'US'], 'ZHANG^SAN', c, '2026-11-28T01:00:02.000Z'], 'aggregates, the last receipt');
      t.same((await ix.searchStudies({ ClinicID: c })).map((x) => x.lastReceivedAt), ['2026-11-28T03:00:00.000Z', '2026-11-28T02:00:00.000Z', '2026-11-28T01:00:02.000Z'], 'the recent-studies page carries it too');
      t.same(await ids({ PatientID: 'P_100' }), [s1], 'exact match; _ is literal');
      t.same(await ids({ PatientID: 'P?100' }), [s2, s1], '? matches one character');
      t.same(await ids({ '00100020': 'P*' }), [s2, s1], 'tag key + *');
      t.same(await ids({ PatientName: 'zhang*' }), [s1], 'names match regardless of case');
      t.same(await ids({ PatientName: '李*' }), [s2], 'Chinese wildcard');
      t.same(await ids({ AccessionNumber: 'A%*' }), [s2], '% is literal');
      t.same(await ids({ AccessionNumber: 'A*%' }), [], 'a trailing % is literal too');
      t.same(await ids({ AccessionNumber: 'B%*' }), []);
      t.same(await ids({ StudyDate: '20261110-20261130' }), [s2, s3], 'date range');
      t.same(await ids({ StudyDate: '-20261115' }), [s2, s1], 'open start');
      t.same(await ids({ StudyDate: '2026-11-30-' }), [s3], 'open end, ISO dates');
      t.same(await ids({ StudyDate: '20261101' }), [s1], 'single date');
      t.same(await ids({ ModalitiesInStudy: 'DX' }), [s2, s3], 'modality');
      t.same(await ids({ StudyInstanceUID: `${s1},${s3}` }), [s3, s1], 'UID list (comma)');
      t.same(await ids({ StudyInstanceUID: `${s1}\\${s2}` }), [s2, s1], 'UID list (backslash)');
      t.same(await ids({ limit: '1', offset: '1' }), [s3], 'paging');
      t.same(await ids({ PatientID: "x' OR '1'='1" }), [], 'values are parameters, never SQL');
      t.same(await ix.searchStudies({ ClinicID: clinic('none') }), [], 'another clinic: nothing');
    });

    tt.test('wildcard matching agrees with a reference matcher (generated values)', async (t) => {
      const c = clinic('fc');
      const alphabet = fc.constantFrom('a', 'B', '_', '%', '\\', '张', '1');
      const values = fc.uniqueArray(fc.string({ unit: alphabet, minLength: 1, maxLength: 5 }), { minLength: 1, maxLength: 6 });
      const patterns = fc.string({ unit: fc.constantFrom('a', 'b', '_', '%', '\\', '张', '1', '*', '?'), minLength: 1, maxLength: 5 }).filter((p) => /[*?]/.test(p));
      const rows = fc.sample(values, { numRuns: 1, seed: 7 })[0]!;
      const byId = new Map<string, string>();
      for (const v of rows) {
        const i = inst(c, { patientId: v });
        byId.set(i.studyInstanceUid, v);
        await ix.upsertInstance(i);
      }
      await fc.assert(fc.asyncProperty(patterns, async (p) => {
        const re = new RegExp(`^${[...p].map((ch) => (ch === '*' ? '.*' : ch === '?' ? '.' : ch.replace(/[\\^$.*+?()[\]{}|]/g, '\\$&'))).join('')}$`, 'is');
        const want = rows.filter((v) => re.test(v)).sort();
        const got = (await ix.searchStudies({ ClinicID: c, PatientID: p })).map((s) => byId.get(s.studyInstanceUid)!).sort();
        if (JSON.stringify(want) !== JSON.stringify(got)) throw new Error(`${p}: want ${JSON.stringify(want)} got ${JSON.stringify(got)}`);
      }), { numRuns: 60, seed: 11 });
      t.pass('same matches as the reference');
    });

    tt.test('recent studies (no filter, or ClinicID only) page as the full grouping orders them, through replacements (generated)', async (t) => {
      // A model of what was stored: per SOP the first sender's clinic, the study and the receipt time.
      type Op = { sop: number; clinic: number; study: number; sec: number };
      const op = fc.record({ sop: fc.integer({ min: 0, max: 14 }), clinic: fc.integer({ min: 0, max: 1 }), study: fc.integer({ min: 0, max: 5 }), sec: fc.integer({ min: 0, max: 40 }) });
      let run = 0;
      await fc.assert(fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 25 }), fc.integer({ min: 1, max: 4 }), async (ops: Op[], limit) => {
        const tag = `${++run}-${randomBytes(3).toString('hex')}`;
        const clinics = [clinic(`rc${tag}a`), clinic(`rc${tag}b`)];
        const studyUid = (n: number) => `2.25.9${tag.replace(/\D/g, '')}${run}.${n}`;
        const model = new Map<number, { clinic: string; study: string; at: string }>();
        for (const o of ops) {
          // Receipts far ahead of every other test's, so this run's studies head the unfiltered list.
          const at = new Date(Date.UTC(2099, 0, 1, 0, 0, o.sec)).toISOString();
          const prev = model.get(o.sop);
          model.set(o.sop, { clinic: prev?.clinic ?? clinics[o.clinic]!, study: studyUid(o.study), at });
          await ix.upsertInstance(inst(clinics[o.clinic]!, { sopInstanceUid: `${studyUid(99)}.${o.sop}`, studyInstanceUid: studyUid(o.study), receivedAt: at }));
        }
        const expected = (only: string | null) => {
          const last = new Map<string, { at: string; n: number }>();
          for (const m of model.values()) {
            if (only && m.clinic !== only) continue;
            const e = last.get(m.study);
            last.set(m.study, { at: !e || m.at > e.at ? m.at : e.at, n: (e?.n ?? 0) + 1 });
          }
          return [...last.entries()].sort((a, b) => (a[1].at === b[1].at ? (a[0] < b[0] ? -1 : 1) : a[1].at > b[1].at ? -1 : 1)).map(([u, e]) => `${u}:${e.n}`);
        };
        for (const c of clinics) {
          const want = expected(c);
          // Page by page: a study listed by the index but no longer holding instances would shorten a page.
          for (let off = 0; off < want.length + limit; off += limit) {
            const got = (await ix.searchStudies({ ClinicID: c, limit: String(limit), offset: String(off) })).map((s) => `${s.studyInstanceUid}:${s.instances}`);
            const page = want.slice(off, off + limit);
            if (JSON.stringify(got) !== JSON.stringify(page)) throw new Error(`clinic ${c}, offset ${off} limit ${limit}: got ${JSON.stringify(got)}, want ${JSON.stringify(page)} of ${JSON.stringify(want)}`);
          }
        }
        const mine = new Set(expected(null).map((x) => x.split(':')[0]));
        const all = (await ix.searchStudies({ limit: '1000' })).map((s) => `${s.studyInstanceUid}:${s.instances}`).filter((x) => mine.has(x.split(':')[0]!));
        if (JSON.stringify(all) !== JSON.stringify(expected(null))) throw new Error(`all clinics: got ${JSON.stringify(all)}, want ${JSON.stringify(expected(null))}`);
      }), { numRuns: 40, seed: 5 });
      t.pass('the recency index gives the pages the full grouping gives');
    });

    tt.test('series and instances: grouped, numeric order', async (t) => {
      const c = clinic('ser');
      const st = uid();
      const [a, b] = [uid(), uid()];
      for (const n of ['10', '2', '1']) await ix.upsertInstance(inst(c, { studyInstanceUid: st, seriesInstanceUid: a, seriesNumber: '2', instanceNumber: n }));
      await ix.upsertInstance(inst(c, { studyInstanceUid: st, seriesInstanceUid: b, seriesNumber: '10', instanceNumber: '1', modality: 'SR' }));
      const series = await ix.searchSeries({ StudyInstanceUID: st });
      t.same(series.map((s) => [s.seriesInstanceUid, s.seriesNumber, s.instances, s.modality, s.studyInstanceUid]), [[a, '2', 3, 'US', st], [b, '10', 1, 'SR', st]], 'series 2 before 10');
      const list = await ix.findInstances({ StudyInstanceUID: st });
      t.same(list.map((i) => [i.seriesNumber, i.instanceNumber]), [['2', '1'], ['2', '2'], ['2', '10'], ['10', '1']], 'instances by series then number');
      t.same((await ix.findInstances({ StudyInstanceUID: st, SeriesInstanceUID: b })).map((i) => i.seriesInstanceUid), [b]);
      const one = list[0]!;
      t.same((await ix.findInstances({ SOPInstanceUID: one.sopInstanceUid })).map((i) => i.sopInstanceUid), [one.sopInstanceUid]);
    });

    tt.test('reports: versions, rules, clinic pull by cursor', async (t) => {
      const c = clinic('rep');
      const other = clinic('rep-other');
      const [s1, s2, s3] = [uid(), uid(), uid()];
      await ix.upsertInstance(inst(c, { studyInstanceUid: s1 }));
      await ix.upsertInstance(inst(c, { studyInstanceUid: s2 }));
      await ix.upsertInstance(inst(other, { studyInstanceUid: s3 }));
      t.ok(await rejectsWith(ix.addReport(uid(), report('final', false)), 404), 'unknown study: 404');
      t.equal((await ix.addReport(s1, report('preliminary', false))).version, 1);
      const f = await ix.addReport(s1, report('final', true));
      t.same([f.version, f.status, f.positive, f.studyInstanceUid], [2, 'final', true, s1]);
      t.ok(await rejectsWith(ix.addReport(s1, report('preliminary', false)), 409), 'no preliminary after a final');
      t.ok(await rejectsWith(ix.addReport(s2, report('amended', true)), 409), 'no amendment without a final');
      await ix.addReport(s3, report('final', false));
      await ix.addReport(s2, report('final', false));
      await ix.addReport(s1, report('amended', false));
      const list = await ix.reports(s1);
      t.same(list.map((r) => [r.version, r.status, r.positive]), [[1, 'preliminary', false], [2, 'final', true], [3, 'amended', false]], 'all versions kept');
      t.match(list[0]!.reportedAt, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
      t.equal(list[0]!.findings, '肝脏形态大小正常');
      const pulled = await ix.reportsForClinic(c, 0, 100);
      t.same(pulled.map((r) => [r.studyInstanceUid, r.version]), [[s1, 1], [s1, 2], [s2, 1], [s1, 3]], 'own studies only, in commit order');
      t.ok(pulled.every((r, i) => i === 0 || r.cursor > pulled[i - 1]!.cursor), 'cursors increase');
      t.same((await ix.reportsForClinic(c, pulled[1]!.cursor, 1)).map((r) => [r.studyInstanceUid, r.version]), [[s2, 1]], 'after a cursor, limited');
      t.same((await ix.reportsForClinic(other, 0, 100)).map((r) => r.studyInstanceUid), [s3]);
    });

    tt.test('concurrent amendments of one study get distinct versions', async (t) => {
      const c = clinic('conc');
      const st = uid();
      await ix.upsertInstance(inst(c, { studyInstanceUid: st }));
      await ix.addReport(st, report('final', false));
      const rs = await Promise.all(Array.from({ length: 8 }, (_, i) => ix.addReport(st, report('amended', i % 2 === 0))));
      t.same(rs.map((r) => r.version).sort((a, b) => a - b), [2, 3, 4, 5, 6, 7, 8, 9]);
      const pulled = await ix.reportsForClinic(c, 0, 100);
      t.same(pulled.map((r) => r.version), [1, 2, 3, 4, 5, 6, 7, 8, 9], 'cursor order is version order');
    });

    tt.test('report activity: versions issued in a period with the study\'s clinic, first image and first final version', async (t) => {
      const c = clinic('ra');
      const first = new Date(Date.now() - 6 * 3_600_000).toISOString();
      const a = inst(c, { receivedAt: first });
      await ix.upsertInstance(a);
      await ix.upsertInstance(inst(c, { studyInstanceUid: a.studyInstanceUid, receivedAt: new Date(Date.now() - 3_600_000).toISOString() }));
      await ix.addReport(a.studyInstanceUid, report('preliminary', true));
      await ix.addReport(a.studyInstanceUid, report('final', true));
      await ix.addReport(a.studyInstanceUid, { ...report('amended', false), radiologist: '区医院 李医生' });
      const today = new Date(Date.now() + 8 * 3_600_000).toISOString().slice(0, 10);
      const mine = (await ix.reportActivity(today, today)).filter((r) => r.studyInstanceUid === a.studyInstanceUid);
      t.same(mine.map((r) => [r.version, r.status, r.positive, r.radiologist, r.clinicId, r.firstReceivedAt, r.firstFinalVersion]), [
        [1, 'preliminary', true, '区医院 王医生', c, first, 2],
        [2, 'final', true, '区医院 王医生', c, first, 2],
        [3, 'amended', false, '区医院 李医生', c, first, 2],
      ], 'each version, oldest first, with the study\'s first image and its first final version (2)');
      t.ok(mine.every((r) => Date.parse(r.reportedAt) >= Date.parse(first)), 'issue times as ISO timestamps');
      t.same((await ix.reportActivity('2026-01-01', '2026-01-02')).filter((r) => r.studyInstanceUid === a.studyInstanceUid), [], 'another period: none');
    });

    tt.test('workload: China day, clinic, device, modality; positive rate from the latest final report', async (t) => {
      const c = clinic('wl');
      const [s1, s2, s3, s4] = [uid(), uid(), uid(), uid()];
      // 16:30 UTC on the 27th is 00:30 on the 28th in China.
      await ix.upsertInstance(inst(c, { studyInstanceUid: s1, stationAe: 'US_ROOM1', modality: 'US', size: 100, receivedAt: '2026-11-27T16:30:00.000Z' }));
      await ix.upsertInstance(inst(c, { studyInstanceUid: s1, stationAe: 'US_ROOM1', modality: 'US', size: 200, receivedAt: '2026-11-27T16:31:00.000Z' }));
      await ix.upsertInstance(inst(c, { studyInstanceUid: s2, stationAe: 'US_ROOM1', modality: 'US', size: 300, receivedAt: '2026-11-28T15:59:59.000Z' }));
      await ix.upsertInstance(inst(c, { studyInstanceUid: s3, stationAe: null, modality: 'DX', size: 5, receivedAt: '2026-11-28T03:00:00.000Z' }));
      await ix.upsertInstance(inst(c, { studyInstanceUid: s4, stationAe: 'US_ROOM1', modality: 'US', size: 7, receivedAt: '2026-11-27T15:59:59.000Z' }));
      await ix.addReport(s1, report('final', true));
      await ix.addReport(s1, report('amended', true));
      await ix.addReport(s2, report('preliminary', true));
      const rows = await ix.workload('2026-11-28', '2026-11-28', c);
      t.same(rows.map((r) => [r.day, r.clinicId, r.stationAe, r.modality, r.studies, r.instances, r.bytes, r.reported, r.positive, r.positiveRate]), [
        ['2026-11-28', c, '', 'DX', 1, 1, 5, 0, 0, null],
        ['2026-11-28', c, 'US_ROOM1', 'US', 2, 3, 600, 1, 1, 1],
      ], 'a preliminary report is not counted; unreported groups have no rate');
      t.same((await ix.workload('2026-11-27', '2026-11-27', c)).map((r) => [r.day, r.studies, r.bytes]), [['2026-11-27', 1, 7]], 'the day before (China time)');
      await ix.addReport(s2, report('final', false));
      const after = (await ix.workload('2026-11-28', '2026-11-28', c)).find((r) => r.modality === 'US')!;
      t.same([after.reported, after.positive, after.positiveRate], [2, 1, 0.5]);
      t.ok((await ix.workload('2026-11-28', '2026-11-28')).some((r) => r.clinicId === c), 'all clinics without the filter');
      t.same(await ix.workload('2026-11-28', '2026-11-28', clinic('none')), []);
    });

    tt.test('workload of all clinics (one query per clinic): the same rows as a model of generated instances, in day, clinic, device, modality order', async (t) => {
      await fc.assert(fc.asyncProperty(
        fc.array(fc.record({ clinic: fc.integer({ min: 0, max: 2 }), study: fc.integer({ min: 0, max: 4 }), minute: fc.integer({ min: 0, max: 3 * 24 * 60 - 1 }), ae: fc.constantFrom('US_ROOM1', 'DR_ROOM', null), size: fc.integer({ min: 1, max: 1000 }) }), { minLength: 1, maxLength: 25 }),
        async (gen) => {
          const clinics = [clinic('wa'), clinic('wb'), clinic('wc')];
          const studies = clinics.map(() => Array.from({ length: 5 }, () => uid()));
          const model = new Map<string, { studies: Set<string>; instances: number; bytes: number }>();
          for (const g of gen) {
            // Minutes from 2026-11-26T16:00Z (00:00 on the 27th in China) over three China days.
            const at = new Date(Date.parse('2026-11-26T16:00:00.000Z') + g.minute * 60_000);
            const day = new Date(at.getTime() + 8 * 3600_000).toISOString().slice(0, 10);
            const modality = g.ae === 'DR_ROOM' ? 'DX' : 'US';
            const st = studies[g.clinic]![g.study]!;
            await ix.upsertInstance(inst(clinics[g.clinic]!, { studyInstanceUid: st, stationAe: g.ae, modality, size: g.size, receivedAt: at.toISOString() }));
            const k = [day, clinics[g.clinic], g.ae ?? '', modality].join('|');
            const m = model.get(k) ?? { studies: new Set(), instances: 0, bytes: 0 };
            m.studies.add(st); m.instances++; m.bytes += g.size;
            model.set(k, m);
          }
          const all = await ix.workload('2026-11-27', '2026-11-29');
          const tuple = (r: (typeof all)[number]) => [r.day, r.clinicId, r.stationAe, r.modality];
          const before = (a: string[], b: string[]) => { for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i]! < b[i]!; return false; };
          for (let i = 1; i < all.length; i++) if (before(tuple(all[i]!), tuple(all[i - 1]!))) throw new Error(`rows not in day, clinic, device, modality order at ${i}: ${tuple(all[i - 1]!)} then ${tuple(all[i]!)}`);
          const mine = all.filter((r) => clinics.includes(r.clinicId)).map((r) => [[r.day, r.clinicId, r.stationAe, r.modality].join('|'), r.studies, r.instances, r.bytes]);
          const want = [...model].map(([k, m]) => [k, m.studies.size, m.instances, m.bytes]).sort((a, b) => (before(String(a[0]).split('|'), String(b[0]).split('|')) ? -1 : 1));
          if (JSON.stringify(mine) !== JSON.stringify(want)) throw new Error(`workload ${JSON.stringify(mine)} differs from the model ${JSON.stringify(want)}`);
        },
      ), { numRuns: 12 });
      t.pass('12 generated histories over three clinics and three China days');
    });
  });
}
