/**
 * Bad search input never crashes the facade: unknown parameters, huge _count, injection attempts
 * and random strings in every search parameter of every served type get a Bundle or a clear
 * OperationOutcome (400/404), never a 500, and every answer validates against R4. A pushed
 * DiagnosticReport of random shape maps to records or is refused with an OperationOutcome.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { Hono } from 'hono';
import t from 'tap';
import { SEARCH_PARAMS } from '../../central/fhir/capability.ts';
import { fhirApi, fhirStoreFor, isOperationOutcomeError } from '../../central/fhir/index.ts';
import type { Resource } from '../../central/fhir/map.ts';
import { parseDiagnosticReport } from '../../central/fhir/report.ts';
import { SqliteWarehouse } from '../../central/warehouse/sqlite.ts';
import { formatHlc, makeResidentId, recordTypes, type RecordType } from '../../contracts/index.ts';
import { validateR4 } from './fhir-validate.ts';

const TOKEN = 'fhir-fuzz-token-0123456789';
const labObs = (id: string, code: string) => ({ resourceType: 'Observation', id, status: 'final', code: { coding: [{ system: 'http://loinc.org', code }] }, valueQuantity: { value: 4.1, unit: 'mmol/L' } });
const report = (pid: string) => ({
  resourceType: 'DiagnosticReport', status: 'final', code: { text: 'panel' }, subject: { reference: `Patient/${pid}` }, effectiveDateTime: '2026-03-02T09:30:00+08:00',
  specimen: [{ identifier: { value: 'SP-1' } }], contained: [labObs('k', '2823-3'), labObs('na', '2951-2')], result: [{ reference: '#k' }, { reference: '#na' }],
});
const INJECTIONS = ["' OR '1'='1", "x%' OR 1=1 --", '%', '_', '"; DROP TABLE records; --', "res-a' --", '../../etc/passwd', '\u0000', 'Patient/res-a OR 1=1', '${x}', '<script>alert(1)</script>', '🩺', 'a'.repeat(300)];

const dir = mkdtempSync(join(tmpdir(), 'fhir-fuzz-'));
const wh = new SqliteWarehouse(join(dir, 'warehouse.db'));
t.teardown(async () => { await wh.close(); rmSync(dir, { recursive: true, force: true }); });
let seq = 0;
const item = (type: RecordType, recordId: string, payload: unknown) => {
  seq++;
  const p = recordTypes[type].parse(payload);
  return { kind: 'record' as const, type, payload: p, hash: `h${seq}`, raw: '',
    envelope: { recordId, type, clinicId: 'fz', seq, version: 1, hlc: formatHlc({ ms: 1_750_000_000_000 + seq, counter: 0, node: 'fz' }), schemaVersion: 1, createdAt: new Date().toISOString(), payload: p } };
};
await wh.ingest([
  item('resident', 'res-a', { residentId: 'res-a', name: '王秀英', sex: '2', birthDate: '1956-03-07', idType: '01', idNumber: makeResidentId('110101', new Date(Date.UTC(1956, 2, 7)), 13) }),
  item('prescription', 'rx-1', { prescriptionId: 'rx-1', encounterId: 'enc-1', residentId: 'res-a', prescriber: 'doc1', issuedAt: '2026-03-01T08:30:00+08:00', status: 'active', items: [{ lineNo: 1, drugCode: 'D1', drugName: '氨氯地平片', spec: '', dose: 5, doseUnit: 'mg', frequency: 'qd', route: 'po', days: 28, quantity: 1, unit: '盒', volumeProcurement: true }] }),
  item('lab_result', 'lab-1', { resultId: 'lab-1', residentId: 'res-a', specimenId: 'S-1', testCode: '2823-3', testName: '血钾', value: '4.1', status: 'final', resultedAt: '2026-03-02T09:00:00+08:00' }),
  item('observation', 'obs-1', { observationId: 'obs-1', residentId: 'res-a', code: '8480-6', display: '收缩压', value: 150, unit: 'mm[Hg]', effectiveAt: '2026-03-01T08:00:00+08:00', deviceId: 'bp-1' }),
]);
const app = new Hono().route('/fhir', fhirApi({ store: fhirStoreFor(wh), token: TOKEN, audit: async () => undefined }));
const get = async (path: string) => {
  const res = await app.request(`http://central.test/fhir/${path}`, { headers: { authorization: `Bearer ${TOKEN}` } });
  const body = (await res.json()) as Resource;
  validateR4(body);
  return { status: res.status, body };
};
const TYPES = Object.keys(SEARCH_PARAMS) as (keyof typeof SEARCH_PARAMS)[];

t.test('unknown parameters, huge _count, injections: clear OperationOutcomes', async (t) => {
  for (const type of TYPES) {
    const u = await get(`${type}?_id=res-a&colour=red`);
    t.match(u, { status: 400, body: { resourceType: 'OperationOutcome', issue: [{ code: 'not-supported', diagnostics: /colour/ }] } }, `${type}: unknown parameter named`);
    t.match(await get(`${type}?_count=1000000000000`), { status: 400, body: { issue: [{ code: 'invalid', diagnostics: /_count/ }] } }, `${type}: huge _count`);
    t.match(await get(`${type}?_count=1e3`), { status: 400, body: { issue: [{ code: 'invalid' }] } }, `${type}: _count not an integer`);
    for (const inj of INJECTIONS) {
      for (const p of SEARCH_PARAMS[type]) {
        const r = await get(`${type}?${p.name}=${encodeURIComponent(inj)}`);
        t.ok([200, 400].includes(r.status), `${type}?${p.name}=${inj.slice(0, 20)}: ${r.status}`);
        if (r.status === 200) t.equal(r.body.total, 0, `${type}?${p.name}=${inj.slice(0, 20)} matches nothing`);
      }
    }
  }
  t.equal(await wh.countRecords(), 4, 'nothing written or dropped');
});

t.test('random searches never answer 500', async () => {
  const name = fc.oneof(fc.constantFrom(...new Set(TYPES.flatMap((ty) => SEARCH_PARAMS[ty].map((p) => p.name))), '_count', '_offset', '_include', '_format', '_sort'), fc.string({ maxLength: 12 }));
  const value = fc.oneof(fc.constantFrom(...INJECTIONS, 'res-a', 'Patient/res-a', 'ge2026-03-01', '2026-03-01', 'final', '0', '5'), fc.string({ maxLength: 40 }), fc.string({ maxLength: 20, unit: 'binary' }));
  await fc.assert(fc.asyncProperty(fc.constantFrom(...TYPES), fc.array(fc.tuple(name, value), { maxLength: 4 }), async (type, params) => {
    const qs = new URLSearchParams(params).toString();
    const r = await get(`${type}?${qs}`);
    if (![200, 400].includes(r.status)) throw new Error(`${type}?${qs}: ${r.status} ${JSON.stringify(r.body).slice(0, 200)}`);
    if (r.status === 200 && r.body.resourceType !== 'Bundle') throw new Error('200 without a Bundle');
    if (r.status === 400 && r.body.resourceType !== 'OperationOutcome') throw new Error('400 without an OperationOutcome');
  }), { numRuns: 300 });
});

t.test('random DiagnosticReports: records or an OperationOutcome error', async () => {
  const near = fc.record({
    status: fc.oneof(fc.constantFrom('final', 'partial', 'registered'), fc.anything()),
    subject: fc.oneof(fc.constant({ reference: 'Patient/res-a' }), fc.anything()),
    effectiveDateTime: fc.oneof(fc.constantFrom('2026-03-01T08:00:00+08:00', '2026-03-01'), fc.anything()),
    specimen: fc.anything(),
    contained: fc.oneof(fc.anything(), fc.array(fc.record({ resourceType: fc.constantFrom('Observation', 'Patient'), id: fc.constantFrom('k', 'na', 'x'), status: fc.anything(), code: fc.anything(), valueQuantity: fc.anything(), valueString: fc.anything() }, { requiredKeys: [] }))),
    result: fc.oneof(fc.anything(), fc.array(fc.record({ reference: fc.constantFrom('#k', '#na', '#x', 'Observation/lab-1', '') }, { requiredKeys: [] }))),
    other: fc.anything(),
  }, { requiredKeys: [] });
  let n = 0;
  fc.assert(fc.property(near, fc.boolean(), (extra, base) => {
    const body = base ? { ...report('res-a'), ...extra } : { resourceType: 'DiagnosticReport', ...extra };
    try {
      const w = parseDiagnosticReport(body, 'R1', () => `id${n++}`);
      if (w.some((x) => x.recordType !== 'lab_result' || x.payload.orderId !== 'R1')) throw new Error('a result that is not a lab result of the report');
    } catch (e) {
      if (!isOperationOutcomeError(e) || e.status >= 500) throw e;
    }
  }), { numRuns: 500 });
});
