/**
 * Data-exchange availability (central/availability): the report's arithmetic against a brute
 * force over generated outages (fast-check), and the outage log on both warehouse backends.
 */
import t from 'tap';
import fc from 'fast-check';
import pino from 'pino';
import { computeAvailability, ExchangeAvailability, type MaintenanceWindow, type Outage } from '../../central/availability/index.ts';
import { parsePeriodBound } from '../../central/api.ts';
import type { Warehouse } from '../../central/warehouse/types.ts';
import { all, run, sqlFor } from '../../central/empi/sql.ts';
import { postgresTestWarehouse, sqliteTestWarehouse, type TestWarehouse } from './postgres.ts';

const T0 = Date.parse('2026-03-01T00:00:00Z');
const at = (s: number) => new Date(T0 + s * 1000);
const iso = (s: number) => at(s).toISOString();

t.test('generated outage logs: availability and downtime equal a brute-force count', async (t) => {
  const outage = fc.record({ clinic: fc.constantFrom('a', 'b'), start: fc.integer({ min: 0, max: 400 }), len: fc.integer({ min: 1, max: 200 }), open: fc.boolean(), cause: fc.constantFrom('clinic' as const, 'district' as const) });
  const volume = fc.record({ records: fc.integer({ min: 0, max: 100_000 }), lost: fc.integer({ min: 0, max: 300 }) });
  fc.assert(fc.property(fc.array(outage, { maxLength: 8 }), fc.integer({ min: 0, max: 300 }), fc.integer({ min: 1, max: 300 }), fc.integer({ min: 0, max: 500 }), fc.option(fc.integer({ min: 0, max: 500 }), { nil: null }), volume, volume, (raw, from, len, nowS, firstSeen, va, vb) => {
    const to = from + len;
    const outages: Outage[] = raw.map((o) => ({ clinicId: o.clinic, startedAt: iso(o.start), endedAt: o.open ? null : iso(o.start + o.len), cause: o.cause }));
    const vol = { a: va, b: vb } as Record<string, typeof va>;
    const r = computeAvailability([{ clinicId: 'a', firstSeen: firstSeen === null ? null : iso(firstSeen), records: va.records, lostRecords: va.lost }, { clinicId: 'b', firstSeen: null, records: vb.records, lostRecords: vb.lost }], outages, at(from), at(to), at(nowS));
    for (const row of r.clinics) {
      // Loss rate: lost over records, never above 1, 0 with neither; the target is below 0.1 %.
      const v = vol[row.clinicId]!;
      const expectedRate = v.lost === 0 ? 0 : v.lost / Math.max(v.records, v.lost);
      if (Math.abs(row.lossRate - expectedRate) > 1e-12 || row.lossRate < 0 || row.lossRate > 1) return false;
      if (row.lostRecords !== v.lost || row.records < row.lostRecords) return false;
      const start = Math.max(from, row.clinicId === 'a' && firstSeen !== null ? firstSeen : from);
      const end = Math.min(to, nowS);
      let down = 0;
      for (let s = start; s < end; s++) {
        if (outages.some((o) => o.clinicId === row.clinicId && Date.parse(o.startedAt) <= at(s).getTime() && (o.endedAt ? Date.parse(o.endedAt) : at(nowS).getTime()) >= at(s + 1).getTime())) down++;
      }
      const span = Math.max(0, end - start);
      if (row.downtimeSeconds !== down) return false;
      if (Math.abs(row.availability - (span > 0 ? 1 - down / span : 1)) > 1e-12) return false;
      if (row.availability < 0 || row.availability > 1) return false;
      if (row.meetsTarget !== (row.availability >= 0.999 && row.longestOutageSeconds <= 7200 && (v.lost === 0 || v.lost * 1000 < Math.max(v.records, v.lost)))) return false;
      if (row.downtimeSeconds > 0 && row.longestOutageSeconds <= 0) return false;
    }
    return true;
  }), { numRuns: 500 });
  t.pass('500 generated logs');
});

