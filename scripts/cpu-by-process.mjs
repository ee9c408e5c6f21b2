// Where a machine's CPU goes while something runs (the test suite, a bench): samples /proc every
// 500 ms and adds each process's CPU (utime + stime) to its kind: test-file processes, the central
// and edge children, Chromium, nats-server, PostgreSQL... Writes the totals and the machine's own
// split (user, sys, idle, iowait) to the file named as its argument when it gets SIGTERM:
//   node scripts/cpu-by-process.mjs /tmp/cpu.txt & S=$!; npm test; kill $S; cat /tmp/cpu.txt
// Processes shorter than a sample are partly missed; the machine's split is exact.
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
const out = process.argv[2];
const last = new Map(); const byKind = new Map(); let total0 = null, totalLast = null; let first = true;
const kind = (pid, comm) => {
  if (comm !== 'node' && comm !== 'MainThread' && !comm.startsWith('node')) return comm.replace(/[0-9]+$/, '');
  let cmd = '';
  try { cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' '); } catch {}
  if (cmd.includes('.test.ts')) return 'node:test-file';
  const m = cmd.match(/(central\/main\.ts|edge-agent\/main\.ts|network-monitor\/main\.ts|[\w\/-]+cli\.ts|tsc|tap\/dist|@tapjs\/run|bundle\.mjs|esbuild)/);
  return 'node:' + (m ? m[1] : cmd.slice(0, 60));
};
const sample = () => {
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    let s; try { s = readFileSync(`/proc/${d}/stat`, 'utf8'); } catch { continue; }
    const comm = s.slice(s.indexOf('(') + 1, s.lastIndexOf(')'));
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    const t = (Number(f[11]) + Number(f[12])) / 100;
    const key = `${d}:${f[19]}`; // pid + starttime
    const prev = last.get(key);
    if (prev === undefined) { const k = kind(d, comm); last.set(key, { t, k }); if (!first) byKindAdd(k, t); continue; }
    byKindAdd(prev.k, t - prev.t); prev.t = t;
  }
  const st = readFileSync('/proc/stat', 'utf8').split('\n')[0].split(/\s+/).slice(1).map(Number);
  if (!total0) total0 = st; totalLast = st; first = false;
};
function byKindAdd(k, v) { byKind.set(k, (byKind.get(k) ?? 0) + v); }
const timer = setInterval(sample, 500);
process.on('SIGTERM', () => {
  clearInterval(timer);
  const d = totalLast.map((v, i) => v - total0[i]);
  const busy = d[0] + d[1] + d[2] + d[5] + d[6];
  const lines = [...byKind].sort((a, b) => b[1] - a[1]).map(([k, v]) => `${v.toFixed(1).padStart(8)} ${k}`);
  writeFileSync(out, `machine: user ${(d[0]/100).toFixed(0)} nice ${(d[1]/100).toFixed(0)} sys ${(d[2]/100).toFixed(0)} idle ${(d[3]/100).toFixed(0)} iowait ${(d[4]/100).toFixed(0)} irq+soft ${((d[5]+d[6])/100).toFixed(0)} steal ${(d[7]/100).toFixed(0)}\n` + lines.join('\n') + '\n');
  process.exit(0);
});
