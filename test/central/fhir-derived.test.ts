/**
 * MedicationRequest (prescription lines) and DiagnosticReport (lab results by order or
 * specimen) on both warehouse backends; every response validates against R4.
 */
import { Hono } from 'hono';
import t from 'tap';
import { fhirApi, fhirStoreFor } from '../../central/fhir/index.ts';
import type { Resource } from '../../central/fhir/map.ts';
import { CS } from '../../central/fhir/systems.ts';
import type { IngestItem, Warehouse } from '../../central/warehouse/types.ts';
import { formatHlc, makeResidentId, recordTypes, type RecordType } from '../../contracts/index.ts';
import { validateR4 } from './fhir-validate.ts';
import { postgresTestWarehouse, sqliteTestWarehouse } from './postgres.ts';

const TOKEN = 'fhir-derived-token-0123456789';

let seq = 0;
const seqs = new Map<string, number>();
function item<T extends RecordType>(type: T, recordId: string, payload: unknown, clinicId = 'clinic-d1', version = 1): IngestItem {
  seq++;
  const cseq = (seqs.get(clinicId) ?? 0) + 1;
  seqs.set(clinicId, cseq);
  const p = recordTypes[type].parse(payload);
  return { kind: 'record', type, payload: p, hash: `h${seq}`, raw: '',
    envelope: { recordId, type, clinicId, seq: cseq, version, hlc: formatHlc({ ms: 1_750_000_000_000 + seq, counter: 0, node: clinicId }), schemaVersion: 1, createdAt: new Date().toISOString(), payload: p } };
}

const line = (lineNo: number, drugCode: string, drugName: string) => ({ lineNo, drugCode, drugName, spec: '5mg*28片', dose: 5, doseUnit: 'mg', frequency: 'qd', route: 'po', days: 28, quantity: 1, unit: '盒', volumeProcurement: true });
const lab = (resultId: string, specimenId: string, testCode: string, status: string, orderId?: string, residentId = 'res-a') =>
  ({ resultId, residentId, specimenId, orderId, testCode, testName: testCode, value: '5.1', unit: 'mmol/L', status, resultedAt: '2026-03-02T09:00:00+08:00' });

async function seed(wh: Warehouse): Promise<void> {
  seq = 0;
  seqs.clear();
  const r = await wh.ingest([
    item('resident', 'res-a', { residentId: 'res-a', name: '王秀英', sex: '2', birthDate: '1956-03-07', idType: '01', idNumber: makeResidentId('110101', new Date(Date.UTC(1956, 2, 7)), 13) }),
    item('prescription', 'rx-1', { prescriptionId: 'rx-1', encounterId: 'enc-1', residentId: 'res-a', prescriber: 'doc1', issuedAt: '2026-03-01T08:30:00+08:00', status: 'active', items: [line(1, '86900001', '氨氯地平片'), line(2, '86900002', '二甲双胍片')] }),
    item('prescription', 'rx-2', { prescriptionId: 'rx-2', encounterId: 'enc-2', residentId: 'res-a', prescriber: 'doc1', issuedAt: '2026-04-01T08:30:00+08:00', status: 'cancelled', items: [line(1, '86900001', '氨氯地平片')] }),
    item('lab_result', 'lab-1', lab('lab-1', 'S-1', '2823-3', 'final', 'ord-1')),
    item('lab_result', 'lab-2', lab('lab-2', 'S-1', '2951-2', 'final', 'ord-1')),
    item('lab_result', 'lab-3', lab('lab-3', 'S-2', 'U-PRO', 'preliminary')),
    item('observation', 'obs-1', { observationId: 'obs-1', residentId: 'res-a', code: '8480-6', display: '收缩压', value: 150, unit: 'mm[Hg]', effectiveAt: '2026-03-01T08:00:00+08:00', deviceId: 'bp-1' }),
    item('lab_result', 'lab-4', lab('lab-4', 'S-9', 'GLU', 'final', 'ord-9', 'res-b'), 'clinic-d2'),
  ]);
  await wh.saveDictionary('staff', [{ code: 'doc1', name: '张医生', attrs: { role: 'doctor' }, active: true }, { code: 'nurse1', name: '李护士', attrs: {}, active: false }]);
  if (!r.outcomes.every((o) => o === 'applied')) throw new Error(`seed not applied: ${r.outcomes.join(',')}`);
}