t.test('generated outages and planned maintenance windows: downtime, planned time and the longest outage equal a brute-force count', async (t) => {
  const outage = fc.record({ clinic: fc.constantFrom('a', 'b'), start: fc.integer({ min: 0, max: 400 }), len: fc.integer({ min: 1, max: 200 }), open: fc.boolean(), cause: fc.constantFrom('clinic' as const, 'district' as const) });
  const window = fc.record({ clinic: fc.constantFrom('a', 'b', null), start: fc.integer({ min: 0, max: 500 }), len: fc.integer({ min: 1, max: 200 }), declared: fc.integer({ min: -100, max: 150 }), cancelled: fc.option(fc.integer({ min: -50, max: 250 }), { nil: null }) });
  const away = fc.option(fc.record({ start: fc.integer({ min: 0, max: 500 }), len: fc.integer({ min: 1, max: 300 }), open: fc.boolean() }), { nil: null });
  fc.assert(fc.property(fc.array(outage, { maxLength: 6 }), fc.array(window, { maxLength: 4 }), fc.integer({ min: 0, max: 300 }), fc.integer({ min: 1, max: 300 }), fc.integer({ min: 0, max: 500 }), away, (raw, rawWindows, from, len, nowS, retired) => {
    const to = from + len;
    // Clinic a was out of service (停用) for a while, or still is: that time is not measured.
    const outOfService = retired ? [{ from: iso(retired.start), to: retired.open ? null : iso(retired.start + retired.len) }] : [];
    const awayAt = (clinic: string, s: number) => clinic === 'a' && retired !== null && s >= retired.start && s + 1 <= (retired.open ? Math.max(nowS, retired.start) : retired.start + retired.len);
    const outages: Outage[] = raw.map((o) => ({ clinicId: o.clinic, startedAt: iso(o.start), endedAt: o.open ? null : iso(o.start + o.len), cause: o.cause }));
    const windows: MaintenanceWindow[] = rawWindows.map((w, i) => ({ id: i + 1, clinicId: w.clinic, startsAt: iso(w.start), endsAt: iso(w.start + w.len), reason: 'test', declaredBy: 'ops', declaredAt: iso(w.start + w.declared), cancelledAt: w.cancelled === null ? null : iso(w.start + w.cancelled) }));
    const r = computeAvailability([{ clinicId: 'a', firstSeen: null, outOfService }, { clinicId: 'b', firstSeen: null }], outages, at(from), at(to), at(nowS), windows);
    // A second s is planned when a window of its clinic (or of all) was declared by then, and had neither ended nor been cancelled.
    const planned = (clinic: string, s: number) => rawWindows.some((w) => (w.clinic === null || w.clinic === clinic) && s >= w.start && s >= w.start + w.declared && s + 1 <= w.start + w.len && (w.cancelled === null || s + 1 <= w.start + w.cancelled));
    const endOf = (o: (typeof raw)[number]) => (o.open ? nowS : o.start + o.len);
    for (const row of r.clinics) {
      const own = raw.filter((o) => o.clinic === row.clinicId);
      const end = Math.min(to, nowS);
      let down = 0;
      let plannedS = 0;
      let span = 0;
      const measuredS = new Set<number>();
      for (let s = from; s < end; s++) {
        if (awayAt(row.clinicId, s)) continue;
        span++;
        measuredS.add(s);
        if (!own.some((o) => o.start <= s && endOf(o) >= s + 1)) continue;
        if (planned(row.clinicId, s)) plannedS++; else down++;
      }
      if (row.downtimeSeconds !== down || row.plannedSeconds !== plannedS) return false;
      if (Math.abs(row.availability - (span > 0 ? 1 - down / span : 1)) > 1e-12) return false;
      // The longest stretch of an outage overlapping the measured time outside the windows, whole (not clipped to the period).
      const inPeriod = own.filter((o) => { for (let s = o.start; s < endOf(o); s++) if (measuredS.has(s)) return true; return false; });
      let longest = 0;
      let allPlanned = 0;
      for (const o of inPeriod) {
        let run = 0;
        let unplanned = 0;
        for (let s = o.start; s < endOf(o); s++) {
          if (planned(row.clinicId, s)) run = 0; else { run++; unplanned++; longest = Math.max(longest, run); }
        }
        if (unplanned === 0) allPlanned++;
      }
      if (row.longestOutageSeconds !== longest) return false;
      if (row.byCause.planned !== allPlanned || row.byCause.clinic + row.byCause.district + row.byCause.planned !== row.outages || row.outages !== inPeriod.length) return false;
    }
    for (const o of r.outages) {
      let p = 0;
      const e = o.endedAt ? Date.parse(o.endedAt) : at(nowS).getTime();
      const startS = (Date.parse(o.startedAt) - T0) / 1000;
      const endS = (e - T0) / 1000;
      for (let s = startS; s < endS; s++) if (planned(o.clinicId, s)) p++;
      const expected = p === 0 ? 'none' : p >= endS - startS ? 'all' : 'partly';
      if (o.planned !== expected) return false;
    }
    return true;
  }), { numRuns: 500 });
  t.pass('500 generated logs with windows');
});

t.test('period bounds: dates are midnight China time; anything else refused', async (t) => {
  t.equal(parsePeriodBound('2026-03-01')?.toISOString(), '2026-02-28T16:00:00.000Z');
  t.equal(parsePeriodBound('2026-03-01T08:30:00Z')?.toISOString(), '2026-03-01T08:30:00.000Z');
  for (const bad of ['', 'yesterday', '2026-13-45', '2026-3-1', '1e12', '2026-03-01T99:00:00Z']) t.equal(parsePeriodBound(bad), null, `refused: ${JSON.stringify(bad)}`);
  fc.assert(fc.property(fc.string({ maxLength: 40 }), (s) => { const d = parsePeriodBound(s); return d === null || !Number.isNaN(d.getTime()); }), { numRuns: 500 });
});

