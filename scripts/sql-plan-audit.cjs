#!/usr/bin/env node
/**
 * Which SQL statements read a whole table: a query-plan audit of every statement the code prepares.
 *
 *   rm -rf /tmp/sql-plan-audit
 *   NODE_OPTIONS="--require $PWD/scripts/sql-plan-audit.cjs" npm test     # or any command: the demo, a bench
 *   node scripts/sql-plan-audit.cjs [DIR]                                  # the report
 *
 * Preloaded (NODE_OPTIONS, so every process and worker thread of the run loads it), it wraps
 * better-sqlite3's `prepare`: the first time a connection prepares a statement, it records the
 * statement, the first caller outside node_modules and `EXPLAIN QUERY PLAN` of it on that same
 * connection (the real schema; parameters bound as NULL, which the planner does not look at).
 * Run directly, it lists the statements whose plan has a `SCAN` of a table (a full read of it or
 * of one of its indexes), grouped by caller. Whether a scan matters is the reader's call: a report
 * or a small table is fine; a page, a metrics scrape or a device query over a table that grows
 * with the clinic's history is not (the edge's imaging worklist and C-FIND were such, 2026-11-30).
 * Plans without ANALYZE statistics are what the edge and central run with.
 */
const fs = require('node:fs');
const path = require('node:path');
const DIR = process.env.SQL_PLAN_AUDIT_DIR || '/tmp/sql-plan-audit';

function preload() {
  let D;
  try {
    D = require(require.resolve('better-sqlite3', { paths: [process.cwd(), __dirname] }));
  } catch {
    return; // a process without better-sqlite3 (npm itself, tap's runner): nothing to audit
  }
  fs.mkdirSync(DIR, { recursive: true });
  const out = path.join(DIR, `sql-${process.pid}-${require('node:worker_threads').threadId}.jsonl`);
  const seen = new Set();
  const prepare = D.prototype.prepare;
  const skip = /^\s*(PRAGMA|EXPLAIN|BEGIN|COMMIT|ROLLBACK|SAVEPOINT|RELEASE|CREATE|DROP|ALTER|ATTACH|DETACH|VACUUM|ANALYZE)\b/i;
  D.prototype.prepare = function (sql, ...rest) {
    const key = `${this.name}\u0001${sql}`;
    if (typeof sql === 'string' && !seen.has(key)) {
      seen.add(key);
      let plan = null;
      if (!skip.test(sql)) {
        try {
          const named = [...new Set((sql.match(/[@:$][A-Za-z_][A-Za-z0-9_]*/g) || []).map((x) => x.slice(1)))];
          const positional = (sql.replace(/'[^']*'/g, '').match(/\?/g) || []).length;
          const args = named.length ? [Object.fromEntries(named.map((n) => [n, null]))] : [];
          for (let i = 0; i < positional; i++) args.push(null);
          plan = prepare.call(this, `EXPLAIN QUERY PLAN ${sql}`).all(...args).map((r) => r.detail);
        } catch (e) {
          plan = [`(no plan: ${e.message})`];
        }
      }
      const caller = (new Error().stack || '').split('\n').slice(2).map((l) => l.trim()).find((l) => !/node_modules|node:|sql-plan-audit/.test(l)) || '';
      try { fs.appendFileSync(out, `${JSON.stringify({ db: this.name, sql, plan, caller })}\n`); } catch { /* the audit never breaks the run */ }
    }
    return prepare.call(this, sql, ...rest);
  };
}

function report(dir) {
  const rows = new Map();
  for (const f of fs.readdirSync(dir).filter((f) => f.endsWith('.jsonl'))) {
    for (const line of fs.readFileSync(path.join(dir, f), 'utf8').split('\n')) {
      if (!line) continue;
      const r = JSON.parse(line);
      const scans = (r.plan || []).filter((d) => /^SCAN (?!CONSTANT ROW)/.test(d) && !/^SCAN (\d+-ROW VALUES|json_each|json_tree|pragma_|sqlite_)/.test(d));
      if (!scans.length) continue;
      const site = r.caller.replace(/^at /, '').replace(process.cwd() + path.sep, '');
      if (/\.test\.ts/.test(site)) continue; // statements of the tests themselves
      const key = r.sql.replace(/\s+/g, ' ').trim();
      const e = rows.get(key) || { sql: key, scans: new Set(), sites: new Set() };
      scans.forEach((s) => e.scans.add(s));
      e.sites.add(site);
      rows.set(key, e);
    }
  }
  const list = [...rows.values()].sort((a, b) => [...a.sites][0].localeCompare([...b.sites][0]));
  for (const e of list) console.log(`${[...e.sites].slice(0, 2).join(' ; ')}\n  ${[...e.scans].join(' | ')}\n  ${e.sql.slice(0, 400)}\n`);
  console.log(`${list.length} statements read a whole table or index (from ${dir})`);
}

if (require.main === module) {
  const dir = process.argv[2] || DIR;
  if (!fs.existsSync(dir)) {
    console.error(`${dir}: no audit recorded; run a command with NODE_OPTIONS="--require ${__filename}" first`);
    process.exit(1);
  }
  report(dir);
} else {
  preload();
}
