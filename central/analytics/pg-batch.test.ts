/**
 * Fact batches on PostgreSQL (facts.ts `applyBatch`, engine.ts `contributions`): the same facts
 * as SQLite's record-by-record path for a batch with the order-dependent cases (a record twice,
 * a contract moving facts of the same batch, birth-date and team lookups of facts written in the
 * batch, a cancelled new version), and a number of statements per batch that does not grow
 * with the batch's records.
 */
import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteWarehouse } from '../warehouse/sqlite.ts';
import { PostgresWarehouse } from '../warehouse/postgres.ts';
import type { Warehouse } from '../warehouse/types.ts';
import { createTestDatabase } from '../../test/central/postgres.ts';
import { handWorkedDistrict } from './handworked.ts';
import { DISTRICT_SCOPE, INDICATOR_BY_ID, type Analytics } from './index.ts';
import { build as b, ingestRecords, type Rec } from './testkit.ts';
import { parsePeriod } from './periods.ts';

/** Records whose facts depend on the order they are applied in (one batch: refresh starts at 50). */
function tricky(): Rec[] {
  const enc = b.encounter('Q1', '2026-04-02T09:00:00+08:00');
  const encId = String(enc.payload.encounterId);
  return [
    b.resident('Q1', '周一', '1950-02-02'), b.resident('Q2', '吴二', '1970-02-02', '2'),
    enc, b.encounter('Q2', '2026-04-03T09:00:00+08:00'),
    // No control given: the flag comes from the birth date written earlier in this batch (age 76: < 150/90).
    b.followup('Q1', 'HTN', '2026-04-05', { sbp: 145, dbp: 85, controlled: true }, { control: undefined }),
    b.followup('Q2', 'HTN', '2026-04-05', { sbp: 145, dbp: 85, controlled: true }, { control: undefined }),
    // The contract moves Q1's facts of this batch (and R3's in the table) to its team; later facts look it up.
    b.contract('Q1', 'c01-t2', '2026-04-01', '2027-03-31'), b.contract('R3', 'c01-t1', '2026-04-01', '2027-03-31'),
    b.encounter('Q1', '2026-04-06T09:00:00+08:00'), b.encounter('R3', '2026-04-06T09:00:00+08:00'),
    // A record twice in the batch, then cancelled: its facts go.
    { ...enc, version: 2, payload: { ...enc.payload, registeredAt: '2026-04-04T09:00:00+08:00' } },
    { ...enc, version: 3, payload: { ...enc.payload, status: 'cancelled' } },
    // Booked, then registered (stays a booked visit), and an older version arriving late (ignored).
    { ...b.registration('Q2', '2026-04-07', 'booked'), recordId: 'reg-q2' },
    { ...b.registration('Q2', '2026-04-07', 'registered'), recordId: 'reg-q2', version: 2 },
    { ...b.followup('R1', 'HTN', '2026-11-10', { sbp: 120, dbp: 70, controlled: true }), version: 1 },
    ...Array.from({ length: 8 }, (_, i) => b.prescription(i % 2 ? 'Q1' : 'Q2', `2026-04-${10 + i}T09:00:00+08:00`)),
  ].map((r) => r.type === 'encounter' && r.payload.encounterId === encId ? { ...r, recordId: encId } : r);
}

async function facts(a: Analytics): Promise<string[]> {
  const rows = await a.db.all<Record<string, unknown>>('SELECT fkey, src, kind, clinic_id, team_id, resident_id, day, day2, code, label, n1, n2, n3, flag, version, record_type, record_id FROM an_fact ORDER BY fkey');
  // Ids from testkit's running serial (each district built separately) are left out.
  return rows.map((r) => JSON.stringify(Object.values(r).map((v) => (v === null ? null : typeof v === 'number' ? v : String(v))))
    .replace(/(ch-|rx-)\d+/g, '$1#').replace(/(Z-|\+08:00-|\d{4}-\d\d-\d\d-)\d+/g, '$1#').replace(/110101001001\d{5}/g, '#')).sort();
}

async function run(wh: Warehouse, a: Analytics, recs: Rec[]): Promise<void> {
  // Not validated: follow-ups without `control` (the flag is then computed from the values).
  await ingestRecords(wh, 'c01-xinhua', recs, false);
  await a.facts.refresh(500);
}

