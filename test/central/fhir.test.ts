/**
 * The FHIR R4 facade over both warehouse backends: records go in through the ingest, resources
 * come out through HTTP, and every resource fetched validates against R4.
 */
import { Hono } from 'hono';
import t from 'tap';
import { ReadPool, SID, fhirApi, fhirStoreFor } from '../../central/fhir/index.ts';
import { readerSourceOf } from '../../central/fhir/store.ts';
import type { Resource } from '../../central/fhir/map.ts';
import type { AuditEntry, IngestItem, Warehouse } from '../../central/warehouse/types.ts';
import { formatHlc, makeResidentId, recordTypes, type RecordType } from '../../contracts/index.ts';
import { validateR4 } from './fhir-validate.ts';
import { openImagingIndex } from '../../central/imaging/index.ts';
import { inst } from '../../central/imaging/index-contract.ts';
import { postgresTestWarehouse, sqliteTestWarehouse } from './postgres.ts';

const TOKEN = 'fhir-test-token-0123456789';
const CLINIC = 'fhir-clinic-1';

let seq = 0;
function item<T extends RecordType>(type: T, recordId: string, payload: unknown, version = 1): IngestItem {
  seq++;
  const p = recordTypes[type].parse(payload);
  return { kind: 'record', type, payload: p, hash: `h${seq}`, raw: '',
    envelope: { recordId, type, clinicId: CLINIC, seq, version, hlc: formatHlc({ ms: 1_750_000_000_000 + seq, counter: 0, node: CLINIC }), schemaVersion: 1, createdAt: new Date().toISOString(), payload: p } };
}

const idA = makeResidentId('110101', new Date(Date.UTC(1956, 2, 7)), 13);
const idB = makeResidentId('110101', new Date(Date.UTC(1990, 10, 1)), 22);

async function seed(wh: Warehouse): Promise<void> {
  seq = 0;
  const at = '2026-03-01T08:00:00+08:00';
  const r = await wh.ingest([
    item('resident', 'res-a', { residentId: 'res-a', name: '王秀英', sex: '2', birthDate: '1956-03-07', idType: '01', idNumber: idA, ethnicity: '01', maritalStatus: '20', phone: '13800000000', address: '北京市东城区', insuranceCardNo: 'INS-001', healthCardId: 'EHC-AAA' }),
    item('resident', 'res-b', { residentId: 'res-b', name: '李强', sex: '1', birthDate: '1990-11-01', idType: '01', idNumber: idB }),
    item('encounter', 'enc-1', { encounterId: 'enc-1', residentId: 'res-a', class: 'followup', status: 'finished', departmentCode: 'GP', doctorCode: 'D001', registeredAt: at, diagnoses: [{ code: 'I10.x00', name: '高血压', primary: true }] }),
    item('encounter', 'enc-2', { encounterId: 'enc-2', residentId: 'res-b', class: 'outpatient', status: 'registered', departmentCode: 'GP', registeredAt: at }),
    item('observation', 'obs-sys', { observationId: 'obs-sys', residentId: 'res-a', code: '8480-6', display: '收缩压', value: 150, unit: 'mm[Hg]', effectiveAt: at, deviceId: 'bp-1', interpretation: 'H' }),
    item('observation', 'obs-dia', { observationId: 'obs-dia', residentId: 'res-a', code: '8462-4', display: '舒张压', value: 92, unit: 'mm[Hg]', effectiveAt: at, deviceId: 'bp-1', interpretation: 'H' }),
    item('observation', 'obs-local', { observationId: 'obs-local', residentId: 'res-b', code: 'LOCAL-1', display: '脉搏', value: 72, unit: '次/分', effectiveAt: at, implausible: true }),
    item('lab_result', 'lab-k', { resultId: 'lab-k', residentId: 'res-a', specimenId: 'S-001', testCode: '2823-3', testName: '血钾', value: '6.4', unit: 'mmol/L', referenceRange: '3.5-5.3', flag: 'HH', status: 'final', resultedAt: at, analyserId: 'chem-1' }),
    item('lab_result', 'lab-urine', { resultId: 'lab-urine', residentId: 'res-a', specimenId: 'S-002', testCode: 'U-PRO', testName: '尿蛋白', value: '++', status: 'preliminary', resultedAt: at }),
    item('imaging_study', '1.2.840.113619.2.1.1', { studyInstanceUid: '1.2.840.113619.2.1.1', residentId: 'res-b', accessionNumber: 'ACC0001', modality: 'US', studyDate: '20260301', description: '腹部超声', seriesCount: 1, instanceCount: 12, stationAe: 'US1' }),
    item('imaging_study', '1.2.840.113619.2.1.2', { studyInstanceUid: '1.2.840.113619.2.1.2', modality: 'DX', seriesCount: 1, instanceCount: 1 }),
    // A correction: version 2 of the systolic reading replaces version 1.
    item('observation', 'obs-sys', { observationId: 'obs-sys', residentId: 'res-a', code: '8480-6', display: '收缩压', value: 148, unit: 'mm[Hg]', effectiveAt: at, deviceId: 'bp-1', interpretation: 'H' }, 2),
  ]);
  if (!r.outcomes.every((o) => o === 'applied')) throw new Error(`seed not applied: ${r.outcomes.join(',')}`);
}

