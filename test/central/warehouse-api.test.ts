/**
 * Central management API over both backends: data dictionary, projection tables, dictionary
 * import from CSV/Excel (validation errors by row and column, versions, publication, distribution).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ExcelJS from 'exceljs';
import iconv from 'iconv-lite';
import t from 'tap';
import { centralApi } from '../../central/api.ts';
import { drugCodeCheckDigit, starterDictionaries } from '../../central/dictionaries/starter.ts';
import { PostgresWarehouse } from '../../central/warehouse/postgres.ts';
import { SqliteWarehouse } from '../../central/warehouse/sqlite.ts';
import type { AuditEntry, Warehouse } from '../../central/warehouse/types.ts';
import { DICTIONARY_NAMES, formatHlc, type DictionarySnapshot } from '../../contracts/index.ts';
import { createTestDatabase } from './postgres.ts';

const TOKEN = 'api-test-token-0123456789';
const H = { authorization: `Bearer ${TOKEN}` };
const drugCode = (n: number) => { const f = `869${String(1234567000 + n).padStart(10, '0')}`; return f + drugCodeCheckDigit(f); };

async function xlsx(rows: unknown[][], sheet = '药品目录'): Promise<Uint8Array> {
  const wb = new ExcelJS.Workbook();
  const ws = wb.addWorksheet(sheet);
  for (const r of rows) ws.addRow(r);
  return new Uint8Array(await wb.xlsx.writeBuffer());
}

function suite(name: string, make: () => Promise<{ wh: Warehouse; cleanup: () => Promise<void> }>) {
  t.test(`management API on ${name}`, async (t) => {
    const { wh, cleanup } = await make();
    t.teardown(cleanup);
    for (const d of DICTIONARY_NAMES) await wh.saveDictionary(d, starterDictionaries[d]);
    const published: DictionarySnapshot[] = [];
    const audits: AuditEntry[] = [];
    const app = centralApi({ wh, token: TOKEN, publishDictionary: async (s) => { published.push(s); return { distributed: true }; }, audit: async (e) => { audits.push(e); await wh.audit(e); } });
    const get = async (path: string) => app.request(path, { headers: H });

    t.test('every new route needs the token', async (t) => {
      for (const p of ['/api/data-dictionary', '/api/warehouse/tables/dw_encounter', '/api/dictionaries/drugs/versions', '/api/dictionaries/drugs/distribution']) {
        t.equal((await app.request(p)).status, 401, p);
      }
      t.equal((await app.request('/api/dictionaries/drugs/import', { method: 'POST', body: 'code,name' })).status, 401);
    });

    t.test('data dictionary: tables, DE identifiers, record types', async (t) => {
      const res = await get('/api/data-dictionary');
      t.equal(res.status, 200);
      const dd = await res.json() as { tables: { table: string; columns: { name: string; de: string | null; deUnconfirmed: boolean }[] }[]; recordTypes: { type: string; tables: string[] }[] };
      const resident = dd.tables.find((x) => x.table === 'dw_resident')!;
      t.match(resident.columns.find((c) => c.name === 'name'), { de: 'DE02.01.039.00', deUnconfirmed: false });
      t.match(resident.columns.find((c) => c.name === 'sex_code'), { de: 'DE02.01.040.00' });
      t.same(dd.recordTypes.find((r) => r.type === 'encounter')!.tables, ['dw_encounter', 'dw_diagnosis']);
      t.ok(audits.some((a) => a.action === 'data-dictionary.read'), 'audited');
      const spec = await (await app.request('/openapi.json')).json() as { paths: Record<string, unknown> };
      for (const p of ['/api/data-dictionary', '/api/warehouse/tables/{table}', '/api/dictionaries/{name}/import', '/api/dictionaries/{name}/versions', '/api/dictionaries/{name}/distribution']) t.ok(spec.paths[p], `${p} in OpenAPI`);
    });

    t.test('projection table rows through the API, audited with the resident filter', async (t) => {
      const payload = { encounterId: 'api-e1', residentId: 'api-r1', class: 'outpatient', status: 'finished', departmentCode: 'GP', registeredAt: '2026-02-01T09:00:00+08:00', diagnoses: [{ code: 'I10.x00', name: '原发性高血压', primary: true }] };
      await wh.ingest([{ kind: 'record', type: 'encounter', payload, hash: 'api-h1', raw: '', envelope: { recordId: 'api-e1', type: 'encounter', clinicId: 'api-c1', seq: 1, version: 1, hlc: formatHlc({ ms: 1, counter: 0, node: 'x' }), schemaVersion: 1, createdAt: '2026-02-01T01:00:00.000Z', payload } }]);
      const res = await get('/api/warehouse/tables/dw_diagnosis?residentId=api-r1');
      t.equal(res.status, 200);
      t.match(await res.json(), { table: 'dw_diagnosis', total: 1, rows: [{ clinic_id: 'api-c1', diagnosis_code: 'I10.x00', is_primary: true }] });
      t.ok(audits.some((a) => a.action === 'warehouse.read' && a.target.includes('resident=api-r1')));
      t.equal((await get('/api/warehouse/tables/records')).status, 400, 'only projection tables');
      t.equal((await get('/api/warehouse/tables/dw_order?limit=5000')).status, 400, 'bounded page size');
    });

    t.test('CSV import: validated, versioned, published, deactivates dropped codes', async (t) => {
      const before = (await wh.latestDictionaries()).find((d) => d.name === 'charge_items')!;
      const csv = '编码,名称,价格(分),计价单位,收费类别\r\n110200001,普通门诊诊查费,1200,次,exam\r\n"X-1","换药（中）, 含敷料",2500,次,treatment\r\n';
      let res = await app.request('/api/dictionaries/charge_items/import?dryRun=true', { method: 'POST', headers: { ...H, 'content-type': 'text/csv' }, body: csv });
      t.equal(res.status, 200);
      t.match(await res.json(), { version: null, dryRun: true, added: 1, changed: 1 });
      t.equal(published.length, 0, 'a dry run publishes nothing');
      res = await app.request('/api/dictionaries/charge_items/import', { method: 'POST', headers: { ...H, 'content-type': 'text/csv' }, body: csv });
      const body = await res.json() as { version: number; added: number; changed: number; deactivated: number; items: number };
      t.equal(res.status, 200);
      t.match(body, { version: before.version + 1, added: 1, changed: 1, deactivated: before.items.length - 1, items: before.items.length + 1 });
      t.equal(published.length, 1);
      t.equal(published[0]!.version, body.version, 'published to the edges');
      const items = published[0]!.items;
      t.match(items.find((i) => i.code === 'X-1'), { name: '换药（中）, 含敷料', attrs: { priceFen: 2500, category: 'treatment' }, active: true }, 'quoted comma kept');
      t.equal(items.find((i) => i.code === '110100001')!.active, false, 'a dropped code is kept, deactivated');
      const versions = await (await get('/api/dictionaries/charge_items/versions')).json() as { version: number; items: number }[];
      t.same(versions.map((v) => v.version), [body.version, before.version]);
    });

    t.test('CSV in GB18030 (Excel on Chinese Windows) with merge mode', async (t) => {
      const csv = new Uint8Array(iconv.encode('code,name,en\nCARD,心内科,Cardiology\n', 'gb18030'));
      const res = await app.request('/api/dictionaries/departments/import?mode=merge', { method: 'POST', headers: { ...H, 'content-type': 'text/csv' }, body: csv });
      t.equal(res.status, 200);
      const last = published.at(-1)!;
      t.equal(last.name, 'departments');
      t.equal(last.items.find((i) => i.code === 'CARD')!.name, '心内科');
      t.equal(last.items.length, starterDictionaries.departments.length + 1, 'merge keeps the others');
    });

    t.test('invalid rows: every error by row and column, nothing published', async (t) => {
      const n = published.length;
      const badCheck = drugCode(2).slice(0, 13) + String((Number(drugCode(2)[13]) + 1) % 10);
      const file = await xlsx([
        ['编码', '名称', '规格', '单位', '价格(分)', '带量采购', '药品类别'],
        [drugCode(1), '二甲双胍片', '0.5g*20片', '盒', 800, '是', 'western_drug'],
        [badCheck, '格列齐德片', '80mg*30片', '盒', 1200, '否', 'western_drug'],
        [drugCode(1), '重复', '1', '盒', -5, '也许', 'herbal'],
        ['', '', '', '', 'abc', '', ''],
      ]);
      const res = await app.request('/api/dictionaries/drugs/import', { method: 'POST', headers: { ...H, 'content-type': 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet' }, body: file as BodyInit });
      t.equal(res.status, 422);
      const { errors } = await res.json() as { errors: { row: number; column: string; message: string }[] };
      const at = (row: number, col: string) => errors.find((e) => e.row === row && e.column.startsWith(col));
      t.match(at(3, 'A'), { message: /check digit/ });
      t.match(at(4, 'A'), { message: /already on row 2/ });
      t.match(at(4, 'E'), { column: 'E (价格(分))', message: /below 0/ });
      t.match(at(4, 'F'), { message: /not yes\/no/ });
      t.match(at(4, 'G'), { message: /not one of/ });
      t.match(at(5, 'A'), { message: 'empty' });
      t.match(at(5, 'C'), { message: /required/ });
      t.match(at(5, 'E'), { message: /whole number/ });
      t.equal(published.length, n, 'nothing published');
      t.ok(audits.some((a) => a.action === 'dictionary.import' && a.outcome.startsWith('rejected')), 'the rejection is audited');
    });

    t.test('Excel via multipart with Chinese headers; staff departments checked against departments', async (t) => {
      const good = await xlsx([['编码', '名称', '角色', '科室', '职称'], ['D0100', '钱医生', 'doctor', 'GP', '主治医师'], ['N0100', '孙护士', 'nurse', { formula: '"I"&"NF"', result: 'INF' }, '护师']], '人员');
      const form = new FormData();
      form.append('file', new Blob([good as BlobPart]), 'staff.xlsx');
      let res = await app.request('/api/dictionaries/staff/import?mode=merge', { method: 'POST', headers: H, body: form });
      t.equal(res.status, 200, JSON.stringify(await res.clone().json()));
      t.match(published.at(-1)!.items.find((i) => i.code === 'N0100'), { attrs: { role: 'nurse', department: 'INF' } }, 'formula result read');
      const bad = await xlsx([['code', 'name', 'role', 'department', 'extra'], ['D0101', '某', 'doctor', 'NOPE', 'x']]);
      res = await app.request('/api/dictionaries/staff/import', { method: 'POST', headers: { ...H, 'content-type': 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet' }, body: bad as BodyInit });
      t.equal(res.status, 422);
      t.match((await res.json() as { errors: unknown[] }).errors, [{ row: 1, column: 'E (extra)', message: /unknown column/ }]);
      const bad2 = await xlsx([['code', 'name', 'role', 'department'], ['D0101', '某', 'doctor', 'NOPE']]);
      res = await app.request('/api/dictionaries/staff/import', { method: 'POST', headers: { ...H, 'content-type': 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet' }, body: bad2 as BodyInit });
      t.match(await res.json(), { errors: [{ row: 2, column: 'D (department)', message: /not in the departments dictionary/ }] });
    });

    t.test('malformed uploads get clear errors', async (t) => {
      let res = await app.request('/api/dictionaries/icd10/import', { method: 'POST', headers: { ...H, 'content-type': 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet' }, body: 'PK not really a zip' });
      t.equal(res.status, 422);
      t.match(await res.json(), { errors: [{ message: /not a readable .xlsx/ }] });
      res = await app.request('/api/dictionaries/icd10/import', { method: 'POST', headers: { ...H, 'content-type': 'application/json' }, body: '{}' });
      t.equal(res.status, 415);
      res = await app.request('/api/dictionaries/icd10/import', { method: 'POST', headers: { ...H, 'content-type': 'text/csv' }, body: 'code,name\n"I10.x00,高血压\n' });
      t.match(await res.json(), { errors: [{ message: /unterminated/ }] });
      res = await app.request('/api/dictionaries/icd10/import', { method: 'POST', headers: { ...H, 'content-type': 'text/csv' }, body: 'code,name,insurance\nI10.x00,高血压,I10.x00\nhypertension,x,\n' });
      t.match(await res.json(), { errors: [{ row: 3, column: 'A (code)', message: /not an ICD-10 code/ }] });
      res = await app.request('/api/dictionaries/icd10/import', { method: 'POST', headers: { ...H, 'content-type': 'text/csv', 'content-length': String(30 * 1024 * 1024) }, body: 'x' });
      t.equal(res.status, 413);
    });

    t.test('distribution: which edge holds which version', async (t) => {
      const latest = (await wh.latestDictionaries()).find((d) => d.name === 'drugs')!.version;
      await wh.recordHeartbeat({ clinicId: 'dist-a', agentVersion: '1', at: new Date().toISOString(), lastSeq: 0, receiptSeq: 0, outboxDepth: 0, oldestPendingAgeSec: 0, relayState: 'connected', dictionaries: { drugs: latest } });
      await wh.recordHeartbeat({ clinicId: 'dist-b', agentVersion: '1', at: new Date().toISOString(), lastSeq: 0, receiptSeq: 0, outboxDepth: 0, oldestPendingAgeSec: 0, relayState: 'connected', dictionaries: {} });
      const res = await get('/api/dictionaries/drugs/distribution');
      const d = await res.json() as { latestVersion: number; clinics: { clinicId: string; version: number | null; upToDate: boolean }[] };
      t.equal(d.latestVersion, latest);
      t.match(d.clinics.find((c) => c.clinicId === 'dist-a'), { version: latest, upToDate: true });
      t.match(d.clinics.find((c) => c.clinicId === 'dist-b'), { version: null, upToDate: false });
    });
  });
}

suite('sqlite', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'api-wh-'));
  const wh = new SqliteWarehouse(join(dir, 'warehouse.db'));
  return { wh, cleanup: async () => { await wh.close(); rmSync(dir, { recursive: true, force: true }); } };
});

suite('postgres', async () => {
  const db = await createTestDatabase();
  const wh = await PostgresWarehouse.open(db.url);
  return { wh, cleanup: async () => { await wh.close(); await db.drop(); } };
});
