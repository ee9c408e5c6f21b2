/**
 * Central restored from a backup: the warehouse lacks what central applied after the backup,
 * and the edges have trimmed those records from their outboxes on central's receipts. The
 * ingest replays the records stream from the warehouse's stream cursor (central/ingest/
 * consumer.ts, `planReplay`): nothing is lost, nothing applied twice. Where the stream no
 * longer holds what is needed (expired), the loss is counted and the gap stays visible.
 */
import t, { type Test } from 'tap';
import { copyFileSync, rmSync } from 'node:fs';
import { Writable } from 'node:stream';
import pino from 'pino';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { startNatsServer } from '../helpers/nats-server.ts';
import { clinicName, edgeInProcess, tempDir } from '../helpers/spine.ts';
import { setCheck } from '../helpers/set-check.ts';
import { waitFor } from '../helpers/wait.ts';
import { writeActivity } from '../helpers/activity.ts';
import Database from 'better-sqlite3';
import { sqliteSnapshot } from '../../contracts/backup/snapshot.ts';
import { startCentral, type Central } from '../../central/app.ts';
import { loadCentralConfig } from '../../central/config.ts';
import { STREAMS, subjects, type Receipt } from '../../contracts/index.ts';
import type { EdgeAgent } from '../../edge-agent/agent.ts';

/** An in-process central whose log lines are kept for the test to read. */
async function central(natsUrl: string, dataDir: string, lines: string[]): Promise<Central> {
  const sink = new Writable({ write(chunk: Buffer, _enc, cb) { lines.push(...chunk.toString('utf8').split('\n').filter(Boolean)); cb(); } });
  return startCentral(loadCentralConfig({ dataDir, natsUrl, apiToken: 'test-token-0123456789' }, {}), pino({ level: 'info' }, sink));
}

/** Write `n` records at the edge and wait until central's receipt covers them (the edge trims its outbox). */
async function writeAndSettle(edge: EdgeAgent, n: number, seed: number): Promise<number> {
  writeActivity(edge, n, seed, 50);
  const last = edge.store.stats().lastSeq;
  await waitFor(`${edge.config.clinicId}: receipt covers seq ${last} and the outbox is trimmed`, () => edge.store.receiptSeq() >= last && edge.store.stats().outboxDepth === 0, 60_000);
  return last;
}

/** Publish a new version of the ICD-10 dictionary through central's API; returns its version. */
async function publishIcd10(c: Central, items: { code: string; name: string }[]): Promise<number> {
  const res = await fetch(`${c.http.url}/api/dictionaries/icd10`, { method: 'PUT', headers: { authorization: 'Bearer test-token-0123456789', 'content-type': 'application/json' }, body: JSON.stringify({ items }) });
  if (res.status !== 200) throw new Error(`PUT icd10: ${res.status} ${await res.text()}`);
  return ((await res.json()) as { version: number }).version;
}

/** One test's world: a nats-server, an in-process central whose log lines are kept, its edges. */
interface Scenario {
  natsUrl: string;
  dir: string;
  central: Central;
  /** Log lines of the current central (cleared when it is restarted). */
  lines: string[];
  edges: EdgeAgent[];
  /** An online copy of central's warehouse, as the backup takes it (`sqliteSnapshot`). */
  backup(): Promise<string>;
  /** Stop central, put `file` in place of its warehouse (as `backup:central restore` does), start it. */
  restoreFrom(file: string): Promise<void>;
  restart(): Promise<void>;
}

