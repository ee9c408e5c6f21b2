/**
 * Doctor's and nurse's workstations benchmark (issue [clinic]). One edge database with
 * 200,000 residents and a year of visits (150 a day, each signed with diagnoses, about a
 * third with two lab results and vital signs in the shared `records` table):
 *  (a) pages through the Hono routes with a signed-in session (role check, audit entry,
 *      render): the doctor's queue (target p95 < 100 ms), a visit, a resident's history with
 *      trend charts, the nurse's execution list;
 *  (b) signing a visit (records + charges in one transaction, synchronous=FULL);
 *  (c) 20 concurrent doctor/nurse sessions on this one process.
 * Prints tables and writes the "## Clinical workstations" section of bench/RESULTS.md.
 *
 *   node --import tsx bench/clinical.bench.ts [--quick]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomUUID } from 'node:crypto';
import { Hono } from 'hono';
import { EdgeStore } from '../edge-agent/store/store.ts';
import { Accounts } from '../edge-agent/web/accounts.ts';
import { mountWeb } from '../edge-agent/web/app.tsx';
import { hisMigrations } from '../edge-agent/his/migrations.ts';
import { imagingMigrations } from '../edge-agent/imaging/migrations.ts';
import { deviceMigrations } from '../edge-agent/devices/migrations.ts';
import { clinicalMigrations } from '../edge-agent/his/clinical/migrations.ts';
import { mountClinicalUi } from '../edge-agent/his/clinical/routes.tsx';
import { ClinicalService } from '../edge-agent/his/clinical/service.ts';
import type { EdgeModuleContext } from '../edge-agent/modules.ts';
import { makeResident, prng } from '../edge-agent/sim/generate.ts';
import { starterDictionaries } from '../central/dictionaries/starter.ts';
import { DICTIONARY_NAMES } from '../contracts/index.ts';
import { addDays, localDate } from '../edge-agent/his/time.ts';
import { addMovement } from '../edge-agent/his/stock.ts';
import { writeResultsSection } from './results-file.ts';

const root = join(fileURLToPath(import.meta.url), '..', '..');
const quick = process.argv.includes('--quick');
const N = quick ? 20_000 : 200_000;
const DAYS = quick ? 30 : 365;
const PER_DAY = 150;
const log = (s: string) => console.log(`[bench] ${s}`);
const pct = (a: number[], p: number) => { const s = [...a].sort((x, y) => x - y); return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN; };
const ms = () => Number(process.hrtime.bigint()) / 1e6;

const dir = mkdtempSync(join(tmpdir(), 'clinical-bench-'));
const store = new EdgeStore(join(dir, 'edge.db'), 'bench-clinic', [...deviceMigrations, ...imagingMigrations, ...hisMigrations, ...clinicalMigrations]);
const at = new Date().toISOString();
for (const name of DICTIONARY_NAMES) store.applyDictionary({ name, version: 1, publishedAt: at, items: starterDictionaries[name] });
const accounts = new Accounts(store.db);
const doctors = ['doc1', 'doc2', 'doc3', 'doc4'];
for (const d of doctors) accounts.create({ username: d, displayName: `医生${d.slice(3)}`, role: 'doctor', password: 'Bench-pass-1' }, 'bench', 'local');
accounts.create({ username: 'nurse1', displayName: '护士', role: 'nurse', password: 'Bench-pass-1' }, 'bench', 'local');
accounts.replicateTo(store); // as in the agent: audit entries replicate (audit_event, group commit)

// ---------------------------------------------------------------- data
log(`loading ${N} residents and ${DAYS} days x ${PER_DAY} signed visits`);
const t0 = ms();
const r = prng(7);
const insRes = store.db.prepare('INSERT INTO residents (resident_id, name, sex, birth_date, id_type, id_number, phone, hlc) VALUES (?, ?, ?, ?, ?, ?, ?, ?)');
store.db.transaction(() => {
  for (let i = 0; i < N; i++) {
    const x = makeResident(r);
    insRes.run(x.residentId, x.name, x.sex, x.birthDate, x.idType, x.idNumber, x.phone ?? null, '0');
  }
})();
const ids = store.db.prepare<[], { resident_id: string }>('SELECT resident_id FROM residents').all().map((x) => x.resident_id);
const today = localDate();
const insSlot = store.db.prepare('INSERT INTO his_schedule (slot_id, date, department_code, doctor_username, start_time, end_time, capacity, booked, fee_fen, status) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)');
const insReg = store.db.prepare('INSERT INTO his_registrations (registration_id, resident_id, department_code, doctor_username, slot_id, visit_date, queue_no, status, fee_fen, created_by, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)');
const insVisit = store.db.prepare("INSERT INTO clin_visits (registration_id, resident_id, doctor_username, chief_complaint, status, started_at, signed_at) VALUES (?, ?, ?, ?, 'signed', ?, ?)");
const insDx = store.db.prepare('INSERT INTO clin_diagnoses (registration_id, code, name, is_primary, added_at) VALUES (?, ?, ?, ?, ?)');
const insRec = store.db.prepare('INSERT INTO records (record_id, type, version, hlc, payload, updated_at) VALUES (?, ?, 1, ?, ?, ?)');
const icd = starterDictionaries.icd10;
// A few residents come back every month, one every week: their history is the heavy one.
const regulars = ids.slice(0, 40);
let labRecords = 0;
store.db.transaction(() => {
  for (let d = -DAYS; d <= 0; d++) {
    const date = addDays(today, d);
    const slots = doctors.map((doc, i) => { const id = randomUUID(); insSlot.run(id, date, ['GP', 'IM', 'TCM', 'PED'][i], doc, '08:00', '17:00', 60, PER_DAY / 4, 100, 'open'); return { id, doc, dept: ['GP', 'IM', 'TCM', 'PED'][i]! }; });
    for (let k = 0; k < PER_DAY; k++) {
      const s = slots[k % 4]!;
      const regId = randomUUID();
      const rid = k === 0 && d % 7 === 0 ? regulars[0]! : k === 1 && d % 30 === 0 ? regulars[(Math.abs(d) / 30) % regulars.length]! : ids[Math.floor(r() * ids.length)]!;
      const when = new Date(Date.parse(`${date}T08:00:00`) + k * 180_000).toISOString();
      insReg.run(regId, rid, s.dept, s.doc, s.id, date, Math.floor(k / 4) + 1, d === 0 ? 'registered' : 'finished', 100, 'bench', when, when);
      if (d === 0) continue;
      insVisit.run(regId, rid, s.doc, '复诊', when, when);
      const dx = icd[k % icd.length]!;
      insDx.run(regId, dx.code, dx.name, 1, when);
      if (k % 3 === 0 || regulars.includes(rid)) {
        for (const [code, name, v] of [['14749-6', 'Glucose', 4 + r() * 6], ['2823-3', 'Potassium', 3.5 + r() * 1.5]] as const) {
          const id = randomUUID();
          insRec.run(id, 'lab_result', '0', JSON.stringify({ resultId: id, residentId: rid, specimenId: `S${k}`, testCode: code, testName: name, value: v.toFixed(1), unit: 'mmol/L', status: 'final', resultedAt: when }), when);
          labRecords++;
        }
        const o = randomUUID();
        insRec.run(o, 'observation', '0', JSON.stringify({ observationId: o, residentId: rid, code: '8480-6', display: '收缩压', value: 110 + Math.round(r() * 50), unit: 'mm[Hg]', effectiveAt: when }), when);
      }
    }
  }
})();
store.db.exec('ANALYZE');
const svc = new ClinicalService(store);
for (const name of ['苯磺酸氨氯地平片', '氯化钠注射液']) store.transact((tx) => addMovement(tx, { drugCode: svc.drug(name)!.code, batchNo: 'B1', expiryDate: '2030-12-31', quantity: 100000, kind: 'receipt', byUser: 'bench' }));
log(`loaded in ${((ms() - t0) / 1000).toFixed(1)} s: ${labRecords} lab results`);

// ---------------------------------------------------------------- app
const app = new Hono();
const ui = mountWeb(app, { accounts, clinicName: '基准测试中心', nav: [], status: () => ({ hb: { clinicId: 'bench-clinic', at, lastSeq: 0, receiptSeq: 0, outboxDepth: 0, oldestPendingAt: null, relayState: 'connected', dictionaries: {} } as never, lastReceiptAt: at }) });
mountClinicalUi({ ui, accounts, store, app } as unknown as EdgeModuleContext, svc);
const cookie = async (u: string) => { const l = await accounts.login(u, 'Bench-pass-1', 'bench'); if (!l.ok) throw new Error('login'); return `edge_session=${l.token}`; };
const doc = await cookie('doc1');
const nurse = await cookie('nurse1');
const req = async (url: string, c: string, init: RequestInit = {}) => {
  const res = await app.request(url, { ...init, headers: { cookie: c, ...(init.body ? { 'content-type': 'application/x-www-form-urlencoded' } : {}) } });
  if (res.status >= 400) throw new Error(`${url}: ${res.status}`);
  await res.text();
  return res;
};

// Today's visits of doc1: start half of them and sign a quarter with a prescription, so the nurse has a list.
const todays = store.db.prepare<[string], { registration_id: string }>("SELECT registration_id FROM his_registrations WHERE doctor_username = 'doc1' AND visit_date = ? ORDER BY queue_no").all(today).map((x) => x.registration_id);
const signLat: number[] = [];
for (const id of todays.slice(0, Math.floor(todays.length / 2))) {
  await svc.startVisit(id, 'doc1');
  svc.saveNote(id, { chiefComplaint: '咳嗽3天', subjective: '', objective: '', assessment: '', plan: '' });
  svc.addDiagnosis(id, 'J20.900');
  svc.addRxLine(id, { drug: '苯磺酸氨氯地平片', dose: '5', doseUnit: 'mg', frequency: 'qd', days: '28' });
  svc.addRxLine(id, { drug: '氯化钠注射液', dose: '250', doseUnit: 'ml', frequency: 'qd', route: 'ivgtt', days: '3' });
  svc.addLab(id, '250101015');
  const s = ms();
  await svc.sign(id, 'doc1');
  signLat.push(ms() - s);
}
const open = todays[todays.length - 1]!;
await svc.startVisit(open, 'doc1');
const openResident = store.db.prepare<[string], { resident_id: string }>('SELECT resident_id FROM his_registrations WHERE registration_id = ?').get(open)!.resident_id;
const heavy = regulars[0]!;
const heavyLabs = store.db.prepare<[string], { n: number }>("SELECT count(*) AS n FROM records WHERE type = 'lab_result' AND json_extract(payload, '$.residentId') = ?").get(heavy)!.n;

// ---------------------------------------------------------------- (a) pages
const pages: [string, string, string][] = [
  ["doctor's queue (today)", '/clinic/doctor', doc],
  ['visit page (open visit, drug search)', `/clinic/visit/${open}?dq=${encodeURIComponent('片')}`, doc],
  [`history with trend charts (${heavyLabs} lab results)`, `/clinic/residents/${heavy}/history`, doc],
  ['history of a new patient', `/clinic/residents/${openResident}/history`, doc],
  ["nurse's execution list", '/clinic/nurse', nurse],
];
const pageRows = [];
for (const [what, url, c] of pages) {
  const lat: number[] = [];
  for (let i = 0; i < (quick ? 30 : 200); i++) { const s = ms(); await req(url, c); lat.push(ms() - s); }
  pageRows.push({ page: what, requests: lat.length, 'p50 ms': pct(lat, 50).toFixed(1), 'p95 ms': pct(lat, 95).toFixed(1) });
}
console.table(pageRows);
const signRow = { visits: signLat.length, 'records + charges per sign': 'encounter, note, prescription, 2 orders, 4 charges, registration', 'p50 ms': pct(signLat, 50).toFixed(1), 'p95 ms': pct(signLat, 95).toFixed(1) };
console.table([signRow]);

// ---------------------------------------------------------------- (c) 20 concurrent sessions
const sessions = await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 4 === 3 ? nurse : cookie(doctors[i % 4]!))));
const perReq: number[] = [];
const cStart = ms();
await Promise.all(sessions.map(async (c, i) => {
  for (let k = 0; k < (quick ? 10 : 40); k++) {
    const url = c === nurse ? '/clinic/nurse' : k % 3 === 0 ? `/clinic/residents/${regulars[(i + k) % regulars.length]}/history` : '/clinic/doctor';
    const s = ms();
    await req(url, c);
    perReq.push(ms() - s);
  }
}));
const cMs = ms() - cStart;
const concRow = { sessions: 20, requests: perReq.length, 'req/s': Math.round(perReq.length / (cMs / 1000)), 'p95 ms (queued)': pct(perReq, 95).toFixed(1) };
console.table([concRow]);

// ---------------------------------------------------------------- results
const table = (rows: Record<string, string | number>[]) => {
  const keys = Object.keys(rows[0]!);
  return [`| ${keys.join(' | ')} |`, `|${keys.map(() => '---').join('|')}|`, ...rows.map((x) => `| ${keys.map((k) => x[k]).join(' | ')} |`)].join('\n');
};
const section = `## Clinical workstations

\`node --import tsx bench/clinical.bench.ts${quick ? ' --quick' : ''}\` — ${new Date().toISOString().slice(0, 16)}Z, ${cpus().length} CPUs, load ${loadavg()[0]!.toFixed(2)}.
${N.toLocaleString('en')} residents, ${DAYS} days x ${PER_DAY} signed visits with diagnoses; ${labRecords.toLocaleString('en')} lab results and vital signs in the shared \`records\` table; one edge SQLite file (WAL, synchronous=FULL).
Target from the issue: doctor's queue p95 < 100 ms.

(a) Pages through the Hono routes with a signed-in session (role check, audit entry, render; history trend charts are drawn in the browser by ECharts served from the package):

${table(pageRows)}

(b) Signing a visit (note, diagnoses, 2 drug lines incl. an infusion, a lab order): one store transaction with its records and charges:

${table([signRow])}

(c) 20 concurrent doctor and nurse sessions in this one process (each request waits behind the others: the p95 includes queueing):

${table([concRow])}
`;
if (!quick) writeResultsSection(section);
console.log(section);
store.close();
if (process.env.BENCH_KEEP) console.log(`kept ${dir}`); else rmSync(dir, { recursive: true, force: true });
