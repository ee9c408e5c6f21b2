/** Read-only access to the outbox for the relay, on whatever SQLite connection it is given. */
import type { Db } from '../../contracts/runtime/index.ts';
import type { OutboxSource, OutboxSourceRow } from './relay-core.ts';

export function outboxSource(db: Db): OutboxSource {
  const after = db.prepare<[number, number], OutboxSourceRow>('SELECT seq, type, envelope FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?');
  const prio = db.prepare<[number, number], OutboxSourceRow>('SELECT seq, type, envelope FROM outbox WHERE priority = 1 AND seq > ? ORDER BY seq LIMIT ?');
  return {
    after: (afterSeq, limit) => after.all(afterSeq, limit),
    priorityAfter: (afterSeq, limit) => prio.all(afterSeq, limit),
  };
}