async function scenario(t: Test, tag: string, clinics: string[], edgeExtra: Record<string, unknown> = {}): Promise<Scenario> {
  const ns = await startNatsServer();
  const tmp = tempDir(`spine-restore-${tag}`);
  const centralDir = `${tmp.dir}/central`;
  const sc: Scenario = {
    natsUrl: ns.url,
    dir: tmp.dir,
    lines: [],
    central: null as unknown as Central, // set below, before anything reads it
    edges: [],
    async backup() {
      const file = `${tmp.dir}/backup-${Date.now()}.db`;
      await sqliteSnapshot(`${centralDir}/warehouse.db`, file);
      return file;
    },
    async restoreFrom(file) {
      await sc.central.stop();
      const db = `${centralDir}/warehouse.db`;
      for (const f of [db, `${db}-wal`, `${db}-shm`]) rmSync(f, { force: true });
      copyFileSync(file, db);
      sc.lines = [];
      sc.central = await central(ns.url, centralDir, sc.lines);
    },
    async restart() {
      await sc.central.stop();
      sc.lines = [];
      sc.central = await central(ns.url, centralDir, sc.lines);
    },
  };
  sc.central = await central(ns.url, centralDir, sc.lines);
  for (const c of clinics) sc.edges.push(await edgeInProcess(ns.url, clinicName(c), `${tmp.dir}/${c}`, edgeExtra));
  t.teardown(async () => {
    for (const e of sc.edges) await e.stop();
    await sc.central.stop();
    await ns[Symbol.asyncDispose]();
    tmp.cleanup();
  });
  return sc;
}