function suite(name: string, make: () => Promise<{ wh: Warehouse; cleanup: () => Promise<void> }>) {
  t.test(`FHIR MedicationRequest and DiagnosticReport on ${name}`, async (t) => {
    const { wh, cleanup } = await make();
    t.teardown(cleanup);
    await seed(wh);
    const app = new Hono().route('/fhir', fhirApi({ store: fhirStoreFor(wh), token: TOKEN, audit: async (e) => { await wh.audit(e); } }));
    const get = async (path: string) => {
      const res = await app.request(`http://central.test/fhir/${path}`, { headers: { authorization: `Bearer ${TOKEN}` } });
      const body = (await res.json()) as Resource;
      validateR4(body);
      return { status: res.status, body };
    };
    const ids = (b: Resource, mode = 'match') => ((b.entry ?? []) as { resource: Resource; search: { mode: string } }[]).filter((e) => e.search.mode === mode).map((e) => `${e.resource.resourceType}/${e.resource.id}`);

    t.test('CapabilityStatement lists both', async (t) => {
      const r = await get('metadata');
      const res = (r.body.rest as { resource: { type: string; interaction: { code: string }[] }[] }[])[0]!.resource;
      t.ok(res.find((x) => x.type === 'MedicationRequest'));
      t.notOk(res.find((x) => x.type === 'DiagnosticReport')!.interaction.some((i) => i.code === 'vread'));
    });

    t.test('MedicationRequest: one per prescription line', async (t) => {
      const r = await get('MedicationRequest/rx-1-l2');
      t.equal(r.status, 200);
      t.match(r.body, { resourceType: 'MedicationRequest', status: 'active', intent: 'order', subject: { reference: 'Patient/res-a' }, encounter: { reference: 'Encounter/enc-1' },
        medicationCodeableConcept: { coding: [{ system: CS.cnDrug, code: '86900002' }] }, groupIdentifier: { value: 'rx-1' }, meta: { versionId: '1' } });
      t.equal((await get('MedicationRequest/rx-1-l7')).status, 404);
      t.equal((await get('MedicationRequest/rx-1-l1/_history/1')).status, 200);
      const s = await get('MedicationRequest?patient=res-a&_include=MedicationRequest:patient');
      t.equal(s.body.total, 3);
      t.same(ids(s.body, 'include'), ['Patient/res-a']);
      t.equal((await get('MedicationRequest?subject=Patient/res-a&status=cancelled')).body.total, 1);
      t.equal((await get(`MedicationRequest?patient=res-a&code=${encodeURIComponent(`${CS.cnDrug}|86900001`)}`)).body.total, 2);
      t.equal((await get(`MedicationRequest?patient=res-a&code=${encodeURIComponent('http://loinc.org|86900001')}`)).body.total, 0, 'another code system matches nothing');
      t.equal((await get('MedicationRequest?patient=res-a&authoredon=2026-03-01')).body.total, 2);
      t.equal((await get('MedicationRequest?patient=res-a&authoredon=ge2026-03-02')).body.total, 1);
      const p = await get('MedicationRequest?patient=res-a&_count=2');
      t.equal(ids(p.body).length, 2);
      t.ok((p.body.link as { relation: string }[]).some((l) => l.relation === 'next'));
      t.match((await get('MedicationRequest?code=86900001')).body, { resourceType: 'OperationOutcome', issue: [{ code: 'too-costly' }] });
    });

    t.test('Organization, Practitioner, Device', async (t) => {
      t.same(ids((await get('Organization')).body), ['Organization/clinic-d1', 'Organization/clinic-d2']);
      t.match((await get('Organization/clinic-d2')).body, { resourceType: 'Organization', name: 'clinic-d2' });
      t.equal((await get('Organization/nowhere')).status, 404);
      t.match((await get('Practitioner/doc1')).body, { resourceType: 'Practitioner', active: true, name: [{ text: '张医生' }] });
      t.same(ids((await get('Practitioner?name=护士')).body), ['Practitioner/nurse1']);
      t.equal((await get('Practitioner?name=text')).body.total, 0);
      t.equal((await get(`Practitioner?identifier=${encodeURIComponent('http://district-health.cn/fhir/sid/staff|doc1')}`)).body.total, 1);
      t.same(ids((await get('Device')).body), ['Device/clinic-d1.bp-1']);
      t.match((await get('Device/clinic-d1.bp-1')).body, { owner: { reference: 'Organization/clinic-d1' } });
      t.equal((await get('Device?identifier=bp-1&_count=0')).body.total, 1);
      t.equal((await get('Device/clinic-d1.bp-1/_history/1')).status, 404);
    });

    t.test('DiagnosticReport: lab results by order, or by specimen without one', async (t) => {
      const r = await get('DiagnosticReport/ord-1');
      t.equal(r.status, 200);
      t.match(r.body, { resourceType: 'DiagnosticReport', status: 'final', subject: { reference: 'Patient/res-a' }, result: [{ reference: 'Observation/lab-1' }, { reference: 'Observation/lab-2' }] });
      t.match((await get('DiagnosticReport/S-2')).body, { status: 'partial', result: [{ reference: 'Observation/lab-3' }] });
      t.equal((await get('DiagnosticReport/S-1')).status, 404, 'a specimen with an order is reported under the order');
      t.equal((await get('DiagnosticReport/ord-1/_history/1')).status, 404);
      const s = await get('DiagnosticReport?patient=res-a&_include=DiagnosticReport:patient');
      t.same(ids(s.body).sort(), ['DiagnosticReport/S-2', 'DiagnosticReport/ord-1']);
      t.same(ids(s.body, 'include'), ['Patient/res-a']);
      t.equal((await get('DiagnosticReport?patient=res-a&code=2951-2')).body.total, 1);
      t.equal((await get('DiagnosticReport?patient=res-a&status=partial')).body.total, 1);
      t.equal((await get('DiagnosticReport?patient=res-a&date=2026-03-02')).body.total, 2);
      t.equal((await get('DiagnosticReport?patient=res-a&date=lt2026-03-02')).body.total, 0);
      t.equal((await get('DiagnosticReport?_id=ord-9')).body.total, 1);
      t.match((await get('DiagnosticReport?status=final')).body, { resourceType: 'OperationOutcome', issue: [{ code: 'too-costly' }] });
    });
  });
}

suite('sqlite', () => sqliteTestWarehouse('fhir-derived-'));

suite('postgres', () => postgresTestWarehouse('wh_fhir_derived'));
