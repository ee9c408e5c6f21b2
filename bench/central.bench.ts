/**
 * Central warehouse benchmark (issue [central]): ingest throughput through the `Warehouse`
 * interface (what the spine's consumer calls, one transaction per batch of 1,000), SQLite vs
 * PostgreSQL in the same run, with the WS 365 projections written in the same transaction, and
 * the same records of a type without projection as the baseline (cost of the projections).
 * Writes the "## Central" section of bench/RESULTS.md.
 *
 *   node --import tsx bench/central.bench.ts [--quick] [--out FILE]
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { PostgresWarehouse } from '../central/warehouse/postgres.ts';
import { SqliteWarehouse } from '../central/warehouse/sqlite.ts';
import type { IngestItem, Warehouse } from '../central/warehouse/types.ts';
import { formatHlc, recordTypes, type RecordType } from '../contracts/index.ts';
import { createTestDatabase } from '../test/central/postgres.ts';
import { writeResultsSection } from './results-file.ts';

const quick = process.argv.includes('--quick');
const N = quick ? 10_000 : 40_000;
const BATCH = 1_000;
const CLINICS = 10;
const log = (s: string) => console.log(`[bench] ${s}`);

/** Mixed clinical records as a clinic sends them; payloads validated once by their schemas. */
function mixed(n: number, tag: string, unprojected: boolean): IngestItem[] {
  const out: IngestItem[] = [];
  const seqs = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    const clinicId = `${tag}-c${i % CLINICS}`;
    const seq = (seqs.get(clinicId) ?? 0) + 1;
    seqs.set(clinicId, seq);
    const at = new Date(Date.UTC(2026, 0, 1) + i * 60_000).toISOString();
    const resident = `r${i % 5000}`;
    const k = i % 10;
    let type: RecordType;
    let payload: unknown;
    if (k < 5) { type = 'observation'; payload = { observationId: `o${i}`, residentId: resident, code: '8480-6', display: '收缩压', value: 110 + (i % 60), unit: 'mm[Hg]', effectiveAt: at, deviceId: 'bp-1' }; }
    else if (k < 7) { type = 'encounter'; payload = { encounterId: `e${i}`, residentId: resident, class: 'outpatient', status: 'finished', departmentCode: 'GP', doctorCode: 'D0001', registeredAt: at, chiefComplaint: '头晕', diagnoses: [{ code: 'I10.x00', name: '原发性高血压', primary: true }, { code: 'E11.900', name: '2型糖尿病', primary: false }] }; }
    else if (k < 9) { type = 'lab_result'; payload = { resultId: `l${i}`, residentId: resident, specimenId: `S${i}`, testCode: '2823-3', testName: '血钾', value: '4.2', unit: 'mmol/L', status: 'final', resultedAt: at }; }
    else {
      type = 'prescription';
      payload = { prescriptionId: `p${i}`, encounterId: `e${i}`, residentId: resident, prescriber: 'doc', issuedAt: at, status: 'active',
        items: [1, 2, 3].map((lineNo) => ({ lineNo, drugCode: `8690000000001${lineNo}`, drugName: `药${lineNo}`, spec: '5mg*28片', dose: 5, doseUnit: 'mg', frequency: 'qd', route: 'po', days: 28, quantity: 1, unit: '盒', volumeProcurement: lineNo === 1 })) };
    }
    const p = recordTypes[type].parse(payload);
    const t = (unprojected ? 'bench_unprojected' : type) as RecordType;
    out.push({ kind: 'record', type: t, payload: p, hash: `${tag}:${i}`, raw: '', envelope: { recordId: `${tag}-${i}`, type: t, clinicId, seq, version: 1, hlc: formatHlc({ ms: 1_760_000_000_000 + i, counter: 0, node: clinicId }), schemaVersion: 1, createdAt: at, payload: p } });
  }
  return out;
}

/** CPU seconds the PostgreSQL server processes of this warehouse's database have used (Linux /proc; 0 for SQLite). */
async function serverCpuSec(wh: Warehouse): Promise<number> {
  if (!(wh instanceof PostgresWarehouse)) return 0;
  const pids = (await wh.pool.query<{ pid: number }>('SELECT pid FROM pg_stat_activity WHERE datname = current_database()')).rows.map((r) => r.pid);
  let ticks = 0;
  for (const pid of pids) {
    try {
      // Fields after the command name: utime and stime are the 12th and 13th (clock ticks, 100 per second).
      const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
      ticks += Number(f[11]) + Number(f[12]);
    } catch { /* a backend that just ended */ }
  }
  return ticks / 100;
}

