/**
 * FHIR facade benchmark (issue [central]): generated residents, visits and observations
 * bulk-loaded straight into the warehouse tables the FHIR API reads (`residents`, `records`,
 * `empi_link`), then central's FHIR HTTP app (the real Hono routes: OAuth2 client-credential
 * tokens, scopes, rate limits, audit) served from its own process on a loopback port and
 * driven by a closed-loop HTTP load generator in a third process, SQLite and PostgreSQL in
 * the same run. Writes the "## FHIR" section of bench/RESULTS.md.
 *
 *   node --import tsx bench/fhir.bench.ts                 # 1,000,000 residents, 10,000,000 observations
 *   node --import tsx bench/fhir.bench.ts --quick         # 100,000 residents, 1,000,000 observations
 *   options: --residents N --observations N --encounters N --duration S --connections N
 *            --backends sqlite,postgres --cpu-prof (server profiles to $TMPDIR/fhir-bench-prof/) --no-results
 *            --help (this text; native + JS profile of the server: NODE_OPTIONS=--perf-basic-prof, then perf record -p <its pid>)
 *            --keep (leave the loaded data: prints where) --reuse-sqlite DIR --reuse-pg URL (skip the load)
 *            --readers N (FHIR reader threads; default central's: one per CPU, at most 4)
 *            --warmup S (untimed mixed load after the prewarm; default 20, 5 with --quick)
 *            --pg dedicated|shared: PostgreSQL compared (default dedicated: a cluster of its own started by
 *              bench/pg-cluster.ts with production settings for this 24 GiB machine, shared_buffers 6 GB etc.;
 *              shared: the machine's PostgreSQL 15 on 127.0.0.1:5432 with Debian's default settings)
 *
 * Targets (issue 6): Patient search by identifier p99 < 20 ms; a mixed read/search load
 * >= 1,500 requests/s on this 2-core machine.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { formatHlc } from '../contracts/index.ts';
import { idCheckChar } from '../contracts/identity.ts';
import { SID } from '../central/fhir/systems.ts';
import { PRODUCTION_SETTINGS, startPgCluster } from './pg-cluster.ts';
import { rng as prng } from '../contracts/runtime/prng.ts';
import { SqliteProjector } from '../central/warehouse/projection-writers.ts';
import { writeResultsSection } from './results-file.ts';

const args = process.argv.slice(2);
const opt = (name: string): string | undefined => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
};
const num = (name: string, dflt: number): number => {
  const v = opt(name);
  if (v === undefined) return dflt;
  const n = Number(v.replace(/_/g, ''));
  if (!Number.isFinite(n) || n < 0) throw new Error(`--${name} must be a number, got ${v}`);
  return n;
};
const log = (s: string) => console.log(`[fhir-bench] ${s}`);

// ---------------------------------------------------------------- generated data

const CLINICS = [...Array.from({ length: 12 }, (_, i) => `chc${String(i + 1).padStart(2, '0')}`), ...Array.from({ length: 15 }, (_, i) => `st${String(i + 1).padStart(2, '0')}`)];
const SURNAMES = '王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈'.split('');
const GIVEN = '伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华玉萍红娥玲芬燕彬鹏辉建国建华志强海燕小红晓明丹宇浩然子涵欣怡梓轩思远'.split('');
const STREETS = ['解放路', '人民路', '中山路', '建设路', '和平街', '新华路', '胜利街', '文化路', '健康路', '光明路'];
const AREA = '110105';
/** Device readings: LOINC code, display, unit, low, high. */
const VITALS: [string, string, string, number, number][] = [
  ['8480-6', '收缩压', 'mm[Hg]', 95, 175], ['8462-4', '舒张压', 'mm[Hg]', 55, 105], ['8867-4', '心率', '/min', 52, 115],
  ['15074-8', '血糖', 'mmol/L', 3.9, 13.5], ['29463-7', '体重', 'kg', 42, 98], ['59408-5', '血氧饱和度', '%', 90, 100], ['8310-5', '体温', 'Cel', 36, 38.6],
];
/** Lab tests: LOINC code, display, unit, low, high, reference range. */
const LABS: [string, string, string, number, number, string][] = [
  ['2823-3', '血钾', 'mmol/L', 3.2, 5.6, '3.5-5.3'], ['2345-7', '葡萄糖', 'mmol/L', 3.8, 14, '3.9-6.1'], ['718-7', '血红蛋白', 'g/L', 95, 175, '115-150'],
  ['2160-0', '肌酐', 'umol/L', 40, 160, '41-111'], ['2093-3', '总胆固醇', 'mmol/L', 3, 7.8, '<5.2'], ['4548-4', '糖化血红蛋白', '%', 4.5, 11, '4.0-6.0'],
];
const DIAGNOSES: [string, string][] = [['I10.x00', '原发性高血压'], ['E11.900', '2型糖尿病'], ['J06.900', '急性上呼吸道感染'], ['K29.700', '慢性胃炎'], ['M54.500', '腰痛'], ['E78.500', '高脂血症'], ['I25.103', '冠状动脉粥样硬化性心脏病'], ['J20.900', '急性支气管炎']];
const DEPTS = ['GP', 'INT', 'TCM', 'PED', 'PHC'];
const T0 = Date.UTC(2025, 0, 1);
const SPAN = 365 * 86_400_000;