const heartbeat = (wh: Warehouse, clinicId: string) => wh.recordHeartbeat({ clinicId, agentVersion: '0.1.0', at: new Date().toISOString(), lastSeq: 0, receiptSeq: 0, outboxDepth: 0, oldestPendingAgeSec: 0, relayState: 'connected', dictionaries: {} });

for (const [name, open] of [['sqlite', sqliteTestWarehouse], ['postgres', postgresTestWarehouse]] as const) {
  t.test(`outage log on ${name}: opened by a silence, closed by the next heartbeat, reported`, async (t) => {
    const tw: TestWarehouse = await open(`avail${name}`);
    t.teardown(tw.cleanup);
    const { wh } = tw;
    const log = pino({ level: 'silent' });
    const a = new ExchangeAvailability(wh, log, 1000);
    await heartbeat(wh, 'c-a');
    await a.onHeartbeat('c-a');
    await heartbeat(wh, 'c-b');
    await a.onHeartbeat('c-b');
    await heartbeat(wh, 'c-c');
    await a.onHeartbeat('c-c');
    const last = Date.parse((await wh.fleet()).find((f) => f.clinicId === 'c-a')!.lastHeartbeatAt!);
    const lastB = Date.parse((await wh.fleet()).find((f) => f.clinicId === 'c-b')!.lastHeartbeatAt!);
    const sql = sqlFor(wh);
    const beatAt = (id: string, ms: number) => sql.tx(function* () { yield* run('UPDATE fleet SET last_heartbeat_at = ? WHERE clinic_id = ?', [new Date(ms).toISOString(), id]); });
    // c-c beats on: central hears someone, so the silences of c-a and c-b are theirs.
    await beatAt('c-c', last + 2400);
    t.equal(await a.tick(true, new Date(last + 500)), 0, 'nobody silent yet');
    t.equal(await a.tick(true, new Date(last + 1500)), 2, 'both silent: two outages opened');
    t.equal(await a.tick(true, new Date(last + 2500)), 0, 'not opened twice');
    const open1 = await a.outages(new Date(last - 60_000), new Date(last + 60_000));
    t.same(open1.map((o) => [o.clinicId, o.endedAt, o.cause]), [['c-a', null, 'clinic'], ['c-b', null, 'clinic']], 'open, central listening: the clinic side');
    t.equal(Date.parse(open1[0]!.startedAt), last, 'the outage starts at the last heartbeat');
    await a.onHeartbeat('c-a', new Date(last + 10_000));
    const closed = (await a.outages(new Date(last - 60_000), new Date(last + 60_000))).find((o) => o.clinicId === 'c-a')!;
    t.equal(Date.parse(closed.endedAt!), last + 10_000, 'closed at the heartbeat back');
    // A second instance (central restarted) sees the open outage of c-b and closes it.
    const b = new ExchangeAvailability(wh, log, 1000);
    await b.onHeartbeat('c-b', new Date(last + 20_000));
    // Both beat on for a while (central's fleet row says when last), then central loses the hub:
    // the silences that follow are the district side's.
    for (const [id, ms] of [['c-a', last + 12_000], ['c-b', last + 28_000], ['c-c', last + 39_500]] as const) await beatAt(id, ms);
    t.equal(await b.tick(false, new Date(last + 40_000)), 2, 'both silent again while central is not connected');
    t.same((await b.outages(new Date(last + 30_000), new Date(last + 60_000))).map((o) => [o.clinicId, o.cause]), [['c-a', 'district'], ['c-b', 'district']], 'district side');
    const r = await b.report(new Date(last - 10_000), new Date(last + 30_000), new Date(last + 30_000));
    const byId = Object.fromEntries(r.clinics.map((c) => [c.clinicId, c]));
    // Within a tenth of a second: the clinics' first heartbeats and c-b's were recorded a few ms after `last`,
    // and a clinic is measured from the moment central handled its first heartbeat (on a loaded machine
    // up to tens of ms after the heartbeat's own time in the fleet row: 72 ms seen once).
    t.ok(Math.abs(byId['c-a']!.downtimeSeconds - 28) < 0.1, `c-a down 10 s, then 18 s to the end of the period (${byId['c-a']!.downtimeSeconds} s)`);
    t.ok(Math.abs(byId['c-b']!.downtimeSeconds - (2 + (last + 20_000 - lastB) / 1000)) < 0.1, `c-b down from its own last heartbeat (${lastB - last} ms after c-a's) to 20 s after c-a's, then 2 s (${byId['c-b']!.downtimeSeconds} s)`);
    t.equal(r.clinics[0]!.clinicId, 'c-a', 'worst first');
    t.notOk(byId['c-b']!.meetsTarget, 'below 99.9 %: target not met');
    t.same(byId['c-b']!.byCause, { clinic: 1, district: 1, planned: 0 });
    t.equal(byId['c-b']!.outages, 2);
    t.equal(byId['c-b']!.downSince, new Date(last + 28_000).toISOString(), 'one still open, since the last heartbeat');
    // Central connected, but no clinic heard at all (a hub cut off by the network, not yet noticed by the client): the district side.
    await b.onHeartbeat('c-a', new Date(last + 50_000));
    await b.onHeartbeat('c-b', new Date(last + 50_000));
    for (const id of ['c-a', 'c-b']) await beatAt(id, last + 50_000);
    t.equal(await b.tick(true, new Date(last + 60_000)), 3, 'all three silent');
    t.same((await b.outages(new Date(last + 55_000), new Date(last + 70_000))).map((o) => o.cause), ['district', 'district', 'district'], 'every clinic silent at once: the district side, though central is connected');
    // What was lost and refused in a period: from the dead letters received in it.
    const letter = (reason: string, ms: number) => sql.tx(function* () { yield* run('INSERT INTO dead_letters (subject, clinic_id, seq, reason, detail, raw, received_at) VALUES (?, ?, ?, ?, ?, ?, ?)', ['clinic.c-a.rec.resident', 'c-a', 7, reason, 'test', Buffer.from('x'), new Date(ms).toISOString()]); });
    await letter('lost_at_source', last + 5_000);
    await letter('schema', last + 6_000);
    await letter('clinic_mismatch', last + 7_000);
    await letter('lost_at_source', last + 90_000); // after the period
    const withLetters = Object.fromEntries((await b.report(new Date(last - 10_000), new Date(last + 30_000), new Date(last + 30_000))).clinics.map((c) => [c.clinicId, c]));
    t.same([withLetters['c-a']!.lostRecords, withLetters['c-a']!.refusedRecords], [1, 2], 'c-a: one record lost at source, two refused in the period');
    t.same([withLetters['c-b']!.lostRecords, withLetters['c-b']!.refusedRecords], [0, 0], 'c-b: none');
    const later = await b.report(new Date(last - 10_000), new Date(last + 3_600_000), new Date(last + 45_000));
    t.equal(later.measuredSeconds, 55, 'a period not over is measured up to now');
  });
}

