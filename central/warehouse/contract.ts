/**
 * The contract every `Warehouse` implementation passes (as Hono runs one case file against
 * every router). A backend's test supplies a factory for a fresh, empty warehouse.
 *
 *   runWarehouseContract(t, 'sqlite', async () => ({ wh: new SqliteWarehouse(file), cleanup }));
 */
import { randomBytes } from 'node:crypto';
import type t from 'tap';
import fc from 'fast-check';
import { RECORD_TYPE_NAMES, formatHlc, recordTypes, type Envelope, type Heartbeat, type RecordType } from '../../contracts/index.ts';
import { projections } from './projections.ts';
import type { IngestItem, Warehouse } from './types.ts';
import { projectionByTable, readProjection } from './dictionary.ts';
import { sqlFor } from './sql.ts';

type Test = typeof t;

export interface WarehouseHarness {
  wh: Warehouse;
  cleanup(): Promise<void>;
}

/** A unique clinic id per case: cases share nothing but the empty warehouse. */
const clinic = (tag: string) => `${tag}-${randomBytes(3).toString('hex')}`;
const hlc = (ms: number, node: string) => formatHlc({ ms, counter: 0, node });

export function envelope(clinicId: string, seq: number, type: RecordType, recordId: string, payload: unknown, o: { version?: number; hlc?: string } = {}): Envelope {
  return { recordId, type, clinicId, seq, version: o.version ?? 1, hlc: o.hlc ?? hlc(1_700_000_000_000 + seq, clinicId), schemaVersion: 1, createdAt: new Date(1_700_000_000_000 + seq * 1000).toISOString(), payload };
}

/** An observation record at `seq`; the hash stands for the message bytes (same content, same hash). */
export function obs(clinicId: string, seq: number, variant = ''): IngestItem {
  const payload = { observationId: `o-${seq}`, code: '8867-4', display: 'Heart rate', value: 60 + seq + (variant ? 1 : 0), unit: '/min', effectiveAt: new Date(1_700_000_000_000 + seq * 1000).toISOString() };
  return { kind: 'record', envelope: envelope(clinicId, seq, 'observation', `o-${seq}`, payload), type: 'observation', payload, hash: `h:${clinicId}:${seq}${variant}`, raw: '' };
}

function resident(clinicId: string, seq: number, residentId: string, fields: Record<string, unknown>, at: string, version = 1): IngestItem {
  const payload = { residentId, name: '张三', sex: '1', birthDate: '1980-01-01', idType: '99', idNumber: 'X1', ...fields };
  return { kind: 'record', envelope: envelope(clinicId, seq, 'resident', residentId, payload, { hlc: at, version }), type: 'resident', payload, hash: `h:${clinicId}:${seq}:${JSON.stringify(fields)}`, raw: '' };
}

function deadItem(clinicId: string, seq: number, reason: 'schema' | 'clinic_mismatch' | 'lost_at_source' = 'schema'): IngestItem {
  // lost_at_source: an edge's re-seed entry (seq_lost, edge-agent/sync/reseed.ts) for a seq whose record it no longer holds.
  if (reason === 'lost_at_source') {
    return { kind: 'dead', subject: `clinic.${clinicId}.rec.seq_lost`, reason, detail: `seq ${seq} re-seeded by the edge at 2026-11-30T02:00:00.000Z: its record is lost (superseded by a later version)`, raw: Buffer.from(`{"type":"seq_lost","seq":${seq}}`), clinicId, seq };
  }
  return { kind: 'dead', subject: `clinic.${clinicId}.rec.observation`, reason, detail: 'value: expected number', raw: Buffer.from(`{"seq":${seq}}`), clinicId, seq };
}

const range = (a: number, b: number) => Array.from({ length: b - a + 1 }, (_, i) => a + i);

