/**
 * Prepared-statement cache per connection. `db.prepare()` parses and plans the SQL every time
 * (it showed as a top cost of the registration and statistics pages in a CPU profile); the hot
 * read paths prepare once per connection and SQL text instead: `cached(db).prepare<P, R>(sql)`.
 * SQLite re-plans a cached statement by itself after a schema change.
 */
import type { Statement } from 'better-sqlite3';
import type { Db } from '../../contracts/runtime/index.ts';

const caches = new WeakMap<Db, Map<string, Statement<unknown[], unknown>>>();

export function cached(db: Db): { prepare<P extends unknown[] = unknown[], R = unknown>(sql: string): Statement<P, R> } {
  let m = caches.get(db);
  if (!m) { m = new Map(); caches.set(db, m); }
  const cache = m;
  return {
    prepare<P extends unknown[] = unknown[], R = unknown>(sql: string): Statement<P, R> {
      let s = cache.get(sql);
      if (!s) {
        if (cache.size >= 500) cache.clear(); // dynamic SQL stays bounded
        s = db.prepare<unknown[], unknown>(sql);
        cache.set(sql, s);
      }
      return s as unknown as Statement<P, R>;
    },
  };
}
