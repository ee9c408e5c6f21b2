/**
 * A StreamFollower in its own process, for kill -9 tests (test/spine/follower.test.ts).
 * Env: FOLLOWER_DB (SQLite file), FOLLOWER_NATS (url), FOLLOWER_STREAM. Applies each message by
 * inserting a row into `applied` (not idempotent on purpose), spending ~1 ms per message so a
 * kill lands mid-stream. Prints `{"ready":true,...}` once following.
 */
import { connect } from '@nats-io/transport-node';
import { pino } from 'pino';
import { migrate, openDb } from '../../contracts/runtime/index.ts';
import { edgeMigrations } from '../../edge-agent/store/migrations.ts';
import { StreamFollower } from '../../edge-agent/sync/follower.ts';

const db = openDb(process.env.FOLLOWER_DB!);
migrate(db, edgeMigrations);
db.exec('CREATE TABLE IF NOT EXISTS applied (id INTEGER PRIMARY KEY AUTOINCREMENT, seq INTEGER NOT NULL, k TEXT NOT NULL)');
const nc = await connect({ servers: process.env.FOLLOWER_NATS!, maxReconnectAttempts: -1, reconnectTimeWait: 100 });
const insert = db.prepare<[number, string]>('INSERT INTO applied (seq, k) VALUES (?, ?)');
const f = new StreamFollower(db, nc, {
  name: 'child', stream: process.env.FOLLOWER_STREAM!, onFailure: 'park', batch: 16,
  decode: (data) => Buffer.from(data).toString('utf8'),
  apply: (k, { seq }) => {
    insert.run(seq, k);
    const until = Date.now() + 1;
    while (Date.now() < until) { /* work */ }
  },
}, pino({ level: process.env.LOG_LEVEL ?? 'warn' }));
f.start();
const parent = Number(process.env.EXIT_WITH_PARENT_PID ?? 0);
if (parent) setInterval(() => { try { process.kill(parent, 0); } catch { process.exit(1); } }, 1000).unref();
process.stdout.write(`${JSON.stringify({ ready: true, url: '' })}\n`);