for (const [name, open] of [['sqlite', sqliteTestWarehouse], ['postgres', postgresTestWarehouse]] as const) {
  t.test(`loss rate on ${name}: records of a period from the hourly watermark log`, async (t) => {
    const tw: TestWarehouse = await open(`volume${name}`);
    t.teardown(tw.cleanup);
    const { wh } = tw;
    const a = new ExchangeAvailability(wh, pino({ level: 'silent' }), 1000);
    const sql = sqlFor(wh);
    const H = Date.parse('2026-03-01T16:00:00Z'); // midnight of 2 March, China time
    const min = 60_000;
    const hour = 60 * min;
    const watermark = (id: string, seq: number) => sql.tx(function* () {
      yield* run('INSERT INTO clinic_state (clinic_id, applied_seq, records_applied, updated_at) VALUES (?, ?, ?, ?) ON CONFLICT (clinic_id) DO UPDATE SET applied_seq = excluded.applied_seq', [id, seq, seq, new Date(H).toISOString()]);
    });
    const sampleAt = async (id: string, seq: number, ms: number) => { await watermark(id, seq); await a.sampleVolume(new Date(ms)); };
    for (const id of ['v-a', 'v-b']) { await heartbeat(wh, id); await a.onHeartbeat(id); }
    await sampleAt('v-a', 100, H - 110 * min);
    await sampleAt('v-a', 250, H - 30 * min);
    await sampleAt('v-a', 400, H - 1 * min);
    await a.sampleVolume(new Date(H - 30_000)); // unchanged: nothing written
    await sampleAt('v-a', 1400, H + 2 * hour + 5 * min);
    await sampleAt('v-a', 2400, H + 5 * hour);
    const rows = await sql.tx(function* () { return yield* all<{ hour: string; seq_first: number | string; seq_last: number | string }>("SELECT hour, seq_first, seq_last FROM exchange_volume WHERE clinic_id = 'v-a' ORDER BY hour"); });
    t.same(rows.map((r) => [Date.parse(r.hour) - H, Number(r.seq_first), Number(r.seq_last)]), [[-2 * hour, 0, 100], [-hour, 250, 400], [2 * hour, 1400, 1400], [5 * hour, 2400, 2400]], 'one row per clinic and hour: the first and the last watermark seen in it (a clinic new to central starts at 0)');
    const letter = (ms: number) => sql.tx(function* () { yield* run('INSERT INTO dead_letters (subject, clinic_id, seq, reason, detail, raw, received_at) VALUES (?, ?, ?, ?, ?, ?, ?)', ['clinic.v-a.rec.resident', 'v-a', 7, 'lost_at_source', 'test', Buffer.from('x'), new Date(ms).toISOString()]); });
    await letter(H + hour);
    await letter(H + 2 * hour);
    const now = new Date(H + 10 * hour);
    const rowOf = async (from: number, to: number) => (await a.report(new Date(from), new Date(to), now)).clinics.find((c) => c.clinicId === 'v-a')!;
    const day = await rowOf(H, H + 3 * hour);
    t.same([day.records, day.lostRecords, day.recordsCountedFrom], [1000, 2, null], 'the watermark at the period\'s end (last logged before it) less the one at its start: 1400 - 400');
    t.equal(day.lossRate, 0.002, 'two lost of 1,000');
    t.notOk(day.meetsTarget, 'a loss of 0.2 % misses the target (< 0.1 %) though no outage');
    t.equal(day.availability, 1);
    t.equal((await rowOf(H, H + 24 * hour)).records, 2000, 'a period not over ends at the live watermark (2400 - 400)');
    const early = await rowOf(H - 3 * hour, H);
    t.same([early.records, early.recordsCountedFrom, early.lossRate, early.meetsTarget], [400, null, 0, true], 'the clinic\'s first records counted from 0: none left out');
    // A central upgraded to the volume log while a clinic already had records: its log starts at the first check, and the report says so.
    await watermark('v-c', 500);
    const upgraded = new ExchangeAvailability(wh, pino({ level: 'silent' }), 1000);
    await watermark('v-c', 520);
    await upgraded.sampleVolume(new Date(H + 3 * hour + 10 * min));
    await watermark('v-c', 600);
    await upgraded.sampleVolume(new Date(H + 4 * hour));
    const vc = (await upgraded.report(new Date(H), new Date(H + 5 * hour), now)).clinics.find((c) => c.clinicId === 'v-c');
    t.same([vc?.records, vc?.recordsCountedFrom], [80, new Date(H + 3 * hour).toISOString()], 'a clinic with records before the log: counted from the log\'s first hour (600 - 520), and the report says so');
    t.equal((await upgraded.report(new Date(H), new Date(H + 3 * hour), now)).clinics.find((c) => c.clinicId === 'v-a')!.records, 1000, 'another instance (central restarted) reads the same log');
    const other = (await a.report(new Date(H), new Date(H + 3 * hour), now)).clinics.find((c) => c.clinicId === 'v-b')!;
    t.same([other.records, other.lossRate, other.meetsTarget], [0, 0, true], 'a clinic with no record yet: nothing counted, nothing lost');
  });
}

