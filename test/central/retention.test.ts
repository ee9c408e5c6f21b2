/**
 * Retention on generated data, both backends: records past 15 years move to gzip JSON-lines
 * parts (per clinic, type, year) with a manifest and checksums, are readable through the API,
 * and restore (idempotently) with their projection rows.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import t from 'tap';
import { centralApi } from '../../central/api.ts';
import { loadCentralConfig } from '../../central/config.ts';
import { mountRetention, retentionCutoff, type ArchivePart } from '../../central/retention/index.ts';
import { PostgresWarehouse } from '../../central/warehouse/postgres.ts';
import { sqlFor } from '../../central/warehouse/sql.ts';
import { SqliteWarehouse } from '../../central/warehouse/sqlite.ts';
import type { AuditEntry, IngestItem, Warehouse } from '../../central/warehouse/types.ts';
import { formatHlc, type RecordType } from '../../contracts/index.ts';
import { createLogger } from '../../contracts/runtime/index.ts';
import { createTestDatabase } from './postgres.ts';

const TOKEN = 'retention-test-token-0123456789';
const H = { authorization: `Bearer ${TOKEN}` };

/** Generated history: per clinic, observations and encounters across 2008..2026 (CST dates). */
function generate(): { items: IngestItem[]; old: number; total: number } {
  const items: IngestItem[] = [];
  const cutoff = retentionCutoff(new Date(), 15).getTime();
  let old = 0;
  for (const clinicId of ['ret-a', 'ret-b']) {
    let seq = 0;
    const push = (type: RecordType, recordId: string, createdAt: string, payload: Record<string, unknown>, version = 1) => {
      seq++;
      if (Date.parse(createdAt) < cutoff) old++;
      items.push({ kind: 'record', type, payload, hash: `${clinicId}:${seq}`, raw: '', envelope: { recordId, type, clinicId, seq, version, hlc: formatHlc({ ms: 1_200_000_000_000 + seq, counter: 0, node: clinicId }), schemaVersion: 1, createdAt, payload } });
    };
    for (const year of [2008, 2009, 2010, 2012, 2020, 2026]) {
      for (let i = 0; i < 12; i++) {
        const at = `${year}-${String(i + 1).padStart(2, '0')}-15T09:00:00+08:00`;
        const resident = `r-${clinicId}-${i % 3}`;
        push('observation', `${clinicId}-o-${year}-${i}`, at, { observationId: `o${i}`, residentId: resident, code: '8480-6', display: '收缩压', value: 120 + i, unit: 'mm[Hg]', effectiveAt: at });
        if (i % 4 === 0) push('encounter', `${clinicId}-e-${year}-${i}`, at, { encounterId: `e${i}`, residentId: resident, class: 'followup', status: 'finished', departmentCode: 'GP', registeredAt: at, diagnoses: [{ code: 'I10.x00', name: '高血压', primary: true }] });
      }
    }
    // New Year's Eve 2010 at 23:30 in China is still 2010 there (15:30Z): archived into year 2010.
    push('observation', `${clinicId}-o-nye`, '2010-12-31T23:30:00+08:00', { observationId: 'nye', code: '8480-6', display: '收缩压', value: 130, unit: 'mm[Hg]', effectiveAt: '2010-12-31T23:30:00+08:00' });
    // A record corrected long after: version 1 is old, version 2 recent; only version 1 leaves.
    push('encounter', `${clinicId}-corr`, '2009-05-01T10:00:00+08:00', { encounterId: 'corr', residentId: 'r-corr', class: 'outpatient', status: 'finished', departmentCode: 'GP', registeredAt: '2009-05-01T10:00:00+08:00', diagnoses: [] });
    push('encounter', `${clinicId}-corr`, '2025-05-01T10:00:00+08:00', { encounterId: 'corr', residentId: 'r-corr', class: 'outpatient', status: 'finished', departmentCode: 'GP', registeredAt: '2009-05-01T10:00:00+08:00', diagnoses: [{ code: 'J06.900', name: '急性上呼吸道感染', primary: true }] }, 2);
  }
  return { items, old, total: items.length };
}

