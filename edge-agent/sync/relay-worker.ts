/**
 * The relay worker thread: its own SQLite connection (read-only use; WAL lets it read while
 * the main thread commits) and its own NATS connection, so the main thread's fsyncs never
 * stall publishing and the JSON/protocol work runs on another core.
 *
 * Messages from the main thread: `kick` (new outbox rows), `receipt` (central's watermark),
 * `stop`. To the main thread: `status` (state + counters), `log`, `ready`, `stopped`.
 */
import { parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';
import { connect } from '@nats-io/transport-node';
import { natsTlsOption } from '../../contracts/runtime/nats-tls.ts';
import { AckPublisher } from './publisher.ts';
import { RelayCore, type RelayOptions } from './relay-core.ts';
import { outboxSource } from './outbox-source.ts';
import { trackLink } from './link-state.ts';
import type { FromWorker, RelayWorkerData, ToWorker } from './relay-protocol.ts';

const data = workerData as RelayWorkerData;
const port = parentPort!;
const post = (m: FromWorker) => port.postMessage(m);
const log = {
  warn: (obj: object, msg: string) => post({ t: 'log', level: 'warn', obj, msg }),
  error: (obj: object, msg: string) => post({ t: 'log', level: 'error', obj, msg }),
};

async function main(): Promise<void> {
  const db = new Database(data.file, { fileMustExist: true });
  db.pragma('busy_timeout = 10000');
  const c = data.connection;
  const nc = await connect({
    servers: c.servers,
    name: c.name,
    user: c.user,
    pass: c.pass,
    inboxPrefix: c.inboxPrefix,
    ...natsTlsOption(c.tls, c.servers),
    maxReconnectAttempts: -1,
    reconnectTimeWait: 500,
    waitOnFirstConnect: true,
    timeout: 5_000,
  });
  const opts = data.opts as Partial<RelayOptions>;
  const publisher = new AckPublisher(nc, c.inboxPrefix, opts.publishTimeoutMs ?? 5_000);
  let statusQueued = false;
  const link = trackLink(nc, () => core.kick());
  const core: RelayCore = new RelayCore(data.clinicId, outboxSource(db), publisher, () => nc.isClosed(), log, opts, data.receiptSeq, () => {
    if (statusQueued) return;
    statusQueued = true;
    setImmediate(() => { statusQueued = false; post({ t: 'status', state: core.state, counters: { ...core.counters } }); });
  }, link.up, data.durability);
  // Counters also change without state changes; keep the main thread's copy fresh.
  const tick = setInterval(() => post({ t: 'status', state: core.state, counters: { ...core.counters } }), 250);
  port.on('message', (m: ToWorker) => {
    if (m.t === 'kick') core.kick();
    else if (m.t === 'receipt') core.onReceipt(m.seq);
    else if (m.t === 'stop') {
      void (async () => {
        clearInterval(tick);
        await core.stop();
        link.stop();
        publisher.close();
        await nc.drain().catch(() => nc.close());
        db.close();
        post({ t: 'status', state: 'stopped', counters: { ...core.counters } });
        post({ t: 'stopped' });
        port.close();
      })();
    }
  });
  core.start();
  post({ t: 'ready' });
}

main().catch((e: Error) => {
  post({ t: 'fatal', message: e.message });
  port.close();
});