/** Resident i: everything the load generator needs is a function of i. */
function resident(i: number) {
  const residentId = `R${String(i).padStart(8, '0')}`;
  const day = i % 32_000; // birth days from 1935 on; sequence makes the ID number unique
  const birth = new Date(Date.UTC(1935, 0, 1) + day * 86_400_000);
  const seq = Math.floor(i / 32_000);
  const ymd = birth.toISOString().slice(0, 10);
  const first17 = `${AREA}${ymd.replace(/-/g, '')}${String(seq).padStart(3, '0')}`;
  const idNumber = first17 + idCheckChar(first17);
  const sex = seq % 2 === 1 ? '1' : '2';
  const h = Math.imul(i + 1, 2654435761) >>> 0;
  const name = SURNAMES[h % SURNAMES.length]! + GIVEN[(h >>> 8) % GIVEN.length]! + ((h >>> 16) % 3 ? GIVEN[(h >>> 20) % GIVEN.length]! : '');
  return {
    residentId, idNumber, name, sex, birthDate: ymd, clinicId: CLINICS[i % CLINICS.length]!,
    payload: {
      residentId, name, sex, birthDate: ymd, idType: '01', idNumber, ethnicity: (h >>> 4) % 20 ? '01' : '02', maritalStatus: day > 25_000 ? '10' : '20',
      phone: `13${String(h % 1_000_000_000).padStart(9, '0')}`, address: `北京市朝阳区${STREETS[h % STREETS.length]}${(h >>> 12) % 300 + 1}号`,
      insuranceCardNo: `YB${String(i).padStart(10, '0')}`,
    },
  };
}

interface Sizes { residents: number; encounters: number; observations: number }
/** One row of `records`, in arrival (time) order. */
interface RecordRow { type: 'encounter' | 'observation' | 'lab_result'; recordId: string; clinicId: string; seq: number; hlc: string; payload: string; at: string }

/** Visits and observations of a year, in time order, each at its resident's clinic. */
function* clinicalRecords(s: Sizes): Generator<RecordRow> {
  const rnd = prng(42);
  const total = s.encounters + s.observations;
  const seqs = new Map<string, number>();
  let enc = 0;
  let obs = 0;
  for (let k = 0; k < total; k++) {
    const ms = T0 + Math.floor((k / total) * SPAN);
    const at = new Date(ms).toISOString();
    const ri = Math.floor(rnd() * s.residents);
    const residentId = `R${String(ri).padStart(8, '0')}`;
    const clinicId = CLINICS[ri % CLINICS.length]!;
    const seq = (seqs.get(clinicId) ?? 0) + 1;
    seqs.set(clinicId, seq);
    const hlc = formatHlc({ ms, counter: 0, node: clinicId });
    // Encounters spread evenly through the stream.
    if (enc < s.encounters && (obs >= s.observations || rnd() * (s.encounters - enc + s.observations - obs) < s.encounters - enc)) {
      const n = enc++;
      const d1 = DIAGNOSES[Math.floor(rnd() * DIAGNOSES.length)]!;
      const diagnoses = [{ code: d1[0], name: d1[1], primary: true }];
      if (rnd() < 0.4) { const d2 = DIAGNOSES[Math.floor(rnd() * DIAGNOSES.length)]!; if (d2 !== d1) diagnoses.push({ code: d2[0], name: d2[1], primary: false }); }
      const recordId = `E${String(n).padStart(9, '0')}`;
      yield { type: 'encounter', recordId, clinicId, seq, hlc, at, payload: JSON.stringify({ encounterId: recordId, residentId, class: 'outpatient', status: 'finished', departmentCode: DEPTS[n % DEPTS.length], doctorCode: `D${String(n % 400).padStart(4, '0')}`, registeredAt: at, chiefComplaint: '复诊', diagnoses, feeFen: 1500 + (n % 50) * 100 }) };
      continue;
    }
    const n = obs++;
    if (n % 5 === 4) {
      const [code, name, unit, lo, hi, range] = LABS[Math.floor(rnd() * LABS.length)]!;
      const recordId = `L${String(n).padStart(9, '0')}`;
      yield { type: 'lab_result', recordId, clinicId, seq, hlc, at, payload: JSON.stringify({ resultId: recordId, residentId, specimenId: `S${String(n).padStart(9, '0')}`, orderId: `LO${String(Math.floor(n / 3)).padStart(9, '0')}`, testCode: code, testName: name, value: (lo + rnd() * (hi - lo)).toFixed(1), unit, referenceRange: range, status: 'final', resultedAt: at, analyserId: `an-${clinicId}` }) };
    } else {
      const [code, name, unit, lo, hi] = VITALS[Math.floor(rnd() * VITALS.length)]!;
      const recordId = `O${String(n).padStart(9, '0')}`;
      yield { type: 'observation', recordId, clinicId, seq, hlc, at, payload: JSON.stringify({ observationId: recordId, residentId, code, display: name, value: Number((lo + rnd() * (hi - lo)).toFixed(1)), unit, effectiveAt: at, deviceId: `dev-${code}` }) };
    }
  }
}

// ---------------------------------------------------------------- bulk load

interface LoadStats { seconds: number; rows: number; indexSeconds: number; dbBytes?: number }
const progress = (what: string, done: number, total: number, t0: number) => {
  const s = (performance.now() - t0) / 1000;
  process.stdout.write(`\r[fhir-bench]   ${what}: ${done.toLocaleString('en')} / ${total.toLocaleString('en')} (${Math.round(done / s).toLocaleString('en')} rows/s, ${s.toFixed(0)} s)   `);
  if (done === total) process.stdout.write('\n');
};

/**
 * Secondary indexes of the tables we load: dropped for the load, rebuilt from their own DDL after (as a restore does).
 * SQLite also gets the WS 365 projection rows of every record, written by central's own projector as
 * its ingest writes them: its FHIR searches by patient read the projections' resident indexes.
 */
const LOADED = ['residents', 'records', 'empi_link'];
const LOADED_PROJECTIONS = ['dw_encounter', 'dw_diagnosis', 'dw_observation', 'dw_lab_result'];