for (const [name, open] of [['sqlite', sqliteTestWarehouse], ['postgres', postgresTestWarehouse]] as const) {
  t.test(`planned maintenance on ${name}: declared, refused with reasons, cancelled, and its outage time reported as planned`, async (t) => {
    const tw: TestWarehouse = await open(`maint${name}`);
    t.teardown(tw.cleanup);
    const { wh } = tw;
    const a = new ExchangeAvailability(wh, pino({ level: 'silent' }), 1000);
    for (const id of ['m-a', 'm-b']) { await heartbeat(wh, id); await a.onHeartbeat(id); }
    const now = Date.now();
    const h = 3_600_000;
    const bad: [Parameters<ExchangeAvailability['declareMaintenance']>[0], RegExp][] = [
      [{ clinicId: 'm-a', startsAt: 'tomorrow', endsAt: new Date(now + h).toISOString(), reason: 'x', declaredBy: 'ops' }, /ISO/],
      [{ clinicId: 'm-a', startsAt: '2026-12-03 20:00', endsAt: new Date(now + h).toISOString(), reason: 'x', declaredBy: 'ops' }, /with a zone/],
      [{ clinicId: 'm-a', startsAt: '2026-12-03T20:00:00', endsAt: new Date(now + h).toISOString(), reason: 'x', declaredBy: 'ops' }, /with a zone/],
      [{ clinicId: 'm-a', startsAt: new Date(now + 2 * h).toISOString(), endsAt: new Date(now + h).toISOString(), reason: 'x', declaredBy: 'ops' }, /end after it starts/],
      [{ clinicId: 'm-a', startsAt: new Date(now - 3 * h).toISOString(), endsAt: new Date(now - h).toISOString(), reason: 'x', declaredBy: 'ops' }, /over/],
      [{ clinicId: 'm-a', startsAt: new Date(now).toISOString(), endsAt: new Date(now + 73 * h).toISOString(), reason: 'x', declaredBy: 'ops' }, /72 hours/],
      [{ clinicId: 'm-a', startsAt: new Date(now + 400 * 24 * h).toISOString(), endsAt: new Date(now + 401 * 24 * h).toISOString(), reason: 'x', declaredBy: 'ops' }, /year/],
      [{ clinicId: 'm-a', startsAt: new Date(now).toISOString(), endsAt: new Date(now + h).toISOString(), reason: '   ', declaredBy: 'ops' }, /reason/],
      [{ clinicId: 'nobody', startsAt: new Date(now).toISOString(), endsAt: new Date(now + h).toISOString(), reason: 'x', declaredBy: 'ops' }, /unknown clinic nobody/],
    ];
    for (const [w, why] of bad) await t.rejects(a.declareMaintenance(w), why, `refused: ${why}`);
    t.same(await a.maintenance(new Date(now - 24 * h), new Date(now + 24 * h)), [], 'nothing stored by the refusals');
    // Declared 10 min ago, from 12 min ago (it counts from its declaration only) to an hour ahead.
    const w1 = await a.declareMaintenance({ clinicId: 'm-a', startsAt: new Date(now - 12 * 60_000).toISOString(), endsAt: new Date(now + h).toISOString(), reason: '交换机更换 switch replacement', declaredBy: 'ops' }, new Date(now - 10 * 60_000));
    const all = await a.declareMaintenance({ clinicId: null, startsAt: new Date(now + 2 * h).toISOString(), endsAt: new Date(now + 3 * h).toISOString(), reason: 'hub upgrade', declaredBy: 'ops' }, new Date(now - 60_000));
    t.ok(w1.id > 0 && all.id > w1.id, 'ids assigned');
    const m = await a.inMaintenance(new Date(now));
    t.same([m.all, [...m.clinics]], [false, ['m-a']], 'm-a in its window now');
    t.same((await a.inMaintenance(new Date(now + 2.5 * h))).all, true, 'the hub window covers every clinic');
    // m-a and m-b went silent 5 min ago (an outage of each, from then on); both have been heard from for 2 h.
    const sql = sqlFor(wh);
    await sql.tx(function* () { yield* run('UPDATE exchange_clinics SET first_seen = ?', [new Date(now - 2 * h).toISOString()]); });
    for (const id of ['m-a', 'm-b']) await sql.tx(function* () { yield* run('INSERT INTO exchange_outages (clinic_id, started_at, ended_at, cause) VALUES (?, ?, ?, ?)', [id, new Date(now - 5 * 60_000).toISOString(), new Date(now).toISOString(), 'clinic']); });
    // An outage that began before the declaration (20 min ago, for 14.5 min): only the part after it is planned.
    await sql.tx(function* () { yield* run('INSERT INTO exchange_outages (clinic_id, started_at, ended_at, cause) VALUES (?, ?, ?, ?)', ['m-a', new Date(now - 20 * 60_000).toISOString(), new Date(now - 30_000 - 5 * 60_000).toISOString(), 'clinic']); });
    const r = await a.report(new Date(now - h), new Date(now), new Date(now));
    const row = (id: string) => r.clinics.find((c) => c.clinicId === id)!;
    t.same([row('m-a').downtimeSeconds, row('m-a').plannedSeconds], [10 * 60, 4.5 * 60 + 5 * 60], 'm-a: outage time before the declaration is downtime (10 min), after it planned (4.5 + 5 min)');
    t.same(row('m-a').byCause, { clinic: 1, district: 0, planned: 1 }, 'one outage wholly planned');
    t.equal(row('m-a').longestOutageSeconds, 10 * 60, 'the longest: the unplanned stretch of the first');
    t.same([row('m-b').downtimeSeconds, row('m-b').plannedSeconds, row('m-b').byCause.planned], [300, 0, 0], 'm-b has no window: all downtime');
    t.same(r.outages.map((o) => [o.clinicId, o.planned]).sort(), [['m-a', 'all'], ['m-a', 'partly'], ['m-b', 'none']], 'each outage says how much was planned');
    // Cancelled now: it counts up to now, not after.
    const c = await a.cancelMaintenance(w1.id, new Date(now));
    t.equal(c?.cancelledAt, new Date(now).toISOString());
    t.same([...(await a.inMaintenance(new Date(now + 60_000))).clinics], [], 'no longer in maintenance');
    t.equal((await a.cancelMaintenance(w1.id, new Date(now + 60_000)))?.cancelledAt, new Date(now).toISOString(), 'cancelling twice changes nothing');
    t.equal(await a.cancelMaintenance(99_999), null, 'no such window');
    t.same((await a.maintenance(new Date(now - 24 * h), new Date(now + 24 * h))).map((w) => [w.id, w.clinicId, w.reason]), [[w1.id, 'm-a', '交换机更换 switch replacement'], [all.id, null, 'hub upgrade']], 'listed in start order, cancelled ones too');
  });
}

