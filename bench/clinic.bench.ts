/**
 * Clinic front-desk benchmark (issue [clinic]). One edge database with 200,000 residents
 * and a year of visits (150 a day: registrations, fee and prescription charges, invoices):
 *  (a) resident search p50/p99 by ID number, name prefix, pinyin initials, phone
 *      (target p99 < 50 ms);
 *  (b) the registration page (search + slots + today's list, full HTTP route through Hono
 *      with a session) and the statistics page for a month: p50/p95 (target p95 < 100 ms);
 *  (c) 20 concurrent staff sessions mixing searches and page loads on this process;
 *  (d) the same with the audit written as before (a commit per entry and per session touch) and
 *      as now (group commit), interleaved in one run.
 * Prints a table and writes the "## Clinic" section of bench/RESULTS.md.
 *
 *   node --import tsx bench/clinic.bench.ts [--quick]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Hono } from 'hono';
import { randomUUID } from 'node:crypto';
import { EdgeStore } from '../edge-agent/store/store.ts';
import { Accounts } from '../edge-agent/web/accounts.ts';
import { mountWeb } from '../edge-agent/web/app.tsx';
import { hisMigrations } from '../edge-agent/his/migrations.ts';
import { mountHisPages } from '../edge-agent/his/routes.tsx';
import { pinyinInitials, searchResidents } from '../edge-agent/his/residents.ts';
import { makeResident, prng } from '../edge-agent/sim/generate.ts';
import { starterDictionaries } from '../central/dictionaries/starter.ts';
import { DICTIONARY_NAMES } from '../contracts/index.ts';
import { addDays, localDate } from '../edge-agent/his/time.ts';
import { writeResultsSection } from './results-file.ts';

const root = join(fileURLToPath(import.meta.url), '..', '..');
const quick = process.argv.includes('--quick');
const N = quick ? 20_000 : 200_000;
const DAYS = quick ? 30 : 365;
const PER_DAY = 150;
const log = (s: string) => console.log(`[bench] ${s}`);
const pct = (a: number[], p: number) => { const s = [...a].sort((x, y) => x - y); return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN; };
const ms = () => Number(process.hrtime.bigint()) / 1e6;

const dir = mkdtempSync(join(tmpdir(), 'clinic-bench-'));
const store = new EdgeStore(join(dir, 'edge.db'), 'bench-clinic', hisMigrations);
const at = new Date().toISOString();
for (const name of DICTIONARY_NAMES) store.applyDictionary({ name, version: 1, publishedAt: at, items: starterDictionaries[name] });
const accounts = new Accounts(store.db);
const doctors = ['doc1', 'doc2', 'doc3', 'doc4'];
for (const d of doctors) accounts.create({ username: d, displayName: `医生${d.slice(3)}`, role: 'doctor', password: 'Bench-pass-1' }, 'bench', 'local');
accounts.create({ username: 'reg1', displayName: '挂号员', role: 'registrar', password: 'Bench-pass-1' }, 'bench', 'local');
accounts.create({ username: 'admin1', displayName: '管理员', role: 'clinic_admin', password: 'Bench-pass-1' }, 'bench', 'local');
accounts.replicateTo(store); // as in the agent: every audit entry also goes to the outbox (audit_event)

// ---------------------------------------------------------------- data
log(`loading ${N} residents and ${DAYS} days x ${PER_DAY} visits`);
const t0 = ms();
const r = prng(42);
const residents: { id: string; idNumber: string; name: string; phone: string; py: string }[] = [];
const insRes = store.db.prepare('INSERT INTO residents (resident_id, name, sex, birth_date, id_type, id_number, phone, hlc) VALUES (?, ?, ?, ?, ?, ?, ?, ?)');
const insExt = store.db.prepare('INSERT INTO his_resident_ext (resident_id, pinyin_initials, insurance_card_no, updated_at) VALUES (?, ?, ?, ?)');
store.db.transaction(() => {
  for (let i = 0; i < N; i++) {
    const x = makeResident(r);
    const py = pinyinInitials(x.name);
    insRes.run(x.residentId, x.name, x.sex, x.birthDate, x.idType, x.idNumber, x.phone ?? null, '0');
    insExt.run(x.residentId, py, `YB${String(i).padStart(10, '0')}`, at);
    if (i % 97 === 0) residents.push({ id: x.residentId, idNumber: x.idNumber, name: x.name, phone: x.phone ?? '', py });
  }
})();
const today = localDate();
const insSlot = store.db.prepare('INSERT INTO his_schedule (slot_id, date, department_code, doctor_username, start_time, end_time, capacity, booked, fee_fen, status) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)');
const insReg = store.db.prepare(`INSERT INTO his_registrations (registration_id, resident_id, department_code, doctor_username, slot_id, visit_date, queue_no, status, fee_fen, created_by, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`);
const insCharge = store.db.prepare(`INSERT INTO his_charges (charge_id, registration_id, resident_id, source_kind, source_id, item_code, item_name, category, quantity, unit, unit_price_fen, amount_fen, dispensable, status, invoice_id, created_by, created_at)
  VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'paid', ?, 'reg1', ?)`);
const insInv = store.db.prepare(`INSERT INTO his_invoices (invoice_id, invoice_no, seq, kind, resident_id, registration_id, total_fen, payment_method, cashier, issued_at, settlement_id) VALUES (?, ?, ?, 'invoice', ?, ?, ?, 'cash', 'reg1', ?, 'bench')`);
const ids = store.db.prepare<[], { resident_id: string }>('SELECT resident_id FROM residents').all().map((x) => x.resident_id);
const drugs = starterDictionaries.drugs;
let seq = 0;
store.db.transaction(() => {
  for (let d = -DAYS; d <= 6; d++) {
    const date = addDays(today, d);
    const slots = doctors.map((doc, i) => { const id = randomUUID(); insSlot.run(id, date, ['GP', 'IM', 'TCM', 'PED'][i], doc, '08:00', '17:00', 60, d <= 0 ? PER_DAY / 4 : 0, 100, 'open'); return { id, doc, dept: ['GP', 'IM', 'TCM', 'PED'][i]! }; });
    if (d > 0) continue;
    for (let k = 0; k < PER_DAY; k++) {
      const s = slots[k % 4]!;
      const regId = randomUUID();
      const rid = ids[Math.floor(r() * ids.length)]!;
      const when = new Date(Date.parse(`${date}T08:00:00`) + k * 180_000).toISOString();
      insReg.run(regId, rid, s.dept, s.doc, s.id, date, Math.floor(k / 4) + 1, d === 0 ? 'registered' : 'finished', 100, 'reg1', when, when);
      const inv = randomUUID();
      const drug = drugs[k % drugs.length]!;
      const price = Number(drug.attrs.priceFen);
      insInv.run(inv, String(++seq).padStart(10, '0'), seq, rid, regId, 100 + 2 * price, when);
      insCharge.run(randomUUID(), regId, rid, 'registration', regId, '110100001', '挂号费', 'registration', 1, '次', 100, 100, 0, inv, when);
      insCharge.run(randomUUID(), regId, rid, 'prescription', `rx-${regId}`, drug.code, drug.name, 'western_drug', 2, '盒', price, 2 * price, 1, inv, when);
    }
  }
})();
store.db.exec('ANALYZE');
log(`loaded in ${((ms() - t0) / 1000).toFixed(1)} s`);

// ---------------------------------------------------------------- (a) search
const kinds: [string, (x: (typeof residents)[number]) => string][] = [
  ['ID number', (x) => x.idNumber], ['name prefix', (x) => x.name], ['pinyin initials', (x) => x.py], ['phone', (x) => x.phone],
];
const searchRows = kinds.map(([kind, q]) => {
  const lat: number[] = [];
  let hits = 0;
  for (let i = 0; i < (quick ? 300 : 2000); i++) {
    const x = residents[i % residents.length]!;
    const s = ms();
    hits += searchResidents(store.db, q(x)).length;
    lat.push(ms() - s);
  }
  return { kind, queries: lat.length, 'avg hits': (hits / lat.length).toFixed(1), 'p50 ms': pct(lat, 50).toFixed(2), 'p99 ms': pct(lat, 99).toFixed(2) };
});
console.table(searchRows);

// ---------------------------------------------------------------- (b) pages over HTTP routes
const app = new Hono();
const ui = mountWeb(app, { accounts, clinicName: '基准测试中心', nav: [], status: () => ({ hb: { clinicId: 'bench-clinic', at, lastSeq: 0, receiptSeq: 0, outboxDepth: 0, oldestPendingAt: null, relayState: 'connected', dictionaries: {} } as never, lastReceiptAt: at }) });
mountHisPages(ui, store, accounts, '基准测试中心');
const cookie = async (u: string) => { const l = await accounts.login(u, 'Bench-pass-1', 'bench'); if (!l.ok) throw new Error('login'); return `edge_session=${l.token}`; };
const regCookie = await cookie('reg1');
const adminCookie = await cookie('admin1');
async function timePage(url: string, c: string, n: number): Promise<number[]> {
  const lat: number[] = [];
  for (let i = 0; i < n; i++) {
    const s = ms();
    const res = await app.request(url.replace('{i}', String(i)), { headers: { cookie: c } });
    if (res.status !== 200) throw new Error(`${url}: ${res.status}`);
    await res.text();
    lat.push(ms() - s);
  }
  return lat;
}
const some = residents[5]!;
const pages: [string, string, string][] = [
  ['registration page (today)', '/his/registration', regCookie],
  ['registration + search by name', `/his/registration?q=${encodeURIComponent(some.name)}`, regCookie],
  ['registration + resident + slots', `/his/registration?rid=${some.id}`, regCookie],
  ['statistics, last 30 days', `/his/stats?from=${addDays(today, -30)}&to=${today}`, adminCookie],
];
const pageRows = [];
for (const [what, url, c] of pages) {
  const lat = await timePage(url, c, quick ? 30 : 200);
  pageRows.push({ page: what, requests: lat.length, 'p50 ms': pct(lat, 50).toFixed(1), 'p95 ms': pct(lat, 95).toFixed(1) });
}
console.table(pageRows);

// ---------------------------------------------------------------- (c) 20 concurrent sessions
const sessions = await Promise.all(Array.from({ length: 20 }, () => cookie('reg1')));
const cStart = ms();
const perReq: number[] = [];
await Promise.all(sessions.map(async (c, i) => {
  for (let k = 0; k < (quick ? 10 : 40); k++) {
    const x = residents[(i * 40 + k) % residents.length]!;
    const url = k % 2 ? `/his/registration?q=${encodeURIComponent(x.py)}` : `/his/registration?rid=${x.id}`;
    const s = ms();
    const res = await app.request(url, { headers: { cookie: c } });
    await res.text();
    perReq.push(ms() - s);
  }
}));
const cMs = ms() - cStart;
const concRow = { sessions: 20, requests: perReq.length, 'req/s': Math.round(perReq.length / (cMs / 1000)), 'p95 ms (queued)': pct(perReq, 95).toFixed(1) };
console.table([concRow]);

// ---------------------------------------------------------------- (d) audit durability: before/after in this run
// Before: one synchronous commit (fsync) per audit entry and per session touch. After: the
// entries of concurrent requests and the (>60 s) session touches share one group commit; every
// response still waits until its own audit entry is durable.
const appOld = new Hono();
const accountsOld = new Accounts(store.db, { outbox: store, unbatched: true });
const uiOld = mountWeb(appOld, { accounts: accountsOld, clinicName: '基准测试中心', nav: [], status: () => ({ hb: { clinicId: 'bench-clinic', at, lastSeq: 0, receiptSeq: 0, outboxDepth: 0, oldestPendingAt: null, relayState: 'connected', dictionaries: {} } as never, lastReceiptAt: at }) });
mountHisPages(uiOld, store, accountsOld, '基准测试中心');
async function sessionsRun(a: Hono, acc: Accounts, label: string, round: number) {
  const cs = await Promise.all(Array.from({ length: 20 }, async () => { const l = await acc.login('reg1', 'Bench-pass-1', 'bench'); if (!l.ok) throw new Error('login'); return `edge_session=${l.token}`; }));
  await acc.durable();
  const c0 = acc.counters.commits;
  const lat: number[] = [];
  const t0 = ms();
  await Promise.all(cs.map(async (c, i) => {
    for (let k = 0; k < (quick ? 10 : 40); k++) {
      const x = residents[(i * 40 + k + round * 7) % residents.length]!;
      const url = k % 2 ? `/his/registration?q=${encodeURIComponent(x.py)}` : `/his/registration?rid=${x.id}`;
      const s = ms();
      const res = await a.request(url, { headers: { cookie: c } });
      if (res.status !== 200) throw new Error(`${url}: ${res.status}`);
      await res.text();
      lat.push(ms() - s);
    }
  }));
  const took = ms() - t0;
  return { mode: label, round, requests: lat.length, 'req/s': Math.round(lat.length / (took / 1000)), 'p50 ms': pct(lat, 50).toFixed(1), 'p95 ms (queued)': pct(lat, 95).toFixed(1), commits: acc.counters.commits - c0 };
}
const abRows = [];
for (let round = 1; round <= 2; round++) {
  abRows.push(await sessionsRun(appOld, accountsOld, 'before: commit per entry/touch', round));
  abRows.push(await sessionsRun(app, accounts, 'after: group commit', round));
}
console.table(abRows);

// ---------------------------------------------------------------- results
const table = (rows: Record<string, string | number>[]) => {
  const keys = Object.keys(rows[0]!);
  return [`| ${keys.join(' | ')} |`, `|${keys.map(() => '---').join('|')}|`, ...rows.map((x) => `| ${keys.map((k) => x[k]).join(' | ')} |`)].join('\n');
};
const section = `## Clinic

\`node --import tsx bench/clinic.bench.ts${quick ? ' --quick' : ''}\` — ${new Date().toISOString().slice(0, 16)}Z, ${cpus().length} CPUs, load ${loadavg()[0]!.toFixed(2)}.
${N.toLocaleString('en')} residents, ${DAYS} days x ${PER_DAY} visits (registrations, charges, invoices) in one edge SQLite file (WAL, synchronous=FULL).
Targets from the issue: search p99 < 50 ms; registration page p95 < 100 ms.

(a) Resident search (\`searchResidents\`, indexes on id_number, name, pinyin initials, phone):

${table(searchRows)}

(b) Pages through the Hono routes with a signed-in session (role check, audit entry, render):

${table(pageRows)}

(c) 20 concurrent staff sessions in this one process (each request waits behind the others: the p95 includes queueing):

${table([concRow])}

(d) Audit durability, before/after in this run (20 sessions as in (c), two interleaved rounds). Every audited view writes
a local \`audit_log\` row and an \`audit_event\` outbox record in one transaction. Before: one commit (fsync) per audit
entry and one per session touch. After: concurrent requests' entries share one group commit, the session's
\`last_seen_at\` is written only when it moved by > 60 s (in the same commit), and each response still waits until
its audit entry is committed (audit durable before the data is shown). \`commits\` = COMMITs (fsyncs) in the run.

${table(abRows)}
`;
if (!quick) writeResultsSection(section);
console.log(section);
accounts.flush();
accountsOld.flush();
store.close();
if (process.env.BENCH_KEEP) console.log(`kept ${dir}`); else rmSync(dir, { recursive: true, force: true });