t.test('central restored from an older backup replays the records stream: zero lost, zero applied twice', async (t) => {
  const sc = await scenario(t, 'older', ['rs-a', 'rs-b']);
  const [a, b] = sc.edges as [EdgeAgent, EdgeAgent];
  await writeAndSettle(a, 1500, 11);
  await writeAndSettle(b, 1500, 12);
  const backup = await sc.backup();
  const atBackup = { a: (await sc.central.wh.watermark(a.config.clinicId)).appliedSeq, b: (await sc.central.wh.watermark(b.config.clinicId)).appliedSeq };

  // After the backup: a dictionary version the edges take, more records, applied, receipted and trimmed at the edges.
  const v1 = await publishIcd10(sc.central, [{ code: 'I10', name: '原发性高血压 (after the backup)' }]);
  await waitFor('both edges hold the dictionary version published after the backup', () => a.store.dictionaryVersion('icd10') === v1 && b.store.dictionaryVersion('icd10') === v1, 20_000);
  const ackA = await writeAndSettle(a, 2500, 13);
  const ackB = await writeAndSettle(b, 2500, 14);
  t.ok(ackA > atBackup.a && ackB > atBackup.b, `records after the backup: ${ackA - atBackup.a} + ${ackB - atBackup.b}, none left in the edges' outboxes`);

  // What the edges are told while central replays.
  const nc = await connect({ servers: sc.natsUrl });
  t.teardown(() => nc.close());
  const receipts: Receipt[] = [];
  nc.subscribe(subjects.receipt(a.config.clinicId), { callback: (_e, m) => { receipts.push(m.json<Receipt>()); } });
  // Read from the file: once central starts, its replay may have moved on before a query could run.
  const held = new Database(backup, { readonly: true });
  t.equal(held.prepare<[string], { applied_seq: number }>('SELECT applied_seq FROM clinic_state WHERE clinic_id = ?').get(a.config.clinicId)?.applied_seq, atBackup.a, 'the restored warehouse starts at the backup\'s watermark');
  held.close();
  await sc.restoreFrom(backup);
  const c = sc.central;
  await waitFor('central applied every acknowledged record again', async () =>
    (await c.wh.watermark(a.config.clinicId)).appliedSeq === ackA && (await c.wh.watermark(b.config.clinicId)).appliedSeq === ackB, 60_000);
  await waitFor('the replay reports completion', () => sc.lines.some((l) => l.includes('replay of the records stream complete')), 10_000);

  for (const [edge, ack] of [[a, ackA], [b, ackB]] as const) {
    const r = await setCheck(c.wh, edge.config.clinicId, ack);
    t.same([r.lost, r.duplicated, r.unexpected, r.inOrder], [0, 0, 0, true], `${edge.config.clinicId}: acknowledged=${ack} present=${r.present}`);
  }
  const done = JSON.parse(sc.lines.find((l) => l.includes('replay of the records stream complete'))!) as { messages: number; applied: number; alreadyHere: number; seconds: number };
  t.equal(done.applied, ackA - atBackup.a + ackB - atBackup.b, `the replay applied exactly what the backup lacked (${done.applied} of ${done.messages} messages; ${done.alreadyHere} were already there)`);
  t.equal(c.ingest.replayRemaining, 0, 'nothing left to replay');
  t.equal(c.ingest.replayUnavailable, 0, 'nothing was missing from the stream');
  const metrics = await (await fetch(`${c.http.url}/metrics`)).text();
  t.match(metrics, new RegExp(`central_ingest_replayed_total ${c.ingest.replayed}\\b`), 'the replay is counted in central\'s metrics');
  t.notOk(a.relay.centralRegressed || b.relay.centralRegressed, 'no edge is left alarmed: central holds everything they were told it held');
  const below = receipts.filter((r) => r.appliedSeq < ackA);
  t.ok(below.length > 0 && below.every((r) => r.replaying), `every receipt below the edge's came while central replayed, flagged (${below.length} of ${receipts.length})`);
  t.ok(a.relay.catchingUpReceipts > 0, `the edge counted them as central catching up (${a.relay.catchingUpReceipts}), not towards the alarm`);

  // The dictionary version the restored warehouse lacked was taken back from the stream: the
  // next publish gets a new number, and the edges take its content (they ignore a version they hold).
  t.ok(sc.lines.some((l) => l.includes('dictionary version taken back from the stream')), 'the lost dictionary version is taken back from the stream (logged)');
  const v2 = await publishIcd10(c, [{ code: 'E11.9', name: '2型糖尿病 (after the restore)' }]);
  t.equal(v2, v1 + 1, `the next publish is version ${v1 + 1}, not a reuse of ${v1}`);
  await waitFor('both edges take the version published after the restore', () => a.store.dictionaryVersion('icd10') === v2 && b.store.dictionaryVersion('icd10') === v2, 20_000);
  t.same(a.store.dictionaryItems('icd10').map((i) => i.code), ['E11.9'], 'with its content');

  // Receipts go on from where they were: new records flow as before.
  const more = await writeAndSettle(a, 2700, 15);
  t.same([(await setCheck(c.wh, a.config.clinicId, more)).lost, more - ackA], [0, 200], 'records written after the restore arrive');

  // A plain restart does not replay: the cursor was saved when central stopped.
  await sc.restart();
  t.notOk(sc.lines.some((l) => l.includes('replaying the records stream')), 'a restart after a clean stop replays nothing', { lines: sc.lines.filter((l) => l.includes('replay') || l.includes('renumbered')) });
  console.log(`[central-restore] ${ackA - atBackup.a + ackB - atBackup.b} records missing after the restore; replayed ${done.messages} messages in ${done.seconds} s`);
});

