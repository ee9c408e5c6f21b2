/**
 * FHIR searches by patient on both warehouse backends. On SQLite they find records through the WS
 * 365 projections' resident indexes (`RESIDENT_PROJECTION_TABLES`; `records` has no index by
 * resident since migration 123), on PostgreSQL through `records_type_resident_code`: both must give
 * the same answers, including after corrections that move a record to another resident, versions
 * arriving out of order, multi-row projections and records of the same id at two clinics.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { fhirStoreFor, type FhirStore, type RecordQuery } from '../../central/fhir/store.ts';
import { RESIDENT_PROJECTION_TABLES, recordProjections } from '../../central/warehouse/projections.ts';
import { SqliteWarehouse } from '../../central/warehouse/sqlite.ts';
import type { IngestItem, Warehouse } from '../../central/warehouse/types.ts';
import { formatHlc, recordTypes, type RecordType } from '../../contracts/index.ts';
import { postgresTestWarehouse, sqliteTestWarehouse } from './postgres.ts';

const A = 'bp-clinic-a';
const B = 'bp-clinic-b';
const seqs = new Map<string, number>();
function item(clinicId: string, type: RecordType, recordId: string, payload: unknown, version = 1): IngestItem {
  const seq = (seqs.get(clinicId) ?? 0) + 1;
  seqs.set(clinicId, seq);
  const p = recordTypes[type].parse(payload);
  return { kind: 'record', type, payload: p, hash: `h-${clinicId}-${seq}`, raw: '',
    envelope: { recordId, type, clinicId, seq, version, hlc: formatHlc({ ms: 1_750_000_000_000 + seq, counter: 0, node: clinicId }), schemaVersion: 1, createdAt: new Date().toISOString(), payload: p } };
}
const obs = (id: string, residentId: string, value: number, code = '8480-6', at = '2026-03-01T08:00:00+08:00') =>
  ({ observationId: id, residentId, code, display: code === '8480-6' ? '收缩压' : '舒张压', value, unit: 'mm[Hg]', effectiveAt: at });
const rxItem = (lineNo: number, drugCode: string) => ({ lineNo, drugCode, drugName: '氨氯地平片', spec: '5mg*28', dose: 5, doseUnit: 'mg', frequency: 'qd', route: 'po', days: 28, quantity: 1, unit: '盒', volumeProcurement: true });

async function ingest(wh: Warehouse, items: IngestItem[]): Promise<void> {
  const r = await wh.ingest(items);
  if (!r.outcomes.every((o) => o === 'applied')) throw new Error(`not applied: ${r.outcomes.join(',')}`);
}

async function seed(wh: Warehouse): Promise<void> {
  seqs.clear();
  await ingest(wh, [
    item(A, 'observation', 'o1', obs('o1', 'res-a', 150)),
    item(A, 'observation', 'o2', obs('o2', 'res-a', 92, '8462-4', '2026-03-02T08:00:00+08:00')),
    item(A, 'observation', 'o3', obs('o3', 'res-b', 120)),
    item(A, 'lab_result', 'l1', { resultId: 'l1', residentId: 'res-a', specimenId: 'S-1', testCode: '2823-3', testName: '血钾', value: '4.1', unit: 'mmol/L', status: 'final', resultedAt: '2026-02-28T09:00:00+08:00' }),
    item(A, 'encounter', 'e1', { encounterId: 'e1', residentId: 'res-a', class: 'outpatient', status: 'finished', departmentCode: 'GP', registeredAt: '2026-03-01T07:50:00+08:00' }),
    item(A, 'prescription', 'p1', { prescriptionId: 'p1', encounterId: 'e1', residentId: 'res-a', prescriber: 'doc1', issuedAt: '2026-03-01T08:10:00+08:00', status: 'active', items: [rxItem(1, 'X1'), rxItem(2, 'X2')] }),
    // An unmatched study, then linked to its resident by a second version.
    item(A, 'imaging_study', '1.2.3.4', { studyInstanceUid: '1.2.3.4', modality: 'US', seriesCount: 1, instanceCount: 3 }),
    item(A, 'imaging_study', '1.2.3.4', { studyInstanceUid: '1.2.3.4', residentId: 'res-a', modality: 'US', seriesCount: 1, instanceCount: 4 }, 2),
    // The same record id at another clinic, for another resident.
    item(B, 'observation', 'o1', obs('o1', 'res-c', 133)),
  ]);
}

const ids = async (store: FhirStore, q: Partial<RecordQuery> & Pick<RecordQuery, 'types'>) => {
  const page = await store.records({ count: 50, offset: 0, ...q });
  return { ids: page.rows.map((r) => `${r.clinicId}/${r.recordId}@${r.version}`), total: page.total };
};

function suite(name: string, make: () => Promise<{ wh: Warehouse; cleanup: () => Promise<void> }>) {
  t.test(`searches by patient on ${name}`, async (t) => {
    const { wh, cleanup } = await make();
    t.teardown(cleanup);
    const store = fhirStoreFor(wh);
    await seed(wh);

    t.same(await ids(store, { types: ['observation', 'lab_result'], residentId: 'res-a' }),
      { ids: [`${A}/o1@1`, `${A}/o2@1`, `${A}/l1@1`], total: 3 }, 'readings and lab results of one resident, in arrival order');
    t.same((await ids(store, { types: ['observation'], residentId: 'res-c' })).ids, [`${B}/o1@1`], 'the same record id at another clinic stays with its own resident');
    t.same((await ids(store, { types: ['encounter'], residentId: 'res-a' })).ids, [`${A}/e1@1`]);
    t.same((await ids(store, { types: ['prescription'], residentId: 'res-a' })).ids, [`${A}/p1@1`], 'a prescription of two lines is found once');
    t.same((await ids(store, { types: ['imaging_study'], residentId: 'res-a' })).ids, [`${A}/1.2.3.4@2`], 'a study linked by its second version');
    t.same((await ids(store, { types: ['observation'], residentId: 'res-a', code: '8462-4' })).ids, [`${A}/o2@1`], 'with a code');
    t.same((await ids(store, { types: ['observation', 'lab_result'], residentId: 'res-a', code: '2823-3' })).ids, [`${A}/l1@1`], 'with a lab test code');
    t.same((await ids(store, { types: ['encounter'], residentId: 'res-a', code: '8462-4' })).ids, [], 'a code on a type without one matches nothing');
    t.same((await ids(store, { types: ['observation', 'lab_result'], residentId: 'res-a', sort: '-date' })).ids, [`${A}/o2@1`, `${A}/o1@1`, `${A}/l1@1`], 'by clinical time, newest first');
    t.same(await ids(store, { types: ['observation', 'lab_result'], residentId: 'res-a', count: 1, offset: 1 }), { ids: [`${A}/o2@1`], total: 3 }, 'paged, with the total counted');
    t.same((await ids(store, { types: ['observation', 'lab_result'], residentId: 'res-a', date: [{ op: '<', at: '2026-03-01T00:00:00Z' }] })).ids, [`${A}/l1@1`], 'with a date');
    t.same((await ids(store, { types: ['observation'], residentId: 'res-a', id: 'o2' })).ids, [`${A}/o2@1`], 'with an id');
    t.same((await ids(store, { types: ['observation'], residentId: 'nobody' })).ids, []);

    // Corrections: o1 moves to res-b; o2's version 3 (res-b) arrives before its version 2 (res-a).
    await ingest(wh, [
      item(A, 'observation', 'o1', obs('o1', 'res-b', 149), 2),
      item(A, 'observation', 'o2', obs('o2', 'res-b', 90, '8462-4'), 3),
    ]);
    await ingest(wh, [item(A, 'observation', 'o2', obs('o2', 'res-a', 91, '8462-4'), 2)]);
    t.same((await ids(store, { types: ['observation', 'lab_result'], residentId: 'res-a' })).ids, [`${A}/l1@1`], 'corrected records leave their first resident');
    t.same((await ids(store, { types: ['observation'], residentId: 'res-b' })).ids, [`${A}/o3@1`, `${A}/o1@2`, `${A}/o2@3`], 'and reach the new one at their latest version, whatever the arrival order');
    t.same((await ids(store, { types: ['observation'], id: 'o2', version: 2 })).ids, [`${A}/o2@2`], 'the older version is still readable by version');
  });
}

suite('sqlite', () => sqliteTestWarehouse('fhir-by-patient-'));

suite('postgres', () => postgresTestWarehouse('wh_fhir_patient'));

t.test('every record type searched by patient has a projection with a resident index and a first line per record', async (t) => {
  for (const [type, { table, ...rest }] of Object.entries(RESIDENT_PROJECTION_TABLES)) {
    const code = (rest as { code?: string }).code;
    const p = recordProjections(type).find((x) => x.table === table);
    if (code) t.ok(p?.columns.some((c) => c.name === code), `${table}.${code} exists`);
    t.ok(p, `${type}: ${table} is one of its projections`);
    t.ok(p?.columns.some((c) => c.name === 'resident_id') && p.indexes?.some((ix) => ix.length === 1 && ix[0] === 'resident_id'), `${table}: resident_id indexed`);
  }
});

t.test('sqlite: the search by patient reads the projection indexes, and records has no index by resident', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'fhir-by-patient-plan-'));
  const wh = new SqliteWarehouse(join(dir, 'warehouse.db'));
  t.teardown(async () => { await wh.close(); rmSync(dir, { recursive: true, force: true }); });
  const indexes = () => (wh.db.prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'records'").all() as { name: string }[]).map((r) => r.name);
  t.notOk(indexes().includes('records_type_resident'));
  await seed(wh); // no ANALYZE: with a handful of rows the planner would rightly scan the smallest tables
  const seen: string[] = [];
  const prepare = wh.db.prepare.bind(wh.db);
  wh.db.prepare = ((sql: string) => { seen.push(sql); return prepare(sql); }) as typeof wh.db.prepare;
  const store = fhirStoreFor(wh);
  await store.records({ types: ['observation', 'lab_result'], residentId: 'res-a', code: '8480-6', count: 1, offset: 0 });
  // One type: the subquery is flattened into a join (where the planner once scanned records by type).
  await store.records({ types: ['encounter'], residentId: 'res-a', count: 1, offset: 0, sort: '-date' });
  wh.db.prepare = prepare;
  const searches = seen.filter((s) => s.includes('FROM (SELECT'));
  t.equal(searches.length, 4, 'two searches, each a page and its count');
  for (const sql of searches) {
    const plan = (wh.db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(...Array(sql.split('?').length - 1).fill('x')) as { detail: string }[]).map((r) => r.detail);
    const tables = sql.includes('dw_observation') ? ['dw_observation', 'dw_lab_result'] : ['dw_encounter'];
    for (const tb of tables) t.ok(plan.some((d) => new RegExp(`SEARCH ${tb} USING (COVERING )?INDEX ${tb}_resident_id`).test(d)), `${tb} by its resident index: ${plan.join(' | ')}`);
    t.ok(plan.some((d) => /SEARCH r USING (COVERING )?INDEX sqlite_autoindex_records_1 \(type=\? AND record_id=\? AND version=\? AND clinic_id=\?\)/.test(d)), 'records by key');
    t.notOk(plan.some((d) => /^SCAN (r|records|dw_)/.test(d)), 'no table scanned');
    // The projection first: its index by resident is searched before records.
    t.ok(plan.findIndex((d) => d.startsWith(`SEARCH ${tables[0]}`)) < plan.findIndex((d) => d.startsWith('SEARCH r ')), 'projection rows are the outer loop');
  }
});

t.test('sqlite migration 123: records without projection rows are projected, the index by resident goes', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'fhir-by-patient-mig-'));
  const file = join(dir, 'warehouse.db');
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  let wh = new SqliteWarehouse(file);
  await seed(wh);
  // As a warehouse written before the projections: rows missing, the old index, 123 not applied.
  wh.db.exec(`DELETE FROM dw_observation WHERE record_id IN ('o1', 'o2') AND clinic_id = '${A}'; DELETE FROM dw_prescription_item;
    CREATE INDEX records_type_resident ON records (type, json_extract(payload, '$.residentId')); DELETE FROM schema_migrations WHERE version = 123`);
  await wh.close();
  wh = new SqliteWarehouse(file);
  t.teardown(() => wh.close());
  const store = fhirStoreFor(wh);
  t.same((await ids(store, { types: ['observation'], residentId: 'res-a' })).ids, [`${A}/o1@1`, `${A}/o2@1`], 'readings projected again');
  t.same((await ids(store, { types: ['prescription'], residentId: 'res-a' })).ids, [`${A}/p1@1`], 'prescription lines projected again');
  t.equal((wh.db.prepare('SELECT count(*) AS n FROM dw_prescription_item').get() as { n: number }).n, 2, 'both lines');
  t.notOk(wh.db.prepare("SELECT 1 FROM sqlite_master WHERE name = 'records_type_resident'").get(), 'index dropped');
});