function suite(name: string, make: () => Promise<{ wh: Warehouse; cleanup: () => Promise<void> }>) {
  t.test(`retention on ${name}`, async (t) => {
    const { wh, cleanup } = await make();
    const dataDir = mkdtempSync(join(tmpdir(), 'retention-'));
    const config = loadCentralConfig({ dataDir, apiToken: TOKEN }, {});
    const audits: AuditEntry[] = [];
    const app = centralApi({ wh, token: TOKEN, publishDictionary: async () => ({ distributed: true }), audit: async (e) => { audits.push(e); await wh.audit(e); } });
    const { stop } = await mountRetention(app, { config, wh, log: createLogger('test', 'silent'), audit: async (e) => { audits.push(e); await wh.audit(e); }, scheduleMs: null });
    t.teardown(async () => { await stop(); await cleanup(); rmSync(dataDir, { recursive: true, force: true }); });
    const sql = sqlFor(wh);
    const count = async (table: string) => Number((await sql.all<{ n: number }>(`SELECT count(*) AS n FROM ${table}`))[0]!.n);

    const { items, old, total } = generate();
    await wh.ingest(items);
    t.equal(await count('records'), total);
    const obsBefore = await count('dw_observation');
    let parts: ArchivePart[] = [];

    t.test('archive moves records past 15 years into per clinic/type/year parts', async (t) => {
      t.equal((await app.request('/api/archive/run', { method: 'POST', headers: { ...H, 'content-type': 'application/json' }, body: JSON.stringify({ before: new Date().toISOString() }) })).status, 400, 'a cutoff inside the retention period is refused');
      const res = await app.request('/api/archive/run', { method: 'POST', headers: H });
      t.equal(res.status, 200);
      const r = await res.json() as { records: number; parts: ArchivePart[] };
      t.equal(r.records, old, 'every old record archived');
      t.equal(await count('records'), total - old, 'and only those left the warehouse');
      parts = r.parts;
      const groups = parts.map((p) => `${p.clinicId}/${p.type}/${p.year}`).sort();
      t.same(groups, ['ret-a/encounter/2008', 'ret-a/encounter/2009', 'ret-a/encounter/2010', 'ret-a/observation/2008', 'ret-a/observation/2009', 'ret-a/observation/2010',
        'ret-b/encounter/2008', 'ret-b/encounter/2009', 'ret-b/encounter/2010', 'ret-b/observation/2008', 'ret-b/observation/2009', 'ret-b/observation/2010']);
      const obs2010 = parts.find((p) => p.clinicId === 'ret-a' && p.type === 'observation' && p.year === 2010)!;
      t.equal(obs2010.records, 13, '12 months + New Year\'s Eve in CST');
      for (const p of parts) {
        const file = join(dataDir, 'archive', p.file);
        t.ok(existsSync(file), `${p.file} exists`);
        const buf = readFileSync(file);
        t.equal(createHash('sha256').update(buf).digest('hex'), p.sha256, 'checksum matches');
        t.equal(gunzipSync(buf).toString().trim().split('\n').length, p.records, 'one JSON line per record');
      }
      const manifest = readFileSync(join(dataDir, 'archive', 'manifest.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as ArchivePart);
      t.same(manifest.map((m) => m.id).sort(), parts.map((p) => p.id).sort(), 'manifest lists every part');
      // Projection rows of archived records are gone; the recent correction keeps its rows.
      t.equal(await count('dw_observation'), obsBefore - parts.filter((p) => p.type === 'observation').reduce((a, p) => a + p.records, 0));
      const corr = await sql.all<{ version: number }>("SELECT version FROM dw_encounter WHERE record_id = 'ret-a-corr'");
      t.same(corr.map((x) => Number(x.version)), [2], 'version 2 (recent) still projected');
      t.equal(Number((await sql.all<{ n: number }>("SELECT count(*) AS n FROM records WHERE record_id = 'ret-a-corr'"))[0]!.n), 1, 'only the old version archived');
      t.match(await (await app.request('/api/archive/run', { method: 'POST', headers: H })).json(), { records: 0, parts: [] }, 'a second run finds nothing');
    });

    t.test('archived records are readable through the API (by part, by resident), audited', async (t) => {
      const listed = await (await app.request('/api/archive/parts?clinicId=ret-a&type=observation', { headers: H })).json() as ArchivePart[];
      t.same(listed.map((p) => p.year), [2008, 2009, 2010]);
      const p2009 = listed.find((p) => p.year === 2009)!;
      let res = await app.request(`/api/archive/parts/${p2009.id}/records?limit=5`, { headers: H });
      const page = await res.json() as { total: number; records: { recordId: string; payload: { value: number } }[] };
      t.equal(page.total, 12);
      t.equal(page.records.length, 5);
      t.equal(page.records[0]!.payload.value, 120, 'the payload as it was');
      res = await app.request(`/api/archive/parts/${p2009.id}/records?residentId=r-ret-a-1`, { headers: H });
      t.match(await res.json(), { total: 4 });
      t.ok(audits.some((a) => a.action === 'archive.read' && a.target.includes('resident=r-ret-a-1')), 'the read is audited with its resident');
      t.equal((await app.request(`/api/archive/parts/${p2009.id}/records`)).status, 401);
      t.equal((await app.request('/api/archive/parts/nope/records', { headers: H })).status, 404);
    });

    t.test('restore puts a part back online with its projections; restoring twice is harmless', async (t) => {
      const part = parts.find((p) => p.clinicId === 'ret-b' && p.type === 'encounter' && p.year === 2009)!;
      const before = await count('records');
      let res = await app.request(`/api/archive/parts/${part.id}/restore`, { method: 'POST', headers: H });
      t.same(await res.json(), { restored: part.records, alreadyOnline: 0 });
      t.equal(await count('records'), before + part.records);
      const dx = await sql.all<{ diagnosis_code: string }>("SELECT diagnosis_code FROM dw_diagnosis WHERE clinic_id = 'ret-b' AND record_id = 'ret-b-e-2009-4'");
      t.same(dx.map((d) => d.diagnosis_code), ['I10.x00'], 'projection rebuilt');
      const corr = await sql.all<{ version: number }>("SELECT version FROM dw_encounter WHERE record_id = 'ret-b-corr'");
      t.same(corr.map((x) => Number(x.version)), [2], 'the restored old version does not replace the newer one');
      res = await app.request(`/api/archive/parts/${part.id}/restore`, { method: 'POST', headers: H });
      t.same(await res.json(), { restored: 0, alreadyOnline: part.records });
      const after = await (await app.request('/api/archive/parts?clinicId=ret-b&type=encounter&year=2009', { headers: H })).json() as ArchivePart[];
      t.ok(after[0]!.restoredAt, 'marked restored');
    });

    t.test('a damaged archive file is refused, never served', async (t) => {
      const part = parts.find((p) => p.clinicId === 'ret-a' && p.type === 'encounter' && p.year === 2008)!;
      const file = join(dataDir, 'archive', part.file);
      const buf = readFileSync(file);
      buf[buf.length - 5] = buf[buf.length - 5]! ^ 0xff;
      writeFileSync(file, buf);
      const res = await app.request(`/api/archive/parts/${part.id}/records`, { headers: H });
      t.equal(res.status, 409);
      t.match(await res.json(), { error: 'archive integrity', detail: /checksum/ });
      t.equal((await app.request(`/api/archive/parts/${part.id}/restore`, { method: 'POST', headers: H })).status, 409);
    });

    t.test('documented in OpenAPI', async (t) => {
      const spec = await (await app.request('/openapi.json')).json() as { paths: Record<string, unknown> };
      for (const p of ['/api/archive/parts', '/api/archive/parts/{id}/records', '/api/archive/run', '/api/archive/parts/{id}/restore']) t.ok(spec.paths[p], p);
    });
  });
}

suite('sqlite', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ret-wh-'));
  const wh = new SqliteWarehouse(join(dir, 'warehouse.db'));
  return { wh, cleanup: async () => { await wh.close(); rmSync(dir, { recursive: true, force: true }); } };
});

suite('postgres', async () => {
  const db = await createTestDatabase();
  const wh = await PostgresWarehouse.open(db.url);
  return { wh, cleanup: async () => { await wh.close(); await db.drop(); } };
});