async function loadSqlite(file: string, s: Sizes): Promise<LoadStats> {
  const t0 = performance.now();
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  // Bulk load of generated data: durability of the load itself does not matter (the server runs synchronous=FULL).
  db.pragma('synchronous = OFF');
  db.pragma('cache_size = -1000000');
  const indexes = db.prepare<[], { name: string; sql: string }>(`SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL AND tbl_name IN (${[...LOADED, ...LOADED_PROJECTIONS].map((t) => `'${t}'`).join(', ')})`).all();
  for (const ix of indexes) db.exec(`DROP INDEX ${ix.name}`);
  const now = new Date().toISOString();
  const insRes = db.prepare('INSERT INTO residents (resident_id, payload, hlc, clinic_id, updated_at) VALUES (?, ?, ?, ?, ?)');
  const insLink = db.prepare("INSERT INTO empi_link (resident_id, person_id, clinic_id, method, score, linked_at, linked_by) VALUES (?, ?, ?, 'new', NULL, ?, 'empi')");
  const insRec = db.prepare('INSERT INTO records (type, record_id, version, clinic_id, seq, hlc, payload, created_at, applied_at) VALUES (?, ?, 1, ?, ?, ?, ?, ?, ?)');
  const projector = new SqliteProjector(db);
  const BATCH = 50_000;
  let t1 = performance.now();
  for (let i = 0; i < s.residents; i += BATCH) {
    db.transaction(() => {
      for (let j = i; j < Math.min(s.residents, i + BATCH); j++) {
        const r = resident(j);
        insRes.run(r.residentId, JSON.stringify(r.payload), formatHlc({ ms: T0 - 86_400_000 + j, counter: 0, node: r.clinicId }), r.clinicId, now);
        insLink.run(r.residentId, `P${String(j).padStart(8, '0')}`, r.clinicId, now);
      }
    })();
    progress('residents', Math.min(s.residents, i + BATCH), s.residents, t1);
  }
  t1 = performance.now();
  const total = s.encounters + s.observations;
  const gen = clinicalRecords(s);
  let done = 0;
  while (done < total) {
    db.transaction(() => {
      for (let j = 0; j < BATCH; j++) {
        const n = gen.next();
        if (n.done) break;
        const r = n.value;
        insRec.run(r.type, r.recordId, r.clinicId, r.seq, r.hlc, r.payload, r.at, r.at);
        projector.record({ clinicId: r.clinicId, seq: r.seq, recordId: r.recordId, type: r.type, version: 1, hlc: r.hlc, createdAt: r.at, payload: JSON.parse(r.payload), hash: '' });
        done++;
      }
      projector.flush();
    })();
    if (done % 500_000 < BATCH || done === total) progress('records', done, total, t1);
  }
  const ti = performance.now();
  for (const ix of indexes) {
    log(`  index ${ix.name}`);
    db.exec(ix.sql);
  }
  const indexSeconds = (performance.now() - ti) / 1000;
  db.pragma('wal_checkpoint(TRUNCATE)');
  db.close();
  const { size } = await import('node:fs').then((fs) => fs.statSync(file));
  return { seconds: (performance.now() - t0) / 1000, rows: s.residents * 2 + total, indexSeconds, dbBytes: size };
}

async function loadPostgres(url: string, s: Sizes): Promise<LoadStats> {
  const t0 = performance.now();
  const pool = new pg.Pool({ connectionString: url, max: 2 });
  const indexes = (await pool.query<{ indexname: string; indexdef: string }>(
    `SELECT i.indexname, i.indexdef FROM pg_indexes i WHERE i.schemaname = 'public' AND i.tablename = ANY($1)
       AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)`, [LOADED])).rows;
  for (const ix of indexes) await pool.query(`DROP INDEX ${ix.indexname}`);
  const now = new Date().toISOString();
  const BATCH = 10_000;
  // Two batches in flight: generation (this process) overlaps with PostgreSQL's insert work.
  const inflight: Promise<unknown>[] = [];
  const send = async (sql: string, params: unknown[]) => {
    if (inflight.length >= 2) await inflight.shift();
    const p = pool.connect().then(async (c) => {
      try {
        await c.query('SET synchronous_commit = off');
        await c.query(sql, params);
      } finally {
        c.release();
      }
    });
    p.catch(() => undefined);
    inflight.push(p);
  };
  let t1 = performance.now();
  for (let i = 0; i < s.residents; i += BATCH) {
    const cols: unknown[][] = [[], [], [], []];
    for (let j = i; j < Math.min(s.residents, i + BATCH); j++) {
      const r = resident(j);
      cols[0]!.push(r.residentId); cols[1]!.push(JSON.stringify(r.payload)); cols[2]!.push(formatHlc({ ms: T0 - 86_400_000 + j, counter: 0, node: r.clinicId })); cols[3]!.push(r.clinicId);
    }
    await send(`WITH r AS (INSERT INTO residents (resident_id, payload, hlc, clinic_id, updated_at) SELECT id, p, h, c, $5 FROM unnest($1::text[], $2::jsonb[], $3::text[], $4::text[]) AS u(id, p, h, c) RETURNING resident_id, clinic_id)
      INSERT INTO empi_link (resident_id, person_id, clinic_id, method, score, linked_at, linked_by) SELECT resident_id, 'P' || substr(resident_id, 2), clinic_id, 'new', NULL, $5, 'empi' FROM r`, [...cols, now]);
    progress('residents', Math.min(s.residents, i + BATCH), s.residents, t1);
  }
  await Promise.all(inflight.splice(0));
  t1 = performance.now();
  const total = s.encounters + s.observations;
  const gen = clinicalRecords(s);
  let done = 0;
  while (done < total) {
    const cols: unknown[][] = [[], [], [], [], [], [], []];
    for (let j = 0; j < BATCH; j++) {
      const n = gen.next();
      if (n.done) break;
      const r = n.value;
      cols[0]!.push(r.type); cols[1]!.push(r.recordId); cols[2]!.push(r.clinicId); cols[3]!.push(r.seq); cols[4]!.push(r.hlc); cols[5]!.push(r.payload); cols[6]!.push(r.at);
      done++;
    }
    await send(`INSERT INTO records (type, record_id, version, clinic_id, seq, hlc, payload, created_at, applied_at)
      SELECT t, id, 1, c, s, h, p, a, a FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::text[], $6::jsonb[], $7::timestamptz[]) AS u(t, id, c, s, h, p, a)`, cols);
    if (done % 500_000 < BATCH || done === total) progress('records', done, total, t1);
  }
  await Promise.all(inflight.splice(0));
  const ti = performance.now();
  const c = await pool.connect();
  try {
    await c.query("SET maintenance_work_mem = '1GB'");
    for (const ix of indexes) {
      log(`  index ${ix.indexname}`);
      await c.query(ix.indexdef);
    }
    // What autovacuum would do on its own after a load of this size.
    await c.query('VACUUM ANALYZE residents');
    await c.query('VACUUM ANALYZE records');
    await c.query('VACUUM ANALYZE empi_link');
  } finally {
    c.release();
  }
  const indexSeconds = (performance.now() - ti) / 1000;
  const bytes = Number((await pool.query<{ n: string }>('SELECT pg_database_size(current_database()) AS n')).rows[0]!.n);
  await pool.end();
  return { seconds: (performance.now() - t0) / 1000, rows: s.residents * 2 + total, indexSeconds, dbBytes: bytes };
}