for (const [name, open] of [['sqlite', sqliteTestWarehouse], ['postgres', postgresTestWarehouse]] as const) {
  t.test(`stuck records on ${name}: a clinic that beats while its records do not reach central is in an outage until they do`, async (t) => {
    const tw: TestWarehouse = await open(`stall${name}`);
    t.teardown(tw.cleanup);
    const { wh } = tw;
    // Silence (and stall) threshold 1 s; every clinic has been heard from for a while (not a fresh central).
    const a = new ExchangeAvailability(wh, pino({ level: 'silent' }), 1000);
    const sql = sqlFor(wh);
    const applied = (id: string, seq: number) => sql.tx(function* () {
      yield* run('INSERT INTO clinic_state (clinic_id, applied_seq, records_applied, updated_at) VALUES (?, ?, ?, ?) ON CONFLICT (clinic_id) DO UPDATE SET applied_seq = excluded.applied_seq', [id, seq, seq, new Date().toISOString()]);
    });
    const beat = async (id: string, lastSeq: number, oldestPendingAgeSec: number) => {
      await wh.recordHeartbeat({ clinicId: id, agentVersion: '0.1.0', at: new Date().toISOString(), lastSeq, receiptSeq: 0, outboxDepth: lastSeq, oldestPendingAgeSec, relayState: 'connected', dictionaries: {} });
      await a.onHeartbeat(id, new Date(), { lastSeq, oldestPendingAgeSec }); // as central does: with the heartbeat
    };
    await applied('s-ok', 10);
    await beat('s-ok', 10, 0);
    await applied('s-stuck', 50);
    await beat('s-stuck', 50, 0);
    await new Promise((r) => setTimeout(r, 1100)); // past the "just started" grace of this instance
    await beat('s-ok', 10, 0);
    // s-stuck writes on (seq 100), nothing of it applied past 50, the oldest waiting for 30 s.
    await beat('s-stuck', 100, 30);
    const t0 = Date.now();
    t.equal(await a.tick(true, new Date(t0)), 1, 'an outage opened though the clinic beats');
    const [o] = await a.outages(new Date(t0 - 3600_000), new Date(t0 + 3600_000), 's-stuck');
    t.equal(o?.cause, 'clinic', 'central listening, the other clinic flowing: the clinic side');
    t.ok(o && Math.abs(Date.parse(o.startedAt) - (t0 - 30_000)) < 500, `back-dated to when the oldest waiting record was written (${o ? (t0 - Date.parse(o.startedAt)) / 1000 : '?'} s ago)`);
    await beat('s-stuck', 100, 31);
    t.equal((await a.outages(new Date(t0 - 3600_000), new Date(t0 + 3600_000), 's-stuck'))[0]?.endedAt, null, 'a heartbeat while its records still wait does not end it');
    await a.onHeartbeat('s-stuck'); // without the heartbeat: read from the fleet
    t.equal((await a.outages(new Date(t0 - 3600_000), new Date(t0 + 3600_000), 's-stuck'))[0]?.endedAt, null, 'nor when the fleet row is read instead');
    t.equal(await a.tick(true), 0, 'nor a tick');
    // The relay recovers: central applies up to 100.
    await applied('s-stuck', 100);
    await beat('s-stuck', 100, 0);
    const closed = (await a.outages(new Date(t0 - 3600_000), new Date(t0 + 3600_000), 's-stuck'))[0];
    t.ok(closed?.endedAt, 'ended by the heartbeat after the records reached central');
    // Stuck again right away, the oldest record older than the outage's end: the new outage starts at that end, no overlap.
    await beat('s-stuck', 140, 120);
    t.equal(await a.tick(true), 1, 'stuck again');
    const again = await a.outages(new Date(t0 - 3600_000), new Date(Date.now() + 3600_000), 's-stuck');
    t.equal(again.length, 2);
    t.equal(again[1]!.startedAt, closed!.endedAt, 'starts where the previous one ended');
    // Central applies it while no heartbeat comes (the edge beats every few seconds; the check closes it first).
    await applied('s-stuck', 140);
    await a.tick(true);
    t.ok((await a.outages(new Date(t0 - 3600_000), new Date(Date.now() + 3600_000), 's-stuck'))[1]!.endedAt, 'closed by the check once central holds what the clinic had written');
    t.same((await a.outages(new Date(t0 - 3600_000), new Date(Date.now() + 3600_000), 's-ok')), [], 's-ok never in an outage');
  });
}