export function runWarehouseContract(tap: Test, name: string, make: () => Promise<WarehouseHarness>): void {
  tap.test(`Warehouse contract: ${name}`, async (tt) => {
    const h = await make();
    tt.teardown(() => h.cleanup());
    const wh = h.wh;

    tt.test('in-order batch applies every record once', async (t) => {
      const c = clinic('inorder');
      const r = await wh.ingest(range(1, 5).map((s) => obs(c, s)));
      t.same(r.outcomes, ['applied', 'applied', 'applied', 'applied', 'applied']);
      t.same(r.changed, [{ clinicId: c, appliedSeq: 5, pendingAbove: 0, firstMissing: null }]);
      t.equal(r.applied.length, 5);
      t.same(await wh.watermark(c), { clinicId: c, appliedSeq: 5, pendingAbove: 0, firstMissing: null });
      t.same(await wh.appliedSeqs(c), [1, 2, 3, 4, 5]);
      t.equal(await wh.countRecords(c), 5);
      t.ok((await wh.watermarks()).some((w) => w.clinicId === c && w.appliedSeq === 5), 'listed in watermarks()');
    });

    tt.test('records above a gap are held until it closes', async (t) => {
      const c = clinic('gap');
      let r = await wh.ingest([obs(c, 3), obs(c, 5)]);
      t.same(r.outcomes, ['held', 'held']);
      t.same(await wh.watermark(c), { clinicId: c, appliedSeq: 0, pendingAbove: 2, firstMissing: 1 });
      t.equal(await wh.countRecords(c), 0, 'nothing applied above the gap');
      r = await wh.ingest([obs(c, 1)]);
      t.same(r.changed, [{ clinicId: c, appliedSeq: 1, pendingAbove: 2, firstMissing: 2 }]);
      r = await wh.ingest([obs(c, 2)]);
      t.same(r.outcomes, ['applied']);
      t.same(await wh.watermark(c), { clinicId: c, appliedSeq: 3, pendingAbove: 1, firstMissing: 4 }, 'held seq 3 drained');
      t.equal(r.applied.length, 2, 'seq 2 and the held seq 3');
      await wh.ingest([obs(c, 4)]);
      t.same(await wh.watermark(c), { clinicId: c, appliedSeq: 5, pendingAbove: 0, firstMissing: null });
      t.same(await wh.appliedSeqs(c), [1, 2, 3, 4, 5], 'applied in seq order');
      t.equal(await wh.countRecords(c), 5);
    });

    tt.test('duplicates are recognised below the watermark, in pending and within a batch', async (t) => {
      const c = clinic('dup');
      const r = await wh.ingest([obs(c, 1), obs(c, 1), obs(c, 4), obs(c, 4), obs(c, 2)]);
      t.same(r.outcomes, ['applied', 'duplicate', 'held', 'duplicate', 'applied']);
      t.same((await wh.ingest([obs(c, 2), obs(c, 1)])).outcomes, ['duplicate', 'duplicate']);
      t.same((await wh.ingest([obs(c, 4)])).outcomes, ['duplicate'], 'still held');
      t.same(await wh.appliedSeqs(c), [1, 2]);
      t.equal(await wh.countRecords(c), 2);
    });

    tt.test('a different message at a consumed or held seq is a seq_collision, never dropped silently', async (t) => {
      const c = clinic('coll');
      await wh.ingest([obs(c, 1), obs(c, 3)]);
      const r = await wh.ingest([obs(c, 1, 'x'), obs(c, 3, 'x')]);
      t.same(r.outcomes, ['dead', 'dead']);
      t.same(r.deadLetters, [{ reason: 'seq_collision', clinic: c }, { reason: 'seq_collision', clinic: c }], 'counted under the clinic its subject names');
      t.same(await wh.watermark(c), { clinicId: c, appliedSeq: 1, pendingAbove: 1, firstMissing: 2 }, 'watermark and pending untouched');
      const dl = (await wh.deadLetters(100)).filter((d) => d.clinicId === c);
      t.same(dl.map((d) => [d.reason, d.seq]).sort(), [['seq_collision', 1], ['seq_collision', 3]]);
      t.ok(dl.every((d) => d.detail.length > 0 && typeof d.receivedAt === 'string'), 'with a detail and a time');
    });

    tt.test('the same record version at a new seq: same content is harmless, different content is a collision', async (t) => {
      const c = clinic('recuniq');
      const a = obs(c, 1);
      const same = { ...a, envelope: { ...(a as Extract<IngestItem, { kind: 'record' }>).envelope, seq: 2 }, hash: 'other-bytes' } as IngestItem;
      const r = await wh.ingest([a, same]);
      t.same(r.outcomes, ['applied', 'applied']);
      t.equal(await wh.countRecords(c), 1, 'one row per (type, recordId, version, clinic)');
      const changed = obs(c, 1, 'x');
      const clash = { ...changed, envelope: { ...(changed as Extract<IngestItem, { kind: 'record' }>).envelope, seq: 3 }, hash: 'third' } as IngestItem;
      const r2 = await wh.ingest([clash]);
      t.same(r2.outcomes, ['applied'], 'the seq is consumed');
      t.same(r2.deadLetters.map((d) => d.reason), ['seq_collision'], 'the differing content is dead-lettered');
      t.equal((await wh.watermark(c)).appliedSeq, 3);
      t.equal(await wh.countRecords(c), 1);
    });

    tt.test('dead-lettered records consume their seq; forged ones do not', async (t) => {
      const c = clinic('dead');
      let r = await wh.ingest([obs(c, 1), deadItem(c, 2), deadItem(c, 4), obs(c, 3)]);
      t.same(r.outcomes, ['applied', 'dead', 'dead', 'applied']);
      t.same(await wh.watermark(c), { clinicId: c, appliedSeq: 4, pendingAbove: 0, firstMissing: null }, 'held dead seq 4 drained after seq 3');
      t.same(await wh.appliedSeqs(c), [1, 2, 3, 4]);
      t.equal(await wh.countRecords(c), 2);
      r = await wh.ingest([deadItem(c, 2)]);
      t.same(r.outcomes, ['duplicate'], 'a redelivered dead record is a duplicate, not a second dead letter');
      r = await wh.ingest([deadItem(c, 5, 'clinic_mismatch')]);
      t.same(r.outcomes, ['dead']);
      t.equal((await wh.watermark(c)).appliedSeq, 4, 'a forged record takes no place in the sequence');
      const dl = (await wh.deadLetters(100)).filter((d) => d.clinicId === c);
      t.same(dl.map((d) => d.reason).sort(), ['clinic_mismatch', 'schema', 'schema']);
      t.match(dl.find((d) => d.seq === 2)!.rawPreview, /"seq":2/, 'raw bytes kept for review');
      const noClinic = await wh.ingest([{ kind: 'dead', subject: 'junk', reason: 'not_json', detail: 'x', raw: Buffer.from('{') }]);
      t.same(noClinic.outcomes, ['dead']);
      t.same(noClinic.deadLetters, [{ reason: 'not_json', clinic: 'unknown' }], 'a subject without a clinic: unknown');
    });

    tt.test('lost_at_source (an edge re-seeding central): what central holds at that seq stands (duplicate); at the watermark it takes its place and releases what was held', async (t) => {
      const c = clinic('lost');
      const mine = async () => (await wh.deadLetters(1000)).filter((d) => d.clinicId === c);
      let r = await wh.ingest([obs(c, 1), obs(c, 2), deadItem(c, 3), obs(c, 5)]);
      t.same(r.outcomes, ['applied', 'applied', 'dead', 'held']);
      t.same(await wh.watermark(c), { clinicId: c, appliedSeq: 3, pendingAbove: 1, firstMissing: 4 });
      // At or below the watermark: a record or a dead item applied there stands; no seq_collision.
      r = await wh.ingest([deadItem(c, 2, 'lost_at_source'), deadItem(c, 3, 'lost_at_source')]);
      t.same(r.outcomes, ['duplicate', 'duplicate'], 'lost entries for applied seqs (a record, a dead one) are duplicates');
      t.same(r.deadLetters.map((d) => d.reason), [], 'no dead letter');
      t.same(r.changed, [], 'nothing changed');
      // Held above the gap: the held record stands.
      r = await wh.ingest([deadItem(c, 5, 'lost_at_source')]);
      t.same(r.outcomes, ['duplicate'], 'lost entry for a held seq is a duplicate');
      t.same(r.deadLetters.map((d) => d.reason), []);
      t.same(await wh.watermark(c), { clinicId: c, appliedSeq: 3, pendingAbove: 1, firstMissing: 4 }, 'watermark and pending untouched');
      t.same((await mine()).map((d) => [d.reason, d.seq]), [['schema', 3]], 'only the earlier schema dead letter');
      // Within one batch too (the seq applied earlier in the same transaction).
      r = await wh.ingest([obs(c, 4), deadItem(c, 4, 'lost_at_source'), deadItem(c, 5, 'lost_at_source')]);
      t.same(r.outcomes, ['applied', 'duplicate', 'duplicate'], 'applied earlier in the batch (4), drained in the batch (5)');
      t.same(await wh.watermark(c), { clinicId: c, appliedSeq: 5, pendingAbove: 0, firstMissing: null });
      t.equal(await wh.countRecords(c), 4, 'records 1, 2, 4, 5');
      t.same((await mine()).map((d) => d.reason), ['schema'], 'still no lost_at_source nor seq_collision dead letter');
    });

    tt.test('lost_at_source at the watermark + 1: dead-lettered once, takes its seq, releases the held records', async (t) => {
      const c = clinic('lostnext');
      const mine = async () => (await wh.deadLetters(1000)).filter((d) => d.clinicId === c);
      await wh.ingest([obs(c, 1), obs(c, 2)]);
      // Central restored to W = 2; the edge re-sends 3 (rebuilt) first reaching central after 4 (lost) and 5, 6.
      let r = await wh.ingest([obs(c, 5), obs(c, 6)]);
      t.same(r.outcomes, ['held', 'held']);
      r = await wh.ingest([deadItem(c, 3, 'lost_at_source')]);
      t.same(r.outcomes, ['dead'], 'the outcome of any dead item that takes its seq');
      t.same(r.deadLetters.map((d) => d.reason), ['lost_at_source']);
      t.same(r.changed, [{ clinicId: c, appliedSeq: 3, pendingAbove: 2, firstMissing: 4 }], 'the watermark moves past it');
      // A lost entry above the gap: held (it takes its place when the gap closes), dead-lettered now.
      r = await wh.ingest([deadItem(c, 4, 'lost_at_source')]);
      t.same(r.outcomes, ['dead']);
      t.same(r.changed, [{ clinicId: c, appliedSeq: 6, pendingAbove: 0, firstMissing: null }], 'the held 5 and 6 released');
      t.equal(r.applied.length, 2, 'records 5 and 6 applied with it');
      t.same(await wh.watermark(c), { clinicId: c, appliedSeq: 6, pendingAbove: 0, firstMissing: null });
      t.same(await wh.appliedSeqs(c), [1, 2, 3, 4, 5, 6], 'every seq consumed once, in order');
      t.equal(await wh.countRecords(c), 4, 'nothing applied for the lost seqs');
      let dl = await mine();
      t.same(dl.map((d) => [d.reason, d.seq]).sort(), [['lost_at_source', 3], ['lost_at_source', 4]], 'one dead letter per lost seq');
      t.match(dl.find((d) => d.seq === 3)!, { subject: `clinic.${c}.rec.seq_lost`, detail: /^seq 3 re-seeded by the edge/ });
      // Redelivered (the relay's retry, a second re-seed): duplicates, no second dead letter.
      r = await wh.ingest([deadItem(c, 3, 'lost_at_source'), deadItem(c, 4, 'lost_at_source')]);
      t.same(r.outcomes, ['duplicate', 'duplicate']);
      dl = await mine();
      t.equal(dl.length, 2, 'still two dead letters');
      t.equal(dl.filter((d) => d.reason === 'seq_collision').length, 0);
    });

    tt.test('residents: last writer by HLC wins, every loser goes to the conflict log', async (t) => {
      const a = clinic('lwwa');
      const b = clinic('lwwb');
      const id = `res-${randomBytes(4).toString('hex')}`;
      const base = 1_800_000_000_000;
      let r = await wh.ingest([resident(a, 1, id, { phone: '111' }, hlc(base, a))]);
      t.equal(r.conflicts, 0, 'first write');
      r = await wh.ingest([resident(a, 2, id, { phone: '222' }, hlc(base + 1, a), 2)]);
      t.equal(r.conflicts, 0, 'a newer version from the same writer is an update');
      r = await wh.ingest([resident(b, 1, id, { phone: '333', address: 'B street' }, hlc(base + 2, b))]);
      t.equal(r.conflicts, 1, 'another clinic overwrote: logged');
      r = await wh.ingest([resident(a, 3, id, { phone: '444' }, hlc(base + 1, a).replace(/\d{5}\./, '00001.'), 3)]);
      t.equal(r.conflicts, 1, 'a stale write loses and is logged');
      const mine = (await wh.conflicts(100)).filter((x) => x.residentId === id).sort((x, y) => x.id - y.id);
      t.equal(mine.length, 2);
      t.same({ w: mine[0]!.winnerClinic, l: mine[0]!.loserClinic, fields: [...mine[0]!.fields].sort() }, { w: b, l: a, fields: ['address', 'phone'] });
      t.same(mine[0]!.loserValues, { phone: '222', address: null });
      t.same(mine[0]!.winnerValues, { phone: '333', address: 'B street' });
      t.same({ w: mine[1]!.winnerClinic, l: mine[1]!.loserClinic }, { w: b, l: a }, 'the stale write lost to B');
      t.same(mine[1]!.loserValues.phone, '444');
      t.same(mine[1]!.winnerValues.phone, '333', 'B still holds the value');
      r = await wh.ingest([resident(b, 2, id, { phone: '333', address: 'B street' }, hlc(base - 5, b), 2)]);
      t.equal(r.conflicts, 0, 'an older write with identical values is no conflict');
    });

    tt.test('dictionaries are versioned; latest is served', async (t) => {
      const s1 = await wh.saveDictionary('icd10', [{ code: 'I10', name: '原发性高血压', attrs: {}, active: true }]);
      const s2 = await wh.saveDictionary('icd10', [{ code: 'I10', name: '原发性高血压', attrs: {}, active: true }, { code: 'E11', name: '2型糖尿病', attrs: { insurance: 'E11.900' }, active: true }]);
      t.equal(s2.version, s1.version + 1);
      const latest = (await wh.latestDictionaries()).filter((d) => d.name === 'icd10');
      t.equal(latest.length, 1, 'one row per dictionary');
      t.equal(latest[0]!.version, s2.version);
      t.same(latest[0]!.items.map((i) => i.code), ['I10', 'E11']);
      t.ok(!Number.isNaN(Date.parse(latest[0]!.publishedAt)));
    });

    tt.test('fleet joins heartbeats with watermarks', async (t) => {
      const c = clinic('fleet');
      await wh.ingest([obs(c, 1), obs(c, 2), obs(c, 4)]);
      const hb: Heartbeat = { clinicId: c, agentVersion: '0.1.0', at: new Date().toISOString(), lastSeq: 5, receiptSeq: 2, outboxDepth: 3, oldestPendingAgeSec: 7, relayState: 'connected', dictionaries: { icd10: 2 } };
      await wh.recordHeartbeat(hb);
      let row = (await wh.fleet()).find((f) => f.clinicId === c)!;
      t.match(row, { agentVersion: '0.1.0', edgeLastSeq: 5, edgeReceiptSeq: 2, outboxDepth: 3, oldestPendingAgeSec: 7, relayState: 'connected', dictionaries: { icd10: 2 }, appliedSeq: 2, pendingAbove: 1, firstMissing: 3, recordsApplied: 2 });
      t.ok(row.lastHeartbeatAt && Math.abs(Date.parse(row.lastHeartbeatAt) - Date.now()) < 60_000, 'heartbeat time recorded');
      t.ok(row.lagSeconds >= 7, 'lag counts the oldest pending record at the edge');
      await wh.recordHeartbeat({ ...hb, lastSeq: 2, outboxDepth: 0, oldestPendingAgeSec: 0, agentVersion: '0.2.0' });
      row = (await wh.fleet()).find((f) => f.clinicId === c)!;
      t.match(row, { agentVersion: '0.2.0', outboxDepth: 0, lagSeconds: 0 }, 'a later heartbeat replaces the row');
      const onlyIngest = clinic('noheartbeat');
      await wh.ingest([obs(onlyIngest, 1)]);
      t.match((await wh.fleet()).find((f) => f.clinicId === onlyIngest), { lastHeartbeatAt: null, appliedSeq: 1 }, 'a clinic seen only through records is listed');
    });

    tt.test('a dictionary version taken back from the stream keeps its number; the next publish follows it', async (t) => {
      const before = (await wh.latestDictionaries()).find((d) => d.name === 'charge_items')?.version ?? 0;
      const snap = { name: 'charge_items' as const, version: before + 3, publishedAt: '2026-11-20T08:00:00.000Z', items: [{ code: 'C1', name: '一般诊疗费', attrs: {}, active: true }] };
      t.equal(await wh.importDictionary(snap), true, 'stored under its own version');
      t.equal(await wh.importDictionary(snap), false, 'a second import of the same version changes nothing');
      t.same((await wh.latestDictionaries()).find((d) => d.name === 'charge_items'), snap, 'it is the latest');
      t.equal((await wh.saveDictionary('charge_items', snap.items)).version, before + 4, 'the next publish takes the following number');
    });

    tt.test('the stream cursor: written with a batch, never back in time, a renumbered stream\'s lower seq taken', async (t) => {
      const stream = `S_${randomBytes(3).toString('hex')}`;
      const c1 = clinic('cursor');
      t.equal(await wh.streamCursor(stream), null, 'none before the first batch');
      await wh.ingest([obs(c1, 1)], { stream, seq: 40, storedAt: '2026-11-01T00:00:40.000Z' });
      t.same(await wh.streamCursor(stream), { stream, seq: 40, storedAt: '2026-11-01T00:00:40.000Z' }, 'written in the batch\'s transaction');
      await wh.ingest([obs(c1, 2)], { stream, seq: 30, storedAt: '2026-11-01T00:00:30.000Z' });
      t.equal((await wh.streamCursor(stream))!.seq, 40, 'an older cursor does not move it back (another instance lagging)');
      await wh.saveStreamCursor({ stream, seq: 55, storedAt: '2026-11-01T00:00:55.000Z' });
      t.equal((await wh.streamCursor(stream))!.seq, 55, 'saved on its own (at stop)');
      await wh.ingest([obs(c1, 3)], { stream, seq: 3, storedAt: '2026-11-02T00:00:03.000Z' });
      t.same(await wh.streamCursor(stream), { stream, seq: 3, storedAt: '2026-11-02T00:00:03.000Z' }, 'a later message at a lower seq (the stream was recreated and numbers anew) is taken');
    });

    tt.test('audit entries are written', async (t) => {
      await wh.audit({ actor: 'api-token', action: 'contract.read', target: 'x', sourceIp: '127.0.0.1', outcome: 'ok' });
      t.pass('audit() resolved');
    });

    tt.test('WS 365 projections are filled in the same transaction as records, latest version only', async (t) => {
      const c = clinic('proj');
      const sql = sqlFor(wh);
      const rid = `res-${randomBytes(4).toString('hex')}`;
      const rec = (seq: number, type: string, recordId: string, payload: Record<string, unknown>, version = 1): IngestItem =>
        ({ kind: 'record', envelope: envelope(c, seq, type as RecordType, recordId, payload, { version }), type: type as RecordType, payload, hash: `h:${c}:${seq}`, raw: '' });
      const enc = (dx: { code: string; name: string; primary: boolean }[]) => ({ encounterId: 'e1', residentId: rid, class: 'outpatient', status: 'finished', departmentCode: 'GP', doctorCode: 'D0001', registeredAt: '2026-03-01T08:30:00+08:00', chiefComplaint: '头晕', diagnoses: dx, feeFen: 1500 });
      const r = await wh.ingest([
        resident(c, 1, rid, { name: '王秀英', sex: '2', idType: '01', idNumber: '110101195603070026', insuranceCardNo: 'INS-9', ethnicity: '01' }, hlc(1_800_000_000_000, c)),
        rec(2, 'encounter', 'e1', enc([{ code: 'I10.x00', name: '原发性高血压', primary: true }, { code: 'E11.900', name: '2型糖尿病', primary: false }])),
        rec(3, 'observation', 'o1', { observationId: 'o1', residentId: rid, code: '8480-6', display: '收缩压', value: 150, unit: 'mm[Hg]', effectiveAt: '2026-03-01T08:40:00+08:00', implausible: false }),
        rec(4, 'lab_result', 'l1', { resultId: 'l1', residentId: rid, specimenId: 'S1', testCode: '2823-3', testName: '血钾', value: '6.4', unit: 'mmol/L', flag: 'HH', status: 'final', resultedAt: '2026-03-01T10:00:00+08:00' }),
        rec(5, 'imaging_study', '1.2.3', { studyInstanceUid: '1.2.3', residentId: rid, modality: 'US', studyDate: '20260301', seriesCount: 1, instanceCount: 4 }),
        rec(6, 'order', 'or1', { orderId: 'or1', residentId: rid, kind: 'lab', code: 'K', display: '血钾', status: 'completed', requestedAt: '2026-03-01T09:00:00+08:00' }),
        // A type with no projection (yet): kept in records, nothing lost.
        rec(7, 'future_type', 'f1', { anything: [1, 2, 3] }),
        // A correction: version 2 of the visit has one diagnosis; then version 1 arrives late and changes nothing.
        rec(8, 'encounter', 'e1', enc([{ code: 'J06.900', name: '急性上呼吸道感染', primary: true }]), 2),
        rec(9, 'encounter', 'e2', { ...enc([]), encounterId: 'e2', chiefComplaint: 'v2' }, 2),
        rec(10, 'encounter', 'e2', { ...enc([{ code: 'X', name: 'stale', primary: true }]), encounterId: 'e2', chiefComplaint: 'stale v1' }, 1),
      ]);
      t.ok(r.outcomes.every((o) => o === 'applied'), 'all applied');
      t.same(r.deadLetters.map((d) => d.reason), []);
      t.equal(await wh.countRecords(c), 10, 'every record version kept in records');
      const read = async (table: string) => (await readProjection(sql, projectionByTable(table)!, { clinicId: c, residentId: rid, limit: 100, offset: 0 })).rows;
      t.match(await read('dw_resident'), [{ resident_id: rid, name: '王秀英', sex_code: '2', birth_date: '1980-01-01', id_type_code: '01', id_number: '110101195603070026', ethnicity_code: '01', source_clinic_id: c }]);
      t.same((await read('dw_resident_identifier')).map((x) => [x.system, x.value]), [['id-document/01', '110101195603070026'], ['insurance-card', 'INS-9']]);
      t.match(await read('dw_encounter'), [
        { clinic_id: c, record_id: 'e1', version: 2, encounter_id: 'e1', department_code: 'GP', visit_at: '2026-03-01T00:30:00.000Z', chief_complaint: '头晕', fee_fen: 1500 },
        { record_id: 'e2', version: 2, chief_complaint: 'v2' },
      ], 'a late older version changes nothing');
      t.same((await read('dw_diagnosis')).map((x) => [x.version, x.line_no, x.diagnosis_code, x.is_primary]), [[2, 0, 'J06.900', true]], 'the correction replaced both diagnoses');
      t.match(await read('dw_observation'), [{ code: '8480-6', value_num: 150, implausible: false, effective_at: '2026-03-01T00:40:00.000Z' }]);
      t.match(await read('dw_lab_result'), [{ test_code: '2823-3', value_text: '6.4', value_num: 6.4, flag: 'HH' }]);
      t.match(await read('dw_imaging_study'), [{ study_instance_uid: '1.2.3', study_date: '2026-03-01', instance_count: 4 }]);
      t.match(await read('dw_order'), [{ order_id: 'or1', kind: 'lab', status: 'completed' }]);
      // Resident overwritten by a later writer elsewhere: the projection follows the master row.
      const other = clinic('proj2');
      await wh.ingest([resident(other, 1, rid, { name: '王秀英', sex: '2', idType: '01', idNumber: '110101195603070026', phone: '139' }, hlc(1_800_000_000_100, other))]);
      t.match(await read('dw_resident'), [{ phone: '139', source_clinic_id: other, insurance_card_no: null }]);
      t.same((await read('dw_resident_identifier')).length, 1, 'identifiers follow the winner');
    });

    tt.test('projections of the clinic and care record types (payloads validated by their registry schemas)', async (t) => {
      const c = clinic('proj3');
      const sql = sqlFor(wh);
      t.same(projections.filter((p) => p.source.kind === 'record' && !RECORD_TYPE_NAMES.includes(p.source.type as RecordType)).map((p) => p.table), [], 'every projected type is a registered record type');
      let seq = 0;
      const rec = (type: RecordType, recordId: string, payload: unknown): IngestItem => {
        const p = recordTypes[type].parse(payload);
        seq++;
        return { kind: 'record', envelope: envelope(c, seq, type, recordId, p), type, payload: p, hash: `h:${c}:${seq}`, raw: '' };
      };
      const at = '2026-04-01T09:00:00+08:00';
      const line = (lineNo: number, drugCode: string, vbp: boolean) => ({ lineNo, drugCode, drugName: `药${lineNo}`, spec: '5mg*28片', dose: 5, doseUnit: 'mg', frequency: 'qd', route: 'po', days: 28, quantity: 1, unit: '盒', volumeProcurement: vbp });
      const r = await wh.ingest([
        rec('prescription', 'rx1', { prescriptionId: 'rx1', encounterId: 'e1', residentId: 'r1', prescriber: 'doc', issuedAt: at, status: 'active', items: [line(1, '86900000000011', true), line(2, '86900000000028', false)] }),
        rec('charge', 'ch1', { chargeId: 'ch1', residentId: 'r1', sourceKind: 'prescription', itemCode: '86900000000011', itemName: '药1', category: 'western_drug', quantity: 1, unit: '盒', unitPriceFen: 1260, amountFen: 1260, dispensable: true, status: 'paid', createdBy: 'cashier', createdAt: at }),
        rec('chronic_followup', 'fu1', { followupId: 'fu1', residentId: 'r1', enrolmentId: 'en1', disease: 'HTN', date: '2026-04-01', mode: 'clinic', sbp: 150, dbp: 95, control: 'uncontrolled', urgentReferral: false, nextDueDate: '2026-04-15', doctorCode: 'D0001' }),
        rec('fd_contract', 'fc1', { contractId: 'fc1', residentId: 'r1', teamId: 'T1', doctorCode: 'D0001', packageIds: ['basic', 'htn'], status: 'signed', signedDate: '2026-01-05', startDate: '2026-01-05', endDate: '2027-01-04', keyPopulationTags: ['elderly', 'hypertension'], signMethod: 'id_card', signerName: '王秀英', feeFen: 0 }),
        rec('settlement', 'st1', { settlementId: 'st1', cashier: 'cashier', date: '2026-04-01', fromAt: '2026-04-01T08:00:00+08:00', toAt: '2026-04-01T17:00:00+08:00', invoiceCount: 3, reversalCount: 1, firstInvoiceNo: 'A001', lastInvoiceNo: 'A004', grossFen: 5000, refundFen: -1260, netFen: 3740, byMethod: { cash: 3740 }, byCategory: { western_drug: 3740 }, settledBy: 'cashier', settledAt: '2026-04-01T17:05:00+08:00' }),
        rec('dispense', 'dp1', { dispenseId: 'dp1', kind: 'dispense', residentId: 'r1', lines: [{ chargeId: 'ch1', drugCode: '86900000000011', batchNo: 'B1', quantity: 1 }, { chargeId: 'ch2', drugCode: '86900000000028', batchNo: 'B2', quantity: 2 }], byUser: 'pharm', at: at }),
      ]);
      t.ok(r.outcomes.every((o) => o === 'applied'));
      const rows = async (table: string) => (await readProjection(sql, projectionByTable(table)!, { clinicId: c, limit: 10, offset: 0 })).rows;
      t.match(await rows('dw_prescription_item'), [{ line_no: 0, item_line_no: 1, drug_code: '86900000000011', volume_procurement: true, frequency: 'qd', issued_at: '2026-04-01T01:00:00.000Z' }, { line_no: 1, drug_code: '86900000000028', volume_procurement: false }]);
      t.match(await rows('dw_charge'), [{ charge_id: 'ch1', category: 'western_drug', amount_fen: 1260 }]);
      t.match(await rows('dw_chronic_followup'), [{ disease: 'HTN', followup_date: '2026-04-01', sbp: 150, control: 'uncontrolled', urgent_referral: false, next_due_date: '2026-04-15' }]);
      t.match(await rows('dw_fd_contract'), [{ package_ids: 'basic,htn', key_population_tags: 'elderly,hypertension', end_date: '2027-01-04' }]);
      t.match(await rows('dw_settlement'), [{ settlement_id: 'st1', settlement_date: '2026-04-01', to_at: '2026-04-01T09:00:00.000Z', net_fen: 3740, refund_fen: -1260, by_method: '{"cash":3740}' }]);
      t.same((await rows('dw_dispense_item')).map((x) => [x.line_no, x.charge_id, x.drug_code, x.quantity, x.resident_id]), [[0, 'ch1', '86900000000011', 1, 'r1'], [1, 'ch2', '86900000000028', 2, 'r1']]);
    });

    tt.test('projection rows of a large batch (multi-row inserts) and a correction in a later batch', async (t) => {
      const c = clinic('proj4');
      const sql = sqlFor(wh);
      let seq = 0;
      const rec = (type: RecordType, recordId: string, payload: unknown, version = 1): IngestItem => {
        const p = recordTypes[type].parse(payload);
        seq++;
        return { kind: 'record', envelope: envelope(c, seq, type, recordId, p, { version }), type, payload: p, hash: `h:${c}:${seq}`, raw: '' };
      };
      const at = '2026-05-01T09:00:00+08:00';
      const line = (lineNo: number) => ({ lineNo, drugCode: `8690000000001${lineNo}`, drugName: `药${lineNo}`, spec: '5mg*28片', dose: 5, doseUnit: 'mg', frequency: 'qd', route: 'po', days: 28, quantity: 1, unit: '盒', volumeProcurement: false });
      const rx = (i: number, lines: number, version = 1) => rec('prescription', `rx${i}`, { prescriptionId: `rx${i}`, encounterId: `e${i}`, residentId: `r${i % 7}`, prescriber: 'doc', issuedAt: at, status: 'active', items: Array.from({ length: lines }, (_, k) => line(k + 1)) }, version);
      // 150 readings (not a multiple of any chunk size) and 31 prescriptions of 3 lines (93 rows).
      const batch: IngestItem[] = [];
      for (let i = 0; i < 150; i++) batch.push(rec('observation', `o${i}`, { observationId: `o${i}`, residentId: `r${i % 7}`, code: '8480-6', display: '收缩压', value: 100 + i, unit: 'mm[Hg]', effectiveAt: at, implausible: false }));
      for (let i = 0; i < 31; i++) batch.push(rx(i, 3));
      const r = await wh.ingest(batch);
      t.ok(r.outcomes.every((o) => o === 'applied'));
      const count = async (table: string) => (await readProjection(sql, projectionByTable(table)!, { clinicId: c, limit: 1, offset: 0 })).total;
      t.equal(await count('dw_observation'), 150, 'one row per reading');
      t.equal(await count('dw_prescription_item'), 93, 'one row per prescription line');
      const obsRows = (await readProjection(sql, projectionByTable('dw_observation')!, { clinicId: c, residentId: 'r3', limit: 100, offset: 0 })).rows;
      t.same(obsRows.map((x) => x.value_num).sort((a, b) => Number(a) - Number(b)), Array.from({ length: 150 }, (_, i) => i).filter((i) => i % 7 === 3).map((i) => 100 + i), 'each row carries its own values');
      // A correction of rx5 with one line, in the next batch, next to a new prescription.
      const r2 = await wh.ingest([rx(5, 1, 2), rx(99, 2)]);
      t.ok(r2.outcomes.every((o) => o === 'applied'));
      const lines = (await readProjection(sql, projectionByTable('dw_prescription_item')!, { clinicId: c, residentId: 'r5', limit: 100, offset: 0 })).rows.filter((x) => x.record_id === 'rx5');
      t.same(lines.map((x) => [x.version, x.item_line_no]), [[2, 1]], 'the correction replaced the three lines');
      t.equal(await count('dw_prescription_item'), 93 - 3 + 1 + 2);
      // rx101 arrives as version 2 first; its version 1 comes in a later batch (kept in records,
      // projects nothing), next to rx7's version 1 again at a new seq (same content: no new row)
      // and a new prescription.
      t.ok((await wh.ingest([rx(101, 1, 2)])).outcomes.every((o) => o === 'applied'));
      const r3 = await wh.ingest([rx(101, 3, 1), rx(7, 3), rx(100, 2)]);
      t.ok(r3.outcomes.every((o) => o === 'applied'));
      t.same(r3.deadLetters.map((d) => d.reason), [], 'a same-content record at a new seq is no collision');
      t.equal(await wh.countRecords(c), 150 + 31 + 2 + 3, 'rx101 v1 kept, rx7 not stored twice');
      const lines101 = (await readProjection(sql, projectionByTable('dw_prescription_item')!, { clinicId: c, residentId: `r${101 % 7}`, limit: 100, offset: 0 })).rows.filter((x) => x.record_id === 'rx101');
      t.same(lines101.map((x) => [x.version, x.item_line_no]), [[2, 1]], 'a late older version changes nothing');
      t.equal(await count('dw_prescription_item'), 93 - 3 + 1 + 2 + 1 + 2, 'only the new prescriptions added rows');
    });

    tt.test('property: any permutation with duplications of a stream ends at watermark N, each seq applied once, in order', async (t) => {
      const arb = fc.integer({ min: 1, max: 25 }).chain((n) => fc.record({
        n: fc.constant(n),
        // Every seq at least once, some twice or three times, in any order.
        deliveries: fc.shuffledSubarray(range(1, n).flatMap((s) => [s, s, s]), { minLength: 3 * n, maxLength: 3 * n })
          .chain((all) => fc.array(fc.boolean(), { minLength: all.length, maxLength: all.length }).map((keep) => {
            const firsts = new Set<number>();
            return all.filter((s, i) => { const first = !firsts.has(s); firsts.add(s); return first || keep[i]; });
          })),
        cuts: fc.array(fc.integer({ min: 1, max: 8 }), { minLength: 1, maxLength: 80 }),
        deadSeqs: fc.subarray(range(1, n), { maxLength: Math.min(3, n) }),
      }));
      await fc.assert(fc.asyncProperty(arb, async ({ n, deliveries, cuts, deadSeqs }) => {
        const c = clinic('prop');
        const dead = new Set(deadSeqs);
        const items = deliveries.map((s) => (dead.has(s) ? deadItem(c, s) : obs(c, s)));
        for (let i = 0, k = 0; i < items.length; k++) {
          const size = cuts[k % cuts.length]!;
          await wh.ingest(items.slice(i, i + size));
          i += size;
        }
        const w = await wh.watermark(c);
        const seqs = await wh.appliedSeqs(c);
        const ok = w.appliedSeq === n && w.pendingAbove === 0 && seqs.length === n && seqs.every((s, i) => s === i + 1)
          && (await wh.countRecords(c)) === n - dead.size;
        if (!ok) throw new Error(`clinic ${c}: watermark ${JSON.stringify(w)}, applied ${JSON.stringify(seqs)}`);
      }), { numRuns: 40 });
      t.pass('property holds');
    });
  });
}