interface Measure { rate: number; clientUs: number; serverUs: number }

/** Records per second, and CPU microseconds per record in this process and in the database server. */
async function ingestRate(wh: Warehouse, items: IngestItem[]): Promise<Measure> {
  const srv0 = await serverCpuSec(wh);
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  for (let i = 0; i < items.length; i += BATCH) {
    const r = await wh.ingest(items.slice(i, i + BATCH));
    if (r.outcomes.some((o) => o !== 'applied')) throw new Error(`batch at ${i}: ${r.outcomes.filter((o) => o !== 'applied').length} not applied`);
  }
  const wall = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const srv = await serverCpuSec(wh);
  return { rate: items.length / wall, clientUs: (cpu.user + cpu.system) / items.length, serverUs: ((srv - srv0) * 1e6) / items.length };
}

const cpuText = (m: Measure) => `${m.clientUs.toFixed(0)}${m.serverUs ? ` + ${m.serverUs.toFixed(0)}` : ''} µs`;

async function main() {
  const rows: { backend: string; projected: Measure; baseline: Measure }[] = [];
  const dir = mkdtempSync(join(tmpdir(), 'central-bench-'));
  const db = await createTestDatabase('bench');
  try {
    const backends: [string, () => Promise<Warehouse>][] = [
      ['SQLite (WAL, synchronous=FULL)', async () => new SqliteWarehouse(join(dir, 'warehouse.db'))],
      ['PostgreSQL (Debian server, default settings)', async () => PostgresWarehouse.open(db.url)],
    ];
    for (const [name, open] of backends) {
      const wh = await open();
      try {
        await ingestRate(wh, mixed(2_000, `${name.slice(0, 2)}warm`, false));
        const baseline = await ingestRate(wh, mixed(N, `${name.slice(0, 2)}base`, true));
        const projected = await ingestRate(wh, mixed(N, `${name.slice(0, 2)}proj`, false));
        log(`${name}: projected ${projected.rate.toFixed(0)} rec/s (${cpuText(projected)}), records only ${baseline.rate.toFixed(0)} rec/s (${cpuText(baseline)})`);
        rows.push({ backend: name, projected, baseline });
      } finally {
        await wh.close();
      }
    }
  } finally {
    await db.drop();
    rmSync(dir, { recursive: true, force: true });
  }
  const [s, p] = rows as [typeof rows[0], typeof rows[0]];
  const section = [
    '## Central',
    '',
    `Run ${new Date().toISOString()} on this machine${quick ? ' (quick mode)' : ''}; load average ${loadavg().map((x) => x.toFixed(1)).join(' ')} at the end: \`node --import tsx bench/central.bench.ts\`.`,
    `Ingest through the \`Warehouse\` interface (what the spine consumer calls), ${N.toLocaleString('en')} records per measurement over ${CLINICS} clinics, one transaction per batch of ${BATCH}; records mixed as a clinic sends them (50% device readings, 20% visits with 2 diagnoses, 20% lab results, 10% prescriptions with 3 lines).`,
    '"records only" sends the same payloads as a type without projection (the generic `records` row, ingest log and watermark only): the difference is the cost of the WS 365 projection rows written in the same transaction.',
    'CPU per record is the time this process (+ the PostgreSQL server processes of the database, from /proc) spent per record: unlike the rate it hardly depends on how many other processes share the 2 cores.',
    '',
    '| backend | with WS 365 projections | records only | projections cost | CPU per record, with projections | CPU per record, records only |',
    '|---|---:|---:|---:|---:|---:|',
    ...rows.map((r) => `| ${r.backend} | ${r.projected.rate.toFixed(0)} rec/s | ${r.baseline.rate.toFixed(0)} rec/s | ${(100 * (1 - r.projected.rate / r.baseline.rate)).toFixed(0)}% | ${cpuText(r.projected)} | ${cpuText(r.baseline)} |`),
    '',
    `PostgreSQL / SQLite: **${(p.projected.rate / s.projected.rate).toFixed(2)}x** with projections, ${(p.baseline.rate / s.baseline.rate).toFixed(2)}x records only. Target from the issue: >= 5,000 records/s into each backend through the spine (this measures the warehouse alone, the spine's own rate is in the Spine section).`,
    '',
  ].join('\n');
  // `--out FILE` writes the section elsewhere (trial runs while others edit RESULTS.md).
  const outArg = process.argv.indexOf('--out');
  const file = outArg > 0 && process.argv[outArg + 1] ? process.argv[outArg + 1]! : join(import.meta.dirname, 'RESULTS.md');
  writeResultsSection(section, file);
  log('RESULTS.md updated');
}

await main();
