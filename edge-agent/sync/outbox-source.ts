/** Read-only access to the outbox for the relay, on whatever SQLite connection it is given. */
import type { Db } from '../../contracts/runtime/index.ts';
import type { OutboxSource, OutboxSourceRow } from './relay-core.ts';

export function outboxSource(db: Db): OutboxSource {
  // The envelope as its stored UTF-8 bytes (a Buffer): published as is, without decoding it to a
  // JS string here and encoding it back to UTF-8 in the NATS client (twice per record before).
  const after = db.prepare<[number, number], OutboxSourceRow>('SELECT seq, type, CAST(envelope AS BLOB) AS envelope FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?');
  const prio = db.prepare<[number, number], OutboxSourceRow>('SELECT seq, type, CAST(envelope AS BLOB) AS envelope FROM outbox WHERE priority = 1 AND seq > ? ORDER BY seq LIMIT ?');
  return {
    after: (afterSeq, limit) => after.all(afterSeq, limit),
    priorityAfter: (afterSeq, limit) => prio.all(afterSeq, limit),
  };
}