t.test('generated declarations: each is either a window that can be planned or refused with a MaintenanceError', async (t) => {
  const tw = await sqliteTestWarehouse('maintgen');
  t.teardown(tw.cleanup);
  const a = new ExchangeAvailability(tw.wh, pino({ level: 'silent' }), 1000);
  await heartbeat(tw.wh, 'g-a');
  await a.onHeartbeat('g-a');
  const now = Date.now();
  const time = fc.oneof(
    fc.string({ maxLength: 30 }),
    fc.integer({ min: -100 * 3600, max: 100 * 3600 }).map((s) => new Date(now + s * 1000).toISOString()),
    fc.integer({ min: -100 * 3600, max: 100 * 3600 }).map((s) => new Date(now + s * 1000 + 8 * 3600_000).toISOString().replace('Z', '+08:00')),
  );
  let declared = 0;
  let refused = 0;
  await fc.assert(fc.asyncProperty(fc.option(fc.constantFrom('g-a', 'g-unknown', ''), { nil: null }), time, time, fc.string({ maxLength: 220 }), async (clinicId, startsAt, endsAt, reason) => {
    try {
      const w = await a.declareMaintenance({ clinicId, startsAt, endsAt, reason, declaredBy: 'gen' }, new Date(now));
      declared++;
      const [s, e] = [Date.parse(w.startsAt), Date.parse(w.endsAt)];
      return e > s && e > now && e - s <= 72 * 3600_000 && w.reason.trim().length > 0 && (w.clinicId === null || w.clinicId === 'g-a');
    } catch (err) {
      refused++;
      return (err as Error).name === 'MaintenanceError' && (err as Error).message.length > 0;
    }
  }), { numRuns: 300 });
  t.ok(declared > 0 && refused > 0, `${declared} declared, ${refused} refused with a reason`);
  t.equal((await a.maintenance(new Date(now - 200 * 3600_000), new Date(now + 200 * 3600_000))).length, declared, 'exactly the declared ones stored');
});

