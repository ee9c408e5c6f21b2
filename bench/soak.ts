/**
 * Soak: the spine under random faults for a long time, then the set check.
 *   npm run soak -- --minutes 30 --rate 200
 * Two clinic edges write continuously (group commit); every 5-40 s one fault is injected at
 * random: kill -9 central, restart the broker, kill -9 the broker, stop/start an edge agent,
 * restore central's warehouse from an online snapshot taken 10-40 s earlier (the ingest replays
 * the records stream from the snapshot's stream cursor; the edges have trimmed what came after),
 * or the same with the records stream emptied first (what max_age does to messages older than 7
 * days: nothing to replay; the edges raise CentralLostAppliedRecords and each is re-seeded, as
 * its admin would from the 数据同步 page: edge-agent/sync/reseed.ts).
 * At the end every record acknowledged at an edge must be present once at central.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { startNatsServer } from '../test/helpers/nats-server.ts';
import { centralEnv, clinicName, edgeInProcess, spawnProcess, tempDir, type ChildHandle } from '../test/helpers/spine.ts';
import { setCheck } from '../test/helpers/set-check.ts';
import { waitFor } from '../test/helpers/wait.ts';
import { copyFileSync, existsSync, rmSync } from 'node:fs';
import { SqliteWarehouse } from '../central/warehouse/sqlite.ts';
import { sqliteSnapshot } from '../contracts/backup/snapshot.ts';
import { makeBloodPressure, makeResident, prng } from '../edge-agent/sim/generate.ts';
import type { EdgeAgent } from '../edge-agent/agent.ts';
import { connect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { STREAMS } from '../contracts/index.ts';

const arg = (name: string, def: number) => { const i = process.argv.indexOf(`--${name}`); return i > 0 ? Number(process.argv[i + 1]) : def; };
const minutes = arg('minutes', 10);
const rate = arg('rate', 200);
const log = (s: string) => console.log(`[soak ${new Date().toISOString().slice(11, 19)}] ${s}`);

async function main(): Promise<boolean> {
  await using ns = await startNatsServer();
  const tmp = tempDir('soak');
  const centralDir = `${tmp.dir}/central`;
  let central: ChildHandle = await spawnProcess('central/main.ts', centralEnv(ns.url, centralDir));
  const ids = [clinicName('soak-a'), clinicName('soak-b')];
  const edges: EdgeAgent[] = [];
  for (const id of ids) edges.push(await edgeInProcess(ns.url, id, `${tmp.dir}/${id}`));
  const end = Date.now() + minutes * 60_000;
  const faults: Record<string, number> = {};
  let writeErrors = 0;

  const writers = edges.map(async (_e, idx) => {
    const r = prng(idx + 1);
    const resident = makeResident(r);
    let first = true;
    while (Date.now() < end) {
      const e = edges[idx]!;
      const tick = Date.now();
      const batch: Promise<unknown>[] = [];
      for (let k = 0; k < rate / 10; k++) {
        if (first) { first = false; batch.push(e.store.transactAsync((tx) => tx.emit('resident', resident.residentId, resident))); continue; }
        const [o] = makeBloodPressure(r, resident.residentId, 'bp-1');
        batch.push(e.store.transactAsync((tx) => tx.emit('observation', o!.observationId, o!)).catch(() => { writeErrors++; }));
      }
      await Promise.all(batch);
      await sleep(Math.max(0, 100 - (Date.now() - tick)));
    }
  });

  // Online snapshots of central's warehouse every 10 s (as the backup takes them); a restore
  // fault puts back one 10-40 s old.
  const snaps: { file: string; at: number }[] = [];
  let snapN = 0;
  const snapLoop = (async () => {
    while (Date.now() < end - 10_000) {
      await sleep(10_000);
      const file = `${tmp.dir}/snap-${++snapN}.db`;
      try {
        await sqliteSnapshot(`${centralDir}/warehouse.db`, file);
        snaps.push({ file, at: Date.now() });
        while (snaps.length > 5) rmSync(snaps.shift()!.file, { force: true });
      } catch (e) {
        log(`snapshot failed (central restarting?): ${(e as Error).message}`);
      }
    }
  })();

  // An operator's re-seed and a fault never run at the same moment (one at a time here).
  let busy: Promise<unknown> = Promise.resolve();
  const exclusive = <T>(fn: () => Promise<T>): Promise<T> => { const p = busy.then(fn); busy = p.catch(() => undefined); return p; };
  const nc = await connect({ servers: ns.url, maxReconnectAttempts: -1, reconnectTimeWait: 500 });
  const jsm = await jetstreamManager(nc);
  let settled = false;
  let reseeds = 0;
  const reseedLoop = (async () => {
    while (!settled) {
      await sleep(1_000);
      await exclusive(async () => {
        for (const e of edges) {
          if (!e.relay.centralRegressed) continue;
          try {
            const r = await e.relay.reseed();
            reseeds++;
            log(`${e.config.clinicId}: re-seeded central from seq ${r.fromSeq + 1} to ${r.toSeq} (${r.rebuilt} rebuilt, ${r.superseded + r.notKept} lost)`);
          } catch (err) {
            log(`${e.config.clinicId}: re-seed not done: ${(err as Error).message}`);
          }
        }
      });
    }
  })();

  const inject = async (f: string, snap: { file: string; at: number } | undefined) => {
    if (f === 'kill-central') {
      await central.kill('SIGKILL');
      await sleep(Math.random() * 5000);
      central = await spawnProcess('central/main.ts', centralEnv(ns.url, centralDir));
    } else if (f === 'restore-central' || f === 'restore-central-expired') {
      await central.kill('SIGKILL');
      if (f === 'restore-central-expired') {
        // Empty the records stream, as max_age does to messages older than its 7 days. Those would
        // be long past JetStream's 2 min de-duplication window: shortened for the purge, so that
        // the re-seeded messages are not taken for the purged ones they repeat.
        const si = await jsm.streams.info(STREAMS.records);
        await jsm.streams.update(STREAMS.records, { ...si.config, duplicate_window: 1_000_000_000 });
        await sleep(1_100);
        await jsm.streams.purge(STREAMS.records, { seq: si.state.last_seq + 1 });
        await jsm.streams.update(STREAMS.records, si.config);
        log(`records stream emptied up to seq ${si.state.last_seq}`);
      }
      const db = `${centralDir}/warehouse.db`;
      for (const x of [db, `${db}-wal`, `${db}-shm`]) rmSync(x, { force: true });
      copyFileSync(snap!.file, db);
      log(`central's warehouse restored from a snapshot ${Math.round((Date.now() - snap!.at) / 1000)} s old`);
      central = await spawnProcess('central/main.ts', centralEnv(ns.url, centralDir));
    } else if (f === 'restart-broker') {
      await ns.restart();
    } else if (f === 'kill-broker') {
      await ns.kill();
      await sleep(Math.random() * 5000);
      await ns.restart();
    } else {
      const idx = Math.floor(Math.random() * edges.length);
      const old = edges[idx]!;
      await old.stop();
      await sleep(Math.random() * 3000);
      edges[idx] = await edgeInProcess(ns.url, old.config.clinicId, old.config.dataDir);
    }
  };

  const faultLoop = (async () => {
    while (Date.now() < end - 10_000) {
      await sleep(5_000 + Math.random() * 35_000);
      const f = ['kill-central', 'restart-broker', 'kill-broker', 'restart-edge', 'restore-central', 'restore-central-expired'][Math.floor(Math.random() * 6)]!;
      const snap = [...snaps].reverse().find((x) => Date.now() - x.at >= 10_000 && existsSync(x.file));
      if ((f === 'restore-central' || f === 'restore-central-expired') && !snap) continue;
      faults[f] = (faults[f] ?? 0) + 1;
      log(`fault: ${f}`);
      await exclusive(() => inject(f, snap));
    }
  })();

  const progress = setInterval(() => log(`written ${edges.map((e) => `${e.config.clinicId}=${e.store.stats().lastSeq} (outbox ${e.store.stats().outboxDepth})`).join(', ')}`), 30_000);
  await Promise.all([...writers, faultLoop, snapLoop]);
  clearInterval(progress);
  log('writes stopped; waiting for the spine to settle');
  const acked = edges.map((e) => e.store.stats().lastSeq);
  await waitFor('receipts cover everything', () => edges.every((e, i) => e.store.receiptSeq() >= acked[i]!), 300_000);
  settled = true;
  await reseedLoop;
  await nc.close();
  for (const e of edges) await e.stop();
  await central.kill('SIGTERM');
  const wh = new SqliteWarehouse(`${centralDir}/warehouse.db`);
  let bad = 0;
  for (const [i, id] of ids.entries()) {
    const r = await setCheck(wh, id, acked[i]!);
    if (r.lost || r.duplicated || r.unexpected || !r.inOrder) bad++;
  }
  await wh.close();
  tmp.cleanup();
  log(`summary: ${minutes} min, ${acked.reduce((a, b) => a + b, 0)} records, faults ${JSON.stringify(faults)}, re-seeds ${reseeds}, writes refused while an edge agent was restarting (never acknowledged, so not counted) ${writeErrors}, ${bad === 0 ? 'set check PASSED' : `set check FAILED for ${bad} clinic(s)`}`);
  // Return (not exit) so that `await using` stops the nats-server (an exit here left it running).
  return bad === 0;
}

main().then((ok) => process.exit(ok ? 0 : 1), (e: Error) => { console.error(`[soak] failed: ${e.stack}`); process.exit(1); });