// ---------------------------------------------------------------- the load (requests)

type Kind = 'patient-read' | 'patient-identifier' | 'patient-name' | 'observation-search' | 'encounter-search' | 'condition-search' | 'observation-read';
const MIX: [Kind, number][] = [
  ['patient-read', 15], ['patient-identifier', 20], ['patient-name', 10], ['observation-search', 25],
  ['encounter-search', 10], ['condition-search', 10], ['observation-read', 10],
];
const ID_CARD = SID.idCard;

/** Request paths for a kind, drawn from the generated data (resident i is known from i alone). */
function requests(kind: Kind, n: number, s: Sizes, seed: number): string[] {
  const rnd = prng(seed);
  const out: string[] = [];
  const codes = [...VITALS.map((v) => v[0]), ...LABS.map((l) => l[0])];
  for (let k = 0; k < n; k++) {
    const r = resident(Math.floor(rnd() * s.residents));
    switch (kind) {
      case 'patient-read': out.push(`/fhir/Patient/${r.residentId}`); break;
      case 'patient-identifier': out.push(`/fhir/Patient?identifier=${encodeURIComponent(`${ID_CARD}|${r.idNumber}`)}`); break;
      case 'patient-name': out.push(`/fhir/Patient?name=${encodeURIComponent(r.name)}&birthdate=${r.birthDate}`); break;
      case 'observation-search': out.push(`/fhir/Observation?patient=${r.residentId}&code=${codes[Math.floor(rnd() * codes.length)]}&_sort=-date&_count=20`); break;
      case 'encounter-search': out.push(`/fhir/Encounter?patient=${r.residentId}`); break;
      case 'condition-search': out.push(`/fhir/Condition?patient=${r.residentId}`); break;
      case 'observation-read': {
        // 4 of 5 observation numbers are device readings (O...), every 5th a lab result (L...).
        const m = Math.floor(rnd() * s.observations);
        out.push(m % 5 === 4 ? `/fhir/Observation/L${String(m).padStart(9, '0')}` : `/fhir/Observation/O${String(m).padStart(9, '0')}`);
        break;
      }
    }
  }
  return out;
}

interface Phase { name: string; seconds: number; connections: number; requests: { kind: Kind; path: string }[] }
interface KindStats { n: number; errors: number; p50: number; p99: number; max: number }
interface PhaseResult { name: string; seconds: number; serverCpuUs?: number; pgCpuUs?: number; total: number; errors: number; rps: number; p50: number; p99: number; kinds: Partial<Record<Kind, KindStats>>; firstError?: string }

function mixedRequests(s: Sizes, n: number, seed: number): { kind: Kind; path: string }[] {
  const sum = MIX.reduce((a, [, w]) => a + w, 0);
  const per = MIX.map(([k, w]) => requests(k, Math.ceil((n * w) / sum), s, seed + k.length * 7919 + w).map((path) => ({ kind: k, path })));
  const rnd = prng(seed);
  const all = per.flat();
  for (let i = all.length - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1));
    [all[i], all[j]] = [all[j]!, all[i]!];
  }
  return all;
}

const pct = (sorted: Float64Array, p: number) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]! : NaN);

/** Load-generator process: N connections, each sends its next request when the previous answer is read (closed loop). */
async function loadGenerator(): Promise<void> {
  const { Pool } = await import('undici');
  process.once('message', async (m: { url: string; tokens: string[]; phase: Phase }) => {
    const { url, tokens, phase } = m;
    const pool = new Pool(url, { connections: phase.connections, pipelining: 1, keepAliveTimeout: 60_000 });
    const lat = new Map<Kind, number[]>();
    const errs = new Map<Kind, number>();
    let next = 0;
    let firstError: string | undefined;
    const t0 = performance.now();
    const end = t0 + phase.seconds * 1000;
    const worker = async (w: number) => {
      const auth = `Bearer ${tokens[w % tokens.length]}`;
      while (performance.now() < end) {
        const rq = phase.requests[next++ % phase.requests.length]!;
        const t = performance.now();
        let ok = false;
        try {
          const res = await pool.request({ path: rq.path, method: 'GET', headers: { authorization: auth, accept: 'application/fhir+json' } });
          const body = await res.body.text();
          ok = res.statusCode === 200;
          if (!ok && !firstError) firstError = `${res.statusCode} ${rq.path}: ${body.slice(0, 300)}`;
        } catch (e) {
          if (!firstError) firstError = `${rq.path}: ${(e as Error).message}`;
        }
        const ms = performance.now() - t;
        if (ok) (lat.get(rq.kind) ?? lat.set(rq.kind, []).get(rq.kind)!).push(ms);
        else errs.set(rq.kind, (errs.get(rq.kind) ?? 0) + 1);
      }
    };
    await Promise.all(Array.from({ length: phase.connections }, (_, w) => worker(w)));
    const seconds = (performance.now() - t0) / 1000;
    await pool.close();
    const kinds: Partial<Record<Kind, KindStats>> = {};
    const all: number[] = [];
    for (const [k, v] of lat) {
      const s = Float64Array.from(v).sort();
      all.push(...v);
      kinds[k] = { n: v.length, errors: errs.get(k) ?? 0, p50: pct(s, 50), p99: pct(s, 99), max: s[s.length - 1] ?? NaN };
    }
    for (const [k, e] of errs) if (!kinds[k]) kinds[k] = { n: 0, errors: e, p50: NaN, p99: NaN, max: NaN };
    const sorted = Float64Array.from(all).sort();
    const errors = [...errs.values()].reduce((a, b) => a + b, 0);
    const r: PhaseResult = { name: phase.name, seconds, total: all.length, errors, rps: all.length / seconds, p50: pct(sorted, 50), p99: pct(sorted, 99), kinds, firstError };
    process.send!(r, () => process.exit(0));
  });
}