for (const [name, open] of [['sqlite', sqliteTestWarehouse], ['postgres', postgresTestWarehouse]] as const) {
  t.test(`out of service on ${name}: a retired clinic's open outage ends, no new one opens, its time away is not measured`, async (t) => {
    const tw: TestWarehouse = await open(`retire${name}`);
    t.teardown(tw.cleanup);
    const { wh } = tw;
    const a = new ExchangeAvailability(wh, pino({ level: 'silent' }), 1000);
    for (const id of ['r-a', 'r-b']) { await heartbeat(wh, id); await a.onHeartbeat(id); }
    const sql = sqlFor(wh);
    const now = Date.now();
    await sql.tx(function* () { yield* run('UPDATE exchange_clinics SET first_seen = ?', [new Date(now - 3600_000).toISOString()]); });
    // r-a went silent 10 min ago: an open outage.
    await sql.tx(function* () { yield* run('INSERT INTO exchange_outages (clinic_id, started_at, ended_at, cause) VALUES (?, ?, NULL, ?)', ['r-a', new Date(now - 600_000).toISOString(), 'clinic']); });
    const b = new ExchangeAvailability(wh, pino({ level: 'silent' }), 1000); // sees the open outage
    await t.rejects(b.retire('r-a', '  ', 'ops'), /reason/, 'a reason is required');
    await t.rejects(b.retire('nowhere', '撤并', 'ops'), /unknown clinic/, 'an unknown clinic refused');
    const r = await b.retire('r-a', '站点撤并到新华中心', 'ops', new Date(now));
    t.equal(r.retiredAt, new Date(now).toISOString());
    await t.rejects(b.retire('r-a', 'again', 'ops'), /already out of service/, 'not twice');
    t.ok(b.isRetired('r-a'));
    t.equal((await b.outages(new Date(now - 3600_000), new Date(now + 3600_000), 'r-a'))[0]?.endedAt, new Date(now).toISOString(), 'its open outage ends at the retirement');
    // Both silent for long: only r-b gets an outage.
    t.equal(await b.tick(true, new Date(now + 3600_000)), 1, 'no outage opened for the retired clinic');
    const report = await b.report(new Date(now - 3600_000), new Date(now + 2 * 3600_000), new Date(now + 2 * 3600_000));
    const ra = report.clinics.find((c) => c.clinicId === 'r-a')!;
    t.same([ra.downtimeSeconds, ra.retiredAt], [600, new Date(now).toISOString()], 'measured up to its retirement: the 10 min outage counts, nothing after');
    t.ok(Math.abs(ra.availability - (1 - 600 / 3600)) < 1e-9, `availability over the hour it was in service (${ra.availability})`);
    t.same((await b.retired()).map((x) => [x.clinicId, x.reason, x.retiredBy]), [['r-a', '站点撤并到新华中心', 'ops']]);
    // Back in service an hour later: measured again from then, its time away not counted.
    t.ok(await b.reinstate('r-a', new Date(now + 3600_000)));
    t.notOk(await b.reinstate('r-a'), 'not retired any more');
    const after = (await b.report(new Date(now - 3600_000), new Date(now + 2 * 3600_000), new Date(now + 2 * 3600_000))).clinics.find((c) => c.clinicId === 'r-a')!;
    t.same([after.retiredAt, after.downtimeSeconds], [null, 600], 'in service again; its hour away neither down nor measured');
    t.ok(Math.abs(after.availability - (1 - 600 / (2 * 3600))) < 1e-9, `measured over its two hours in service (${after.availability})`);
    const c = new ExchangeAvailability(wh, pino({ level: 'silent' }), 1000);
    await c.init();
    t.notOk(c.isRetired('r-a'), 'another instance reads the same state');
  });
}