/** `threads`: reads and searches answered by reader threads on their own connections (as central runs them). */
function suite(name: string, make: () => Promise<{ wh: Warehouse; cleanup: () => Promise<void> }>, threads = false) {
  t.test(`FHIR facade on ${name}${threads ? ' (reader threads)' : ''}`, async (t) => {
    const { wh, cleanup } = await make();
    const store = fhirStoreFor(wh);
    const readers = threads ? new ReadPool(readerSourceOf(wh)!, 2, store, (e) => t.fail(`reader thread lost: ${e.message}`)) : undefined;
    t.teardown(async () => { await readers?.close(); await cleanup(); });
    await seed(wh);
    // The image index in the same database (central/imaging), with a radiologist's report on res-b's
    // ultrasound study: served as a radiology DiagnosticReport.
    const images = openImagingIndex(wh);
    await images.ready();
    await images.upsertInstance(inst(CLINIC, { studyInstanceUid: '1.2.840.113619.2.1.1', patientId: 'res-b' }));
    await images.addReport('1.2.840.113619.2.1.1', { status: 'preliminary', findings: '肝脏回声增强', impression: '脂肪肝？', positive: true, radiologist: '区医院 王医生' });
    await images.addReport('1.2.840.113619.2.1.1', { status: 'final', findings: '肝脏体积稍大，实质回声细密增强，后方回声衰减。', impression: '脂肪肝（轻度）', positive: true, radiologist: '区医院 王医生' });
    const audits: AuditEntry[] = [];
    const app = new Hono().route('/fhir', fhirApi({ store, readers, token: TOKEN, audit: async (e) => { audits.push(e); await wh.audit(e); } }));
    const get = async (path: string, auth = true) => {
      const res = await app.request(`http://central.test/fhir/${path}`, { headers: auth ? { authorization: `Bearer ${TOKEN}` } : {} });
      const body = (await res.json()) as Resource;
      validateR4(body);
      return { status: res.status, type: res.headers.get('content-type'), body };
    };
    const entries = (b: Resource, mode = 'match') => (b.entry as { resource: Resource; search: { mode: string } }[]).filter((e) => e.search.mode === mode).map((e) => e.resource);

    t.test('radiology reports: the current version of a district radiologist\'s report on an imaging study, as a DiagnosticReport', async (t) => {
      const uid = '1.2.840.113619.2.1.1';
      const r = await get(`DiagnosticReport?patient=res-b&code=18748-4`);
      t.equal(r.status, 200);
      const [rad] = entries(r.body);
      t.match(rad, { resourceType: 'DiagnosticReport', id: uid, status: 'final', meta: { versionId: '2' }, category: [{ coding: [{ code: 'RAD' }] }], code: { coding: [{ system: 'http://loinc.org', code: '18748-4' }], text: '腹部超声' },
        subject: { reference: 'Patient/res-b' }, effectiveDateTime: '2026-03-01', imagingStudy: [{ reference: `ImagingStudy/${uid}` }], conclusion: '脂肪肝（轻度）', performer: [{ display: '区医院 王医生' }] });
      t.equal(entries(r.body).length, 1, 'one radiology report for res-b (the study without a report has none)');
      t.match(Buffer.from((rad!.presentedForm as { data: string }[])[0]!.data, 'base64').toString('utf8'), /检查所见：肝脏体积稍大[\s\S]*诊断意见：脂肪肝（轻度）/);
      t.same([(await get(`DiagnosticReport/${uid}`)).body.id, (await get(`DiagnosticReport/${uid}`)).body.status], [uid, 'final'], 'read by the ImagingStudy\'s id');
      t.equal((await get('DiagnosticReport?patient=res-b&status=preliminary')).body.total, 0, 'the current version\'s status only');
      t.equal((await get(`DiagnosticReport?_id=${uid}`)).body.total, 1, 'by _id without a patient');
      t.equal((await get('DiagnosticReport/1.2.840.113619.2.1.2')).status, 404, 'a study without a report: none');
    });

    t.test('CapabilityStatement at /fhir/metadata', async (t) => {
      const r = await get('metadata', false);
      t.equal(r.status, 200);
      t.match(r.type, /^application\/fhir\+json/);
      t.match(r.body, { resourceType: 'CapabilityStatement', fhirVersion: '4.0.1', kind: 'instance' });
      const types = (r.body.rest as { resource: { type: string }[] }[])[0]!.resource.map((x) => x.type);
      t.same(types, ['Patient', 'Encounter', 'Condition', 'Observation', 'ImagingStudy', 'MedicationRequest', 'DiagnosticReport', 'Organization', 'Practitioner', 'Device']);
    });

    t.test('no token: 401 OperationOutcome, audited', async (t) => {
      const before = audits.length;
      const r = await get('Patient/res-a', false);
      t.equal(r.status, 401);
      t.match(r.body, { resourceType: 'OperationOutcome', issue: [{ code: 'login' }] });
      t.match(audits.slice(before), [{ actor: 'anonymous', outcome: 'denied' }]);
    });

    t.test('Patient read and search by identifier', async (t) => {
      const before = audits.length;
      const r = await get('Patient/res-a');
      t.equal(r.status, 200);
      t.match(r.body, { resourceType: 'Patient', id: 'res-a', gender: 'female', birthDate: '1956-03-07', name: [{ text: '王秀英' }] });
      t.ok((r.body.identifier as { system: string; value: string }[]).some((i) => i.system === SID.idCard && i.value === idA), 'ID card identifier with its system');
      t.match(audits.slice(before), [{ actor: 'api-token', action: 'fhir.read', target: 'Patient/res-a', outcome: 'ok' }], 'the read is audited');
      for (const q of [`identifier=${encodeURIComponent(`${SID.idCard}|${idA}`)}`, `identifier=${idA}`, `identifier=${encodeURIComponent(`${SID.insuranceCard}|INS-001`)}`, `identifier=${encodeURIComponent(`${SID.healthCard}|EHC-AAA`)}`]) {
        const s = await get(`Patient?${q}`);
        t.same(entries(s.body).map((p) => p.id), ['res-a'], q);
        t.equal(s.body.total, 1);
      }
      t.equal((await get(`Patient?identifier=${encodeURIComponent(`http://other.example|${idA}`)}`)).body.total, 0, 'another system does not match');
      t.same(entries((await get(`Patient?name=${encodeURIComponent('李')}`)).body).map((p) => p.id), ['res-b'], 'name: start of the name');
      t.equal((await get(`Patient?name=${encodeURIComponent('强')}`)).body.total, 0, 'name: the middle of a name is not its start');
      t.same(entries((await get(`Patient?name:contains=${encodeURIComponent('强')}`)).body).map((p) => p.id), ['res-b'], 'name:contains matches any part');
      t.same(entries((await get(`Patient?name=${encodeURIComponent('王秀英')}`)).body).map((p) => p.id), ['res-a'], 'name: the whole name');
      t.equal((await get(`Patient?name=${encodeURIComponent('王秀英子')}`)).body.total, 0, 'name: longer than the name');
      t.same(entries((await get('Patient?gender=male&birthdate=1990-11-01')).body).map((p) => p.id), ['res-b'], 'gender + birthdate');
    });

    t.test('Encounter and Observation by patient, with _include and code', async (t) => {
      const enc = await get('Encounter?patient=Patient/res-a&_include=Encounter:patient');
      t.same(entries(enc.body).map((e) => e.id), ['enc-1']);
      t.same(entries(enc.body, 'include').map((p) => p.id), ['res-a'], 'the patient included');
      t.match(entries(enc.body)[0], { status: 'finished', class: { code: 'AMB' }, subject: { reference: 'Patient/res-a' } });
      const reg = await get('Encounter/enc-2');
      t.match(reg.body, { status: 'arrived' });
      const obs = await get(`Observation?subject=Patient/res-a&code=${encodeURIComponent('http://loinc.org|8480-6')}`);
      t.equal(obs.body.total, 1, 'the correction replaced version 1');
      t.match(entries(obs.body)[0], { id: 'obs-sys', meta: { versionId: '2' }, valueQuantity: { value: 148, code: 'mm[Hg]' }, category: [{ coding: [{ code: 'vital-signs' }] }] });
      const local = await get('Observation/obs-local');
      t.match(local.body, { status: 'preliminary', valueQuantity: { value: 72, unit: '次/分' } });
      t.notOk((local.body.valueQuantity as { system?: string }).system, 'a non-UCUM unit is not claimed as UCUM');
      const k = await get(`Observation?patient=res-a&code=${encodeURIComponent('http://loinc.org|2823-3')}`);
      t.match(entries(k.body), [{ id: 'lab-k', status: 'final', category: [{ coding: [{ code: 'laboratory' }] }], valueQuantity: { value: 6.4, code: 'mmol/L' }, interpretation: [{ coding: [{ code: 'HH' }] }], referenceRange: [{ text: '3.5-5.3' }] }], 'lab results are laboratory Observations');
      t.match((await get('Observation/lab-urine')).body, { status: 'preliminary', valueString: '++' });
      t.equal((await get('Observation?patient=res-a')).body.total, 4, 'device readings and lab results of the patient');
    });

    t.test('Condition from encounter diagnoses', async (t) => {
      const s = await get('Condition?patient=res-a&_include=Condition:patient');
      t.match(entries(s.body), [{ id: 'enc-1-dx0', code: { coding: [{ code: 'I10.x00', display: '高血压' }] }, subject: { reference: 'Patient/res-a' }, encounter: { reference: 'Encounter/enc-1' }, category: [{ coding: [{ code: 'encounter-diagnosis' }] }] }]);
      t.same(entries(s.body, 'include').map((p) => p.id), ['res-a']);
      t.equal((await get('Condition/enc-1-dx0')).status, 200);
      t.equal((await get('Condition/enc-1-dx5')).status, 404);
      t.equal((await get('Condition?patient=res-b')).body.total, 0, 'an encounter without diagnoses has no Condition');
      t.equal((await get('Condition?patient=res-a&code=I10.x00')).body.total, 1);
      t.match((await get('Condition?code=I10.x00')).body, { resourceType: 'OperationOutcome', issue: [{ code: 'too-costly' }] }, 'a district-wide diagnosis query is not a FHIR search');
    });

    t.test('ImagingStudy from the imaging index', async (t) => {
      const s = await get('ImagingStudy?patient=Patient/res-b&_include=ImagingStudy:patient');
      t.match(entries(s.body), [{ id: '1.2.840.113619.2.1.1', status: 'available', modality: [{ code: 'US' }], started: '2026-03-01', numberOfInstances: 12 }]);
      t.same(entries(s.body, 'include').map((p) => p.id), ['res-b']);
      t.match((await get('ImagingStudy/1.2.840.113619.2.1.2')).body, { subject: { display: 'not yet matched to a resident' } }, 'an unmatched study is still valid R4');
    });

    t.test('date search compares instants, not text', async (t) => {
      // Every seeded reading is at 2026-03-01T08:00:00+08:00 = 2026-03-01T00:00:00Z.
      const n = async (q: string) => (await get(`Observation?${q}`)).body.total;
      t.equal(await n('date=2026-03-01'), 5, 'the local day');
      t.equal(await n('date=2026-02-28'), 0);
      t.equal(await n(`date=${encodeURIComponent('lt2026-03-01T00:00:01Z')}`), 5, 'one second later in UTC');
      t.equal(await n(`date=${encodeURIComponent('gt2026-03-01T00:00:00Z')}`), 0);
      t.equal(await n(`date=ge2026-03-01&date=lt2026-03-02&patient=res-b`), 1, 'a range, with other parameters');
      t.equal((await get('Encounter?date=le2026-03-01')).body.total, 2);
    });

    t.test('paging links', async (t) => {
      const p1 = await get('Observation?_count=1');
      t.equal(p1.body.total, 5);
      const next = (p1.body.link as { relation: string; url: string }[]).find((l) => l.relation === 'next')!;
      t.ok(next, 'a next link');
      const p2 = await get(next.url.replace('http://central.test/fhir/', ''));
      t.not(entries(p2.body)[0]!.id, entries(p1.body)[0]!.id, 'the next page holds the next resource');
      t.equal((await get('Observation?_count=0')).body.total, 5, '_count=0 gives the total only');
    });

    t.test('totals: from a short page, counted for a full page or past the end', async (t) => {
      for (const [q, total, n] of [['Observation?_count=10', 5, 5], ['Observation?_count=5', 5, 5], ['Observation?_count=2&_offset=4', 5, 1],
        ['Observation?_count=2&_offset=9', 5, 0], ['Observation?_count=3&_offset=2', 5, 3], ['Patient?_count=1', 2, 1], ['Patient?_count=5&_offset=5', 2, 0],
        ['Observation?patient=nobody', 0, 0]] as const) {
        const b = (await get(q)).body;
        t.equal(b.total, total, `${q}: total`);
        t.equal(entries(b).length, n, `${q}: entries`);
      }
    });

    t.test('no audit, no data: a failing audit log withholds the resource', async (t) => {
      const failing = new Hono().route('/fhir', fhirApi({ store, readers, token: TOKEN, audit: async () => { throw new Error('audit disk full'); } }));
      const res = await failing.request('http://central.test/fhir/Patient/res-a', { headers: { authorization: `Bearer ${TOKEN}` } });
      t.equal(res.status, 500);
      const body = (await res.json()) as Resource;
      validateR4(body);
      t.match(body, { resourceType: 'OperationOutcome', issue: [{ code: 'exception' }] });
      t.notMatch(JSON.stringify(body), /王秀英/, 'no personal data in the answer');
    });

    t.test('bad input: OperationOutcome with a clear status, nothing leaks', async (t) => {
      const cases: [string, number, string][] = [
        ['Patient?foo=bar', 400, 'not-supported'],
        ['Patient?_count=100000', 400, 'invalid'],
        ['Patient?_count=-1', 400, 'invalid'],
        ['Patient?birthdate=gt1990-01-01', 400, 'not-supported'],
        ['Patient?date=2026-01-01', 400, 'not-supported'],
        ['Observation?date=yesterday', 400, 'invalid'],
        ['Observation?date=2026-13-45', 400, 'invalid'],
        ['Patient?name=a&name=b', 400, 'not-supported'],
        ['Encounter?_include=Encounter:practitioner', 400, 'not-supported'],
        ['Encounter?patient=' + encodeURIComponent("x' OR 1=1"), 400, 'invalid'],
        ['Location/1', 404, 'not-supported'],
        ['Organization/1', 404, 'not-found'],
        ['ImagingStudy?date=2026-03-01', 400, 'not-supported'],
        ['Patient/nobody', 404, 'not-found'],
        ['Patient/' + encodeURIComponent('a b'), 400, 'invalid'],
      ];
      for (const [path, status, code] of cases) {
        const r = await get(path);
        t.equal(r.status, status, path);
        t.match(r.body, { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code }] }, path);
      }
      for (const inj of ["' OR '1'='1", "x%' OR 1=1 --", '%', '_']) {
        t.equal((await get(`Patient?name=${encodeURIComponent(inj)}`)).body.total, 0, `name ${inj} matches nothing`);
        t.equal((await get(`Patient?identifier=${encodeURIComponent(inj)}`)).body.total, 0, `identifier ${inj} matches nothing`);
      }
      const post = await app.request('http://central.test/fhir/Patient', { method: 'POST', headers: { authorization: `Bearer ${TOKEN}` }, body: '{}' });
      t.equal(post.status, 405);
      validateR4((await post.json()) as Resource);
      t.equal(await wh.countRecords(), 12, 'nothing written by reads');
    });

    t.test('Observation and Encounter _sort=date / -date', async (t) => {
      // Runs last: the readings it adds would change the totals the other subtests count.
      const times = ['2026-03-02T09:00:00+08:00', '2026-01-15T10:30:00+08:00', '2026-02-20T07:45:00Z'];
      const r = await wh.ingest(times.map((at, i) => item('observation', `obs-sort-${i}`, { observationId: `obs-sort-${i}`, residentId: 'res-sort', code: 'SORT-1', display: '排序', value: i, unit: 'x', effectiveAt: at })));
      t.ok(r.outcomes.every((o) => o === 'applied'));
      const ids = async (q: string) => entries((await get(q)).body).map((e) => e.id);
      t.same(await ids('Observation?patient=res-sort&_sort=-date'), ['obs-sort-0', 'obs-sort-2', 'obs-sort-1'], 'latest first (instants compared across zones)');
      t.same(await ids('Observation?patient=res-sort&_sort=date'), ['obs-sort-1', 'obs-sort-2', 'obs-sort-0'], 'earliest first');
      t.same(await ids('Observation?patient=res-sort&code=SORT-1&_sort=-date&_count=2'), ['obs-sort-0', 'obs-sort-2'], 'with code and _count');
      t.same(await ids('Observation?patient=res-sort&_sort=-date&_count=2&_offset=2'), ['obs-sort-1'], 'paged');
      t.same(await ids('Encounter?patient=res-a&_sort=-date'), ['enc-1']);
      t.match((await get('Observation?patient=res-sort&_sort=code')).body, { resourceType: 'OperationOutcome', issue: [{ code: 'not-supported', expression: ['_sort'] }] }, 'only date is sortable');
      t.equal((await get('Patient?_sort=date')).status, 400, 'Patient has no _sort');
    });

    if (readers) {
      t.test('answered by the reader threads', async (t) => {
        t.equal(readers.size, 2, 'both threads alive');
        t.ok(readers.stats.threaded > 50, `${readers.stats.threaded} answers from reader threads`);
        t.equal(readers.stats.failures, 0);
      });
    }
  });
}

suite('sqlite', () => sqliteTestWarehouse('fhir-'));

suite('postgres', () => postgresTestWarehouse('wh_fhir'));

// The same facade with reads and searches on reader threads (their own SQLite / PostgreSQL connections).
suite('sqlite', () => sqliteTestWarehouse('fhir-'), true);

suite('postgres', () => postgresTestWarehouse('wh_fhir'), true);
