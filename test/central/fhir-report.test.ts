/**
 * POST DiagnosticReport (a district hospital LIS): contained laboratory Observations become
 * lab_result records of the client and read back as the report; bad reports get 400/422
 * OperationOutcomes and write nothing. Both backends; every response validates against R4.
 */
import { Hono } from 'hono';
import t from 'tap';
import { CS, FhirWriter, SID, fhirApi, fhirStoreFor } from '../../central/fhir/index.ts';
import type { Resource } from '../../central/fhir/map.ts';
import type { Warehouse } from '../../central/warehouse/types.ts';
import { makeResidentId } from '../../contracts/index.ts';
import { validateR4 } from './fhir-validate.ts';
import { postgresTestWarehouse, sqliteTestWarehouse } from './postgres.ts';

const TOKEN = 'fhir-report-token-0123456789';
const AT = '2026-03-02T09:30:00+08:00';

const result = (id: string, code: string, value: number) => ({
  resourceType: 'Observation', id, status: 'final',
  code: { coding: [{ system: CS.loinc, code, display: code }] },
  valueQuantity: { value, unit: 'mmol/L', system: CS.ucum, code: 'mmol/L' },
});
const report = (pid: string, extra: Record<string, unknown> = {}) => ({
  resourceType: 'DiagnosticReport', status: 'final',
  category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0074', code: 'LAB' }] }],
  code: { coding: [{ system: CS.loinc, code: '24323-8', display: 'Comprehensive metabolic panel' }] },
  subject: { reference: `Patient/${pid}` }, effectiveDateTime: AT,
  specimen: [{ identifier: { system: 'http://district-hospital.example/specimen', value: 'SP-77' } }],
  contained: [result('k', '2823-3', 4.1), result('na', '2951-2', 140)],
  result: [{ reference: '#k' }, { reference: '#na' }],
  ...extra,
});

function suite(name: string, make: () => Promise<{ wh: Warehouse; cleanup: () => Promise<void> }>) {
  t.test(`FHIR DiagnosticReport create on ${name}`, async (t) => {
    const { wh, cleanup } = await make();
    t.teardown(cleanup);
    const app = new Hono().route('/fhir', fhirApi({ store: fhirStoreFor(wh), token: TOKEN, audit: (e) => wh.audit(e), writer: new FhirWriter(wh) }));
    const req = async (method: string, path: string, body?: unknown) => {
      const res = await app.request(`http://central.test/fhir/${path}`, { method, headers: { authorization: `Bearer ${TOKEN}`, ...(body !== undefined ? { 'content-type': 'application/fhir+json' } : {}) }, body: body === undefined ? undefined : JSON.stringify(body) });
      const b = (await res.json()) as Resource;
      validateR4(b);
      return { status: res.status, body: b, location: res.headers.get('location') };
    };
    const p = await req('POST', 'Patient', { resourceType: 'Patient', identifier: [{ system: SID.idCard, value: makeResidentId('110105', new Date(Date.UTC(1962, 4, 20)), 51) }], name: [{ text: '张伟' }], gender: 'male', birthDate: '1962-05-20' });
    t.equal(p.status, 201);
    const pid = p.body.id as string;

    t.test('a report with contained results is stored and reads back', async (t) => {
      const r = await req('POST', 'DiagnosticReport', report(pid));
      t.equal(r.status, 201);
      t.match(r.body, { resourceType: 'DiagnosticReport', status: 'final', subject: { reference: `Patient/${pid}` }, performer: [{ identifier: { value: 'ext-api' } }] });
      t.equal((r.body.result as unknown[]).length, 2);
      t.match(r.location, new RegExp(`/fhir/DiagnosticReport/${r.body.id}$`));
      t.same((await req('GET', `DiagnosticReport/${r.body.id}`)).body, r.body);
      const obs = await req('GET', (r.body.result as { reference: string }[])[0]!.reference);
      t.match(obs.body, { resourceType: 'Observation', category: [{ coding: [{ code: 'laboratory' }] }], specimen: { identifier: { value: 'SP-77' } }, effectiveDateTime: AT });
      t.equal((await req('GET', `DiagnosticReport?patient=${pid}`)).body.total, 1);
    });

    t.test('bad reports: OperationOutcome, nothing written', async (t) => {
      const before = await wh.countRecords();
      const cases: [unknown, number, string][] = [
        [{ ...report(pid), resourceType: 'Observation' }, 400, 'structure'],
        [report(pid, { conclusionCode: [] }), 422, 'not-supported'],
        [report(pid, { status: 'registered' }), 422, 'required'],
        [report(pid, { result: [] }), 422, 'required'],
        [report(pid, { result: [{ reference: 'Observation/lab-1' }] }), 422, 'not-supported'],
        [report(pid, { result: [{ reference: '#k' }, { reference: '#nope' }] }), 422, 'required'],
        [report(pid, { result: [{ reference: '#k' }, { reference: '#k' }] }), 422, 'business-rule'],
        [report(pid, { contained: [result('k', '2823-3', 4.1), { ...result('na', '2951-2', 1), code: { coding: [{ system: 'urn:x', code: 'y' }] } }] }), 422, 'code-invalid'],
        [report('nobody'), 422, 'business-rule'],
      ];
      for (const [body, status, code] of cases) {
        const r = await req('POST', 'DiagnosticReport', body);
        t.equal(r.status, status, JSON.stringify(body).slice(0, 80));
        t.match(r.body, { resourceType: 'OperationOutcome', issue: [{ code }] });
      }
      t.equal(await wh.countRecords(), before, 'nothing written');
    });
  });
}

suite('sqlite', () => sqliteTestWarehouse('fhir-report-'));

suite('postgres', () => postgresTestWarehouse('wh_fhir_report'));