t.test('what the stream no longer holds cannot be replayed: counted, logged, and the gap stays visible', async (t) => {
  const sc = await scenario(t, 'expired', ['rx-a']);
  const a = sc.edges[0]!;
  const first = await writeAndSettle(a, 500, 21);
  const backup = await sc.backup();
  const ack = await writeAndSettle(a, 1000, 22);

  // Expire the oldest messages after the backup point (max_age would do this after 7 days).
  const nc = await connect({ servers: sc.natsUrl });
  t.teardown(() => nc.close());
  const jsm = await jetstreamManager(nc);
  const si = await jsm.streams.info(STREAMS.records);
  const expireBelow = si.state.first_seq + first + 300;
  await jsm.streams.purge(STREAMS.records, { seq: expireBelow });

  const bdb = new Database(backup, { readonly: true });
  const cursor = bdb.prepare<[], { seq: number }>('SELECT seq FROM stream_cursor').get()!.seq;
  bdb.close();
  t.ok(cursor <= first, `the backup's stream cursor (${cursor}) is at or below what it holds (${first})`);

  await sc.restoreFrom(backup);
  const c = sc.central;
  await waitFor('the replay reports completion', () => sc.lines.some((l) => l.includes('replay of the records stream complete')), 30_000);
  t.equal(c.ingest.replayUnavailable, expireBelow - 1 - cursor, `the expired messages the replay needed are counted (${expireBelow - 1 - cursor}: 300 the backup lacks, the rest it holds)`);
  t.ok(sc.lines.some((l) => l.includes('no longer holds the first messages it needs')), 'and logged at error level with what to expect');
  const w = await c.wh.watermark(a.config.clinicId);
  t.equal(w.appliedSeq, first, 'the clinic\'s watermark stays at the gap: nothing after it is skipped silently');
  t.ok(w.pendingAbove > 0 && w.firstMissing === first + 1, `records above the gap are held (${w.pendingAbove}), first missing seq ${w.firstMissing}`);
  const r = await setCheck(c.wh, a.config.clinicId, ack);
  t.equal(r.duplicated, 0, 'nothing applied twice');
  await waitFor('the edge raises CentralLostAppliedRecords', () => a.relay.centralRegressed, 20_000);
});

t.test('a stream renumbered since the cursor was written (its message at the cursor seq is another one): replayed from the cursor time', async (t) => {
  const sc = await scenario(t, 'renumbered', ['rn-a']);
  const a = sc.edges[0]!;
  const first = await writeAndSettle(a, 800, 31);
  const backup = await sc.backup();
  const ack = await writeAndSettle(a, 2000, 32);
  // What a recreated stream looks like from the backup's cursor: its seq is not the message it
  // names (here: beyond the stream's end); only the time it names still means something.
  const bdb = new Database(backup);
  const cursor = bdb.prepare<[], { seq: number; stored_at: string }>('SELECT seq, stored_at FROM stream_cursor').get()!;
  bdb.prepare('UPDATE stream_cursor SET seq = seq + 1000000').run();
  bdb.close();

  await sc.restoreFrom(backup);
  const c = sc.central;
  await waitFor('central applied every acknowledged record again', async () => (await c.wh.watermark(a.config.clinicId)).appliedSeq === ack, 60_000);
  t.ok(sc.lines.some((l) => l.includes('renumbered since the warehouse cursor was written')), `the renumbering is noticed (cursor seq ${cursor.seq + 1_000_000} beyond the stream) and logged`);
  const r = await setCheck(c.wh, a.config.clinicId, ack);
  t.same([r.lost, r.duplicated, r.unexpected, r.inOrder], [0, 0, 0, true], `replayed by time from ${cursor.stored_at}: acknowledged=${ack} present=${r.present} (the backup held ${first})`);
});