t.test('a PostgreSQL fact batch writes what SQLite writes record by record', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'pgbatch-'));
  const lite = new SqliteWarehouse(join(dir, 'wh.db'));
  const tdb = await createTestDatabase('pgbatch');
  const pg = await PostgresWarehouse.open(tdb.url);
  t.teardown(async () => { lite.close(); rmSync(dir, { recursive: true, force: true }); await pg.close(); await tdb.drop(); });
  const al = await handWorkedDistrict(lite);
  const ap = await handWorkedDistrict(pg);
  t.same(await facts(ap), await facts(al), 'the hand-worked district');
  const recs = tricky();
  await run(lite, al, recs);
  await run(pg, ap, recs);
  const fp = await facts(ap);
  t.same(fp, await facts(al), 'the order-dependent batch');
  t.ok(fp.some((f) => f.includes('"Q1"') && f.includes('"c01-t2"') && f.includes('"visit"')), 'Q1\'s visit moved to the contracted team');
});

t.test('statements per fact batch on PostgreSQL do not grow with the batch', async (t) => {
  const tdb = await createTestDatabase('pgbatch');
  const wh = await PostgresWarehouse.open(tdb.url);
  t.teardown(async () => { await wh.close(); await tdb.drop(); });
  const a = await handWorkedDistrict(wh);
  // Stored results registered: every batch maintains them (their contributions are read per batch).
  const S = DISTRICT_SCOPE(a.org());
  for (const ind of INDICATOR_BY_ID.values()) await a.engine.value(ind, 'district', '2026', S);
  const keys = (await a.db.all('SELECT mkey FROM an_agg_key')).length;
  t.ok(keys > 20, `${keys} stored results`);
  const per = async (n: number) => {
    const recs = Array.from({ length: n }, (_, i) => b.prescription(`R${1 + (i % 4)}`, `2026-05-${String(1 + (i % 28)).padStart(2, '0')}T09:00:00+08:00`));
    await ingestRecords(wh, 'c01-xinhua', recs);
    const s0 = a.db.stats.statements;
    const b0 = a.facts.stats.batches;
    const r = await a.facts.refresh(n);
    t.equal(r.records, n);
    return { statements: a.db.stats.statements - s0, batches: a.facts.stats.batches - b0 };
  };
  const small = await per(2);
  const large = await per(200);
  // Fixed per batch: read records, BEGIN, touched, LOCK, registered results, case lists, sources,
  // residents, DELETE/INSERT, contributions before and after (one per 25 results each), cursor,
  // COMMIT, plus the pass's generation and as-of updates.
  const bound = 14 + 2 * Math.ceil(keys / 25);
  t.ok(small.statements <= small.batches * bound + 4, `2 records: ${small.statements} statements in ${small.batches} batches`);
  t.ok(large.statements <= large.batches * bound + 4, `200 records: ${large.statements} statements in ${large.batches} batches (not per record)`);
  // Not `statements < records`: the batch size adapts to the machine's speed (a slow machine made
  // 14 batches of 200 records), so compare per batch, which does not depend on it.
  t.ok(large.statements / large.batches <= small.statements / small.batches + 4, `statements per batch do not grow with the records in it: ${(large.statements / large.batches).toFixed(1)} with ${(200 / large.batches).toFixed(1)} records a batch, ${small.statements / small.batches} with 2`);
  // The stored results are still their full recomputation.
  for (const k of await a.db.all<{ mkey: string; period: string }>('SELECT mkey, period FROM an_agg_key')) {
    const full = (await a.engine.recompute(JSON.parse(k.mkey), parsePeriod(k.period))).map((r) => `${r.clinic_id}|${r.team_id ?? ''}|${Number(r.v)}`).sort();
    const stored = (await a.db.all<{ clinic_id: string; team_id: string; v: number }>('SELECT clinic_id, team_id, v FROM an_agg WHERE mkey = ? AND period = ? AND v <> 0', [k.mkey, k.period])).map((r) => `${r.clinic_id}|${r.team_id}|${Number(r.v)}`).sort();
    t.same(stored, full.filter((x) => !x.endsWith('|0')), `${k.period} ${k.mkey.slice(0, 60)}`);
  }
});