function runPhase(url: string, tokens: string[], phase: Phase): Promise<PhaseResult> {
  return new Promise((resolve, reject) => {
    const child = fork(import.meta.filename, ['--load-generator'], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    let got: PhaseResult | undefined;
    child.on('message', (m) => { got = m as PhaseResult; });
    child.on('exit', (code) => (got ? resolve(got) : reject(new Error(`load generator exited ${code} without a result`))));
    child.send({ url, tokens, phase });
  });
}

// ---------------------------------------------------------------- the server (central's FHIR app)

interface ServeArgs { backend: 'sqlite' | 'postgres'; location: string; token: string; readers?: number }

/** Server process: central's management app with the FHIR facade, as startCentral mounts it (no NATS: nothing is ingested here). */
async function serve(): Promise<void> {
  const a = JSON.parse(opt('serve')!) as ServeArgs;
  const { centralApi } = await import('../central/api.ts');
  const { mountFhir } = await import('../central/fhir/index.ts');
  const { centralMetrics } = await import('../central/metrics.ts');
  const { openWarehouse } = await import('../central/warehouse/open.ts');
  const { createLogger, listen } = await import('../contracts/runtime/index.ts');
  const logger = createLogger('central');
  const wh = await openWarehouse(a.backend === 'postgres' ? { warehouse: 'postgres', pgUrl: a.location, dataDir: tmpdir() } : { warehouse: 'sqlite', dataDir: a.location });
  const { httpMetrics } = centralMetrics(wh);
  const api = centralApi({
    middleware: [httpMetrics], wh, token: a.token,
    publishDictionary: async () => { throw new Error('no NATS in the FHIR benchmark'); },
    audit: (e) => wh.audit(e),
  });
  const fhir = await mountFhir(api, { wh, token: a.token, log: logger, readers: a.readers });
  const http = await listen(api, '127.0.0.1', 0);
  process.send!({ url: http.url });
  process.on('message', async (m) => {
    // CPU time of the whole server process (all threads): its cost per request, whatever the machine's load.
    if (m === 'cpu') return process.send!({ cpu: process.cpuUsage() });
    await http.close();
    await fhir.stop();
    await wh.close();
    process.exit(0);
  });
}

async function startServer(a: ServeArgs, cpuProf: string | undefined): Promise<{ url: string; child: ChildProcess; cpu: () => Promise<number>; stop: () => Promise<void> }> {
  const execArgv = ['--import', 'tsx', ...(cpuProf ? ['--cpu-prof', `--cpu-prof-dir=${join(cpuProf, a.backend)}`] : [])];
  const child = fork(import.meta.filename, ['--serve', JSON.stringify(a)], { execArgv, stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  const url = await new Promise<string>((resolve, reject) => {
    child.once('message', (m) => resolve((m as { url: string }).url));
    child.once('exit', (code) => reject(new Error(`FHIR server exited ${code}`)));
  });
  return {
    url, child,
    /** Server CPU seconds (user + system) so far. */
    cpu: () => new Promise((resolve) => {
      child.once('message', (m) => { const c = (m as { cpu: NodeJS.CpuUsage }).cpu; resolve((c.user + c.system) / 1e6); });
      child.send('cpu');
    }),
    stop: () => new Promise((resolve) => {
      child.once('exit', () => resolve());
      child.send('stop');
    }),
  };
}

/** CPU seconds (user + system, from /proc/<pid>/stat) of each PostgreSQL backend connected to the database at `url` (the server's connections). */
async function pgBackendCpu(url: string): Promise<Map<number, number>> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    const pids = (await c.query<{ pid: number }>('SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()')).rows.map((r) => r.pid);
    const tick = 100; // USER_HZ on Linux
    const out = new Map<number, number>();
    for (const pid of pids) {
      try {
        const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
        const rest = f.slice(f.lastIndexOf(')') + 2).split(' ');
        out.set(pid, (Number(rest[11]) + Number(rest[12])) / tick); // utime, stime (fields 14, 15)
      } catch { /* ended, or another machine */ }
    }
    return out;
  } finally {
    await c.end();
  }
}

/** Register third-party clients (administrator, static API token) and get their tokens (client credentials, as a third party does). */
async function clientTokens(url: string, apiToken: string, n: number): Promise<string[]> {
  const tokens: string[] = [];
  for (let i = 0; i < n; i++) {
    const clientId = `bench-client-${i}-${Date.now().toString(36)}`.slice(0, 24);
    const reg = await fetch(`${url}/api/oauth/clients`, {
      method: 'POST', headers: { authorization: `Bearer ${apiToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ clientId, name: `基准测试客户端 ${i}`, scopes: ['system/*.read'], ratePerMinute: 100_000, tokenTtlSeconds: 3600 }),
    });
    if (reg.status !== 201) throw new Error(`client registration: ${reg.status} ${await reg.text()}`);
    const { clientSecret } = await reg.json() as { clientSecret: string };
    const tok = await fetch(`${url}/fhir/auth/token`, {
      method: 'POST', headers: { authorization: `Basic ${Buffer.from(`${clientId}:${clientSecret}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: 'grant_type=client_credentials&scope=system%2F*.read',
    });
    if (tok.status !== 200) throw new Error(`token: ${tok.status} ${await tok.text()}`);
    tokens.push((await tok.json() as { access_token: string }).access_token);
  }
  return tokens;
}

// ---------------------------------------------------------------- main

/** Which PostgreSQL the run compared (set by main, read by writeResults), and its memory/planner settings as the server reports them. */
let pgConfig = 'dedicated';
let pgSettings = '';

interface BackendResult { backend: string; load: LoadStats; phases: PhaseResult[]; sample: string }

async function main(): Promise<void> {
  const quick = args.includes('--quick');
  const residents = num('residents', quick ? 100_000 : 1_000_000);
  const observations = num('observations', quick ? 1_000_000 : 10_000_000);
  const sizes: Sizes = { residents, observations, encounters: num('encounters', residents) };
  const duration = num('duration', quick ? 10 : 20);
  const connections = num('connections', 16);
  const warmup = num('warmup', quick ? 5 : 20);
  const backends = (opt('backends') ?? 'sqlite,postgres').split(',') as ('sqlite' | 'postgres')[];
  const cpuProf = args.includes('--cpu-prof') ? join(tmpdir(), 'fhir-bench-prof') : undefined;
  if (cpuProf) mkdirSync(cpuProf, { recursive: true });
  const apiToken = `bench-api-token-${Math.random().toString(36).slice(2)}`;
  log(`${sizes.residents.toLocaleString('en')} residents, ${sizes.encounters.toLocaleString('en')} encounters, ${sizes.observations.toLocaleString('en')} observations; backends ${backends.join(', ')}; load average ${loadavg().map((x) => x.toFixed(1)).join(' ')}`);
  const results: BackendResult[] = [];
  const keep = args.includes('--keep');
  const reuse = { sqlite: opt('reuse-sqlite'), postgres: opt('reuse-pg') };
  const dir = reuse.sqlite ?? mkdtempSync(join(tmpdir(), 'fhir-bench-'));
  const { createTestDatabase } = await import('../test/central/postgres.ts');
  const pgMode = opt('pg') ?? 'dedicated';
  if (pgMode !== 'dedicated' && pgMode !== 'shared') throw new Error('--pg must be dedicated or shared');
  pgConfig = reuse.postgres ? `reused database ${reuse.postgres}` : pgMode === 'dedicated' ? 'dedicated' : 'shared';
  const cluster = backends.includes('postgres') && !reuse.postgres && pgMode === 'dedicated' ? await startPgCluster(PRODUCTION_SETTINGS, { detached: keep }) : undefined;
  if (cluster) log(`postgres: dedicated PostgreSQL 15 cluster at ${cluster.url} (${cluster.dir}): ${Object.entries(PRODUCTION_SETTINGS).map(([k, v]) => `${k}=${v}`).join(', ')}`);
  try {
    for (const backend of backends) {
      const db = backend === 'postgres' && !reuse.postgres && !cluster ? await createTestDatabase('fhirbench') : undefined;
      const dedicatedUrl = backend === 'postgres' && cluster ? await cluster.createDatabase('fhirbench') : undefined;
      try {
        const location = backend === 'postgres' ? reuse.postgres ?? dedicatedUrl ?? db!.url : dir;
        // Schema: central's own migrations (warehouse, EMPI, OAuth) by opening it once.
        {
          const { openWarehouse } = await import('../central/warehouse/open.ts');
          const { EMPI_SCHEMA } = await import('../central/empi/empi.ts');
          const wh = await openWarehouse(backend === 'postgres' ? { warehouse: 'postgres', pgUrl: location, dataDir: dir } : { warehouse: 'sqlite', dataDir: dir });
          for (const s of EMPI_SCHEMA) {
            if (backend === 'postgres') await (wh as unknown as { pool: pg.Pool }).pool.query(s.pg);
            else (wh as unknown as { db: Database.Database }).db.exec(s.sqlite);
          }
          await wh.close();
        }
        log(`${backend}: loading`);
        const load: LoadStats = reuse[backend] ? { seconds: NaN, rows: NaN, indexSeconds: NaN } : backend === 'postgres' ? await loadPostgres(location, sizes) : await loadSqlite(join(dir, 'warehouse.db'), sizes);
        if (keep) log(`${backend}: data kept at ${location}`);
        log(`${backend}: loaded ${load.rows.toLocaleString('en')} rows in ${load.seconds.toFixed(0)} s (indexes ${load.indexSeconds.toFixed(0)} s), ${((load.dbBytes ?? 0) / 2 ** 30).toFixed(1)} GiB`);
        if (backend === 'postgres') {
          const c = new pg.Client({ connectionString: location });
          await c.connect();
          const v = (await c.query<Record<string, string>>("SELECT current_setting('server_version') AS v, current_setting('shared_buffers') AS sb, current_setting('effective_cache_size') AS ecs, current_setting('random_page_cost') AS rpc, current_setting('work_mem') AS wm")).rows[0]!;
          await c.end();
          pgSettings = `${v.v!.split(' ')[0]}: shared_buffers ${v.sb}, effective_cache_size ${v.ecs}, work_mem ${v.wm}, random_page_cost ${v.rpc}`;
          log(`postgres: ${pgSettings}`);
        }
        const server = await startServer({ backend, location, token: apiToken, readers: opt('readers') === undefined ? undefined : num('readers', 0) }, cpuProf);
        try {
          const tokens = await clientTokens(server.url, apiToken, 4);
          const check = await fetch(`${server.url}${requests('patient-identifier', 1, sizes, 1)[0]}`, { headers: { authorization: `Bearer ${tokens[0]}` } });
          const sample = await check.text();
          if (check.status !== 200 || !sample.includes('"total":1')) throw new Error(`identifier search does not find the generated resident: ${check.status} ${sample.slice(0, 300)}`);
          const phases: PhaseResult[] = [];
          const run = async (p: Phase) => {
            const c0 = await server.cpu();
            const pg0 = backend === 'postgres' ? await pgBackendCpu(location) : undefined;
            const r = await runPhase(server.url, tokens, p);
            r.serverCpuUs = ((await server.cpu()) - c0) * 1e6 / Math.max(1, r.total + r.errors);
            if (pg0) {
              // Backends alive at the end (the server's pools keep theirs under load); one that started meanwhile counts from 0.
              let s = 0;
              for (const [pid, t] of await pgBackendCpu(location)) s += t - (pg0.get(pid) ?? 0);
              r.pgCpuUs = s * 1e6 / Math.max(1, r.total + r.errors);
            }
            log(`${backend} ${p.name}: ${r.total} ok, ${r.errors} errors, ${r.rps.toFixed(0)} req/s, p50 ${r.p50.toFixed(1)} ms, p99 ${r.p99.toFixed(1)} ms, server CPU ${r.serverCpuUs.toFixed(0)} µs/request${r.pgCpuUs !== undefined ? `, PostgreSQL backends' CPU ${r.pgCpuUs.toFixed(0)} µs/request` : ''}; load average ${loadavg()[0]!.toFixed(1)}${r.firstError ? `; first error ${r.firstError}` : ''}`);
            return r;
          };
          // A server that has been running is warm: its database pages are in memory. The load
          // left them cold (PostgreSQL's buffers hold what the index builds touched, the OS cache
          // what the load wrote last), so prewarm first, then a warm-up phase of the mixed load.
          const pw = await prewarm(backend, location);
          log(`${backend}: prewarmed ${pw}`);
          await run({ name: 'warm-up', seconds: warmup, connections, requests: mixedRequests(sizes, 20_000, 7) });
          phases.push(await run({ name: 'identifier', seconds: duration / 2, connections: 4, requests: requests('patient-identifier', 20_000, sizes, 11).map((path) => ({ kind: 'patient-identifier' as Kind, path })) }));
          phases.push(await run({ name: 'mixed', seconds: duration, connections, requests: mixedRequests(sizes, 60_000, 13) }));
          results.push({ backend, load, phases, sample });
        } finally {
          await server.stop();
        }
      } finally {
        if (!keep && !reuse[backend]) {
          await db?.drop();
          if (backend === 'sqlite') for (const f of ['warehouse.db', 'warehouse.db-wal', 'warehouse.db-shm']) rmSync(join(dir, f), { force: true });
        }
      }
    }
  } finally {
    if (!keep && !reuse.sqlite) rmSync(dir, { recursive: true, force: true });
    if (cluster && !keep) await cluster.stop();
    else if (cluster) log(`postgres: the dedicated cluster keeps running (stop: runuser -u postgres -- ${'/usr/lib/postgresql/15/bin/pg_ctl'} -D ${cluster.dir}/data stop)`);
  }
  if (cpuProf) log(`server CPU profiles in ${cpuProf}`);
  if (args.includes('--no-results')) return;
  writeResults(sizes, duration, connections, quick, results, warmup);
}

/**
 * Bring the database into memory as a server that has been running has it: SQLite's file read
 * once into the OS page cache; PostgreSQL's tables and indexes of the FHIR search path loaded
 * into shared_buffers with pg_prewarm (contrib, shipped with Debian's postgresql-15).
 */
async function prewarm(backend: 'sqlite' | 'postgres', location: string): Promise<string> {
  const t0 = performance.now();
  if (backend === 'sqlite') {
    const { openSync, readSync, closeSync } = await import('node:fs');
    let bytes = 0;
    const buf = Buffer.allocUnsafe(8 << 20);
    for (const f of ['warehouse.db', 'warehouse.db-wal']) {
      const file = join(location, f);
      if (!existsSync(file)) continue;
      const fd = openSync(file, 'r');
      try {
        for (let n; (n = readSync(fd, buf, 0, buf.length, null)) > 0;) bytes += n;
      } finally {
        closeSync(fd);
      }
    }
    return `${(bytes / 2 ** 30).toFixed(1)} GiB of SQLite file into the page cache in ${((performance.now() - t0) / 1000).toFixed(1)} s`;
  }
  const c = new pg.Client({ connectionString: location });
  await c.connect();
  try {
    await c.query('CREATE EXTENSION IF NOT EXISTS pg_prewarm');
    const rels = (await c.query<{ oid: string; name: string }>(`SELECT c.oid::regclass::text AS name, c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'i') ORDER BY pg_relation_size(c.oid) ASC`)).rows;
    let blocks = 0;
    for (const r of rels) blocks += Number((await c.query<{ n: string }>('SELECT pg_prewarm($1::regclass) AS n', [r.name])).rows[0]!.n);
    return `${rels.length} PostgreSQL relations, ${((blocks * 8192) / 2 ** 30).toFixed(1)} GiB into shared buffers in ${((performance.now() - t0) / 1000).toFixed(1)} s`;
  } finally {
    await c.end();
  }
}

function writeResults(s: Sizes, duration: number, connections: number, quick: boolean, results: BackendResult[], warmupNote: number): void {
  const la = loadavg().map((x) => x.toFixed(1)).join(' ');
  const f = (x: number) => (Number.isFinite(x) ? x.toFixed(1) : '-');
  const name = (b: string) => (b === 'postgres' ? (pgConfig === 'shared' ? 'PostgreSQL 15 (Debian, default settings)' : pgConfig === 'dedicated' ? 'PostgreSQL 15 (dedicated, production settings)' : `PostgreSQL ${pgSettings}`) : 'SQLite (WAL, synchronous=FULL)');
  const lines = [
    '## FHIR',
    '',
    `Run ${new Date().toISOString()}${quick ? ' (quick mode)' : ''}; load average ${la} at the end: \`node --import tsx bench/fhir.bench.ts${quick ? ' --quick' : ''}\`.`,
    `Data: ${s.residents.toLocaleString('en')} residents (with their EMPI links), ${s.encounters.toLocaleString('en')} visits with 1-2 diagnoses, ${s.observations.toLocaleString('en')} observations (80% device readings, 20% lab results) over a year and 27 clinics, bulk-loaded into \`residents\`, \`records\`, \`empi_link\` and, on SQLite, the WS 365 projection rows of each record (central's projector; SQLite's searches by patient read the projections' resident indexes) (secondary indexes rebuilt after the load).`,
    'Server: central\'s management app with the FHIR facade (Hono routes, OAuth2 client-credential tokens of 4 registered clients, scopes, rate limits, an audit entry stored before every answer) in its own process; the closed-loop load generator (undici) in another. Both share the 2 cores.',
    ...(pgSettings ? [`PostgreSQL as it reported itself: ${pgSettings}.`] : []),
    ...(pgConfig === 'dedicated' ? [`PostgreSQL: a dedicated cluster started by the benchmark (bench/pg-cluster.ts) with production settings for this 24 GiB machine: ${Object.entries(PRODUCTION_SETTINGS).map(([k, v]) => `${k}=${v}`).join(', ')}; \`--pg shared\` runs on the machine's server with Debian's defaults (shared_buffers 128 MB) instead.`] : []),
    `Before timing: the database is prewarmed (SQLite: its file read once into the OS page cache; PostgreSQL: pg_prewarm of the schema's tables and indexes), then ${warmupNote} s of untimed mixed load, so the figures are those of a server that has been running rather than of one that just finished a bulk load.`,
    `Phases: Patient?identifier=<ID card system>|<number> alone, 4 connections, ${duration / 2} s; then the mixed load, ${connections} connections, ${duration} s: ${MIX.map(([k, w]) => `${k} ${w}%`).join(', ')} (observation-search is \`Observation?patient=X&code=Y&_sort=-date&_count=20\`).`,
    '',
    '| backend | load (rows/s, s) | identifier p50 / p99 | identifier req/s | mixed req/s | mixed p50 / p99 | server CPU per mixed request | PostgreSQL backends\' CPU per mixed request | errors |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...results.map((r) => {
      const id = r.phases.find((p) => p.name === 'identifier')!;
      const mx = r.phases.find((p) => p.name === 'mixed')!;
      const loaded = Number.isFinite(r.load.seconds) ? `${Math.round(r.load.rows / r.load.seconds).toLocaleString('en')} rows/s, ${r.load.seconds.toFixed(0)} s` : 'reused (not timed)';
      return `| ${name(r.backend)} | ${loaded} | ${f(id.p50)} / **${f(id.p99)} ms** | ${id.rps.toFixed(0)} | **${mx.rps.toFixed(0)}** | ${f(mx.p50)} / ${f(mx.p99)} ms | ${(mx.serverCpuUs ?? NaN).toFixed(0)} µs | ${mx.pgCpuUs === undefined ? '-' : `${mx.pgCpuUs.toFixed(0)} µs`} | ${id.errors + mx.errors} |`;
    }),
    '',
    'Mixed load per request kind (p50 / p99 ms):',
    '',
    `| kind | ${results.map((r) => name(r.backend)).join(' | ')} |`,
    `|---|${results.map(() => '---:').join('|')}|`,
    ...MIX.map(([k]) => `| ${k} | ${results.map((r) => { const x = r.phases.find((p) => p.name === 'mixed')!.kinds[k]; return x ? `${f(x.p50)} / ${f(x.p99)}` : '-'; }).join(' | ')} |`),
    '',
    ...(results.length === 2 ? [`PostgreSQL / SQLite mixed throughput: **${(results[1]!.phases[1]!.rps / results[0]!.phases[1]!.rps).toFixed(2)}x**.`] : []),
    '"server CPU per mixed request" is the server process\'s CPU time (all its threads) over the mixed phase divided by its requests: less dependent on other load than the rates (1,000,000 / it is the rate one core would serve), though still inflated on an oversubscribed machine.',
    ...results.map((r) => `${name(r.backend)}: identifier p99 ${f(r.phases[0]!.p99)} ms (target < 20 ms: ${r.phases[0]!.p99 < 20 ? 'met' : 'not met'}), mixed ${r.phases[1]!.rps.toFixed(0)} req/s (target >= 1,500: ${r.phases[1]!.rps >= 1500 ? 'met' : 'not met'}).`),
    'Targets (issue 6): identifier p99 < 20 ms; mixed >= 1,500 req/s on this 2-core machine (for scale: HAPI FHIR 3,755 and Medplum 1,354 mixed CRUD req/s on 8 vCPU in a published benchmark).',
    '',
  ];
  writeResultsSection(lines.join('\n'));
  log('RESULTS.md updated');
}

if (args.includes('--help') || args.includes('-h')) {
  // The usage is this file's header comment: without this, --help started a full-size run.
  const head = readFileSync(import.meta.filename, 'utf8').match(/^\/\*\*\n([\s\S]*?)\*\//)?.[1] ?? '';
  console.log(head.split('\n').map((l) => l.replace(/^ \* ?/, '')).join('\n').trimEnd());
} else if (args.includes('--load-generator')) await loadGenerator();
else if (opt('serve') !== undefined) await serve();
else await main();