t.test('what neither central nor the stream holds any more: the edge re-seeds central on an operator\'s request; the latest version of every record arrives, superseded seqs are logged as lost', async (t) => {
  const sc = await scenario(t, 'reseed', ['rs-a'], { receiptRegressionGraceMs: 3_000 });
  const a = sc.edges[0]!;
  const first = await writeAndSettle(a, 500, 41);
  const backup = await sc.backup();
  await writeAndSettle(a, 1200, 42);
  // New versions of 20 residents written after the backup: the seqs of their first versions are
  // superseded (the edge keeps the latest version of each record only).
  const older = a.store.db.prepare<[number], { record_id: string; payload: string; seq: number }>("SELECT record_id, payload, seq FROM records WHERE type = 'resident' AND seq > ? ORDER BY seq LIMIT 20").all(first);
  t.equal(older.length, 20, 'twenty residents written after the backup point');
  a.store.transact((tx) => { for (const r of older) tx.emit('resident', r.record_id, { ...JSON.parse(r.payload), phone: '13900000000' }); });
  const ack = a.store.stats().lastSeq;
  await waitFor('the new versions are applied and trimmed', () => a.store.receiptSeq() >= ack && a.store.stats().outboxDepth === 0, 60_000);

  // Everything after the backup expires from the stream; JetStream's de-duplication window
  // (2 min in production, where a re-seed comes hours or days later) is shortened to 1 s here.
  const nc = await connect({ servers: sc.natsUrl });
  t.teardown(() => nc.close());
  const jsm = await jetstreamManager(nc);
  const si = await jsm.streams.info(STREAMS.records);
  await jsm.streams.purge(STREAMS.records, { seq: si.state.last_seq + 1 });
  await jsm.streams.update(STREAMS.records, { ...si.config, duplicate_window: 1_000_000_000 });
  await new Promise((r) => setTimeout(r, 1_100));

  await sc.restoreFrom(backup);
  const c = sc.central;
  await waitFor('the edge raises CentralLostAppliedRecords', () => a.relay.centralRegressed, 30_000);
  t.equal(a.relay.centralBehindAt, first, `the edge knows central's watermark (${first}, the backup point)`);

  const r = await a.relay.reseed();
  t.same({ from: r.fromSeq, to: r.toSeq, rebuilt: r.rebuilt, superseded: r.superseded, notKept: r.notKept }, { from: first, to: ack, rebuilt: ack - first - 20, superseded: 20, notKept: 0 },
    `re-seed of (${first}, ${ack}]: ${r.rebuilt} records rebuilt, ${r.superseded} seqs superseded`);
  await waitFor('central applies up to the edge\'s last seq', async () => (await c.wh.watermark(a.config.clinicId)).appliedSeq === ack, 60_000);
  await waitFor('the edge holds central\'s new receipt and the alarm clears', () => a.store.receiptSeq() === ack && !a.relay.centralRegressed && a.store.stats().outboxDepth === 0, 30_000);

  const s = await setCheck(c.wh, a.config.clinicId, ack);
  t.same([s.lost, s.duplicated, s.unexpected, s.inOrder], [0, 0, 0, true], 'every seq accounted for at central, none twice');
  // The latest version of every record the edge holds is at central, with the same payload.
  const edgeRows = a.store.db.prepare<[], { type: string; record_id: string; version: number; payload: string }>('SELECT type, record_id, version, payload FROM records').all();
  const get = c.wh.db.prepare<[string, string, number, string], { payload: string }>('SELECT payload FROM records WHERE type = ? AND record_id = ? AND version = ? AND clinic_id = ?');
  const missing = edgeRows.filter((e) => get.get(e.type, e.record_id, e.version, a.config.clinicId)?.payload !== e.payload);
  t.equal(missing.length, 0, `all ${edgeRows.length} records' latest versions are at central with their payload`);
  const lost = c.wh.db.prepare<[string], { seq: number; detail: string }>("SELECT seq, detail FROM dead_letters WHERE clinic_id = ? AND reason = 'lost_at_source' ORDER BY seq").all(a.config.clinicId);
  t.same(lost.map((l) => l.seq), older.map((o) => o.seq), 'the superseded seqs are in central\'s dead letters as lost_at_source');
  t.match(lost[0]!.detail, /superseded by a later version/);
  t.equal(c.wh.db.prepare<[string], { n: number }>("SELECT count(*) AS n FROM dead_letters WHERE clinic_id = ? AND reason <> 'lost_at_source'").get(a.config.clinicId)!.n, 0, 'no other dead letter (no seq collision)');

  const m = await (await fetch(`${a.http.url}/metrics`)).text();
  t.match(m, new RegExp(`edge_relay_reseeded_seqs_total\\{outcome="rebuilt"[^}]*\\} ${ack - first - 20}`));
  t.match(m, /edge_relay_reseeded_seqs_total\{outcome="superseded"[^}]*\} 20/);
  await t.rejects(a.relay.reseed(), { name: 'ReseedRefused' }, 'a second re-seed is refused: central lacks nothing now');
});
