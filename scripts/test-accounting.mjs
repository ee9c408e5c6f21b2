// Per-test-file accounting, to see where the suite's time goes: run the suite with
//   TEST_ACCOUNTING_LOG=/tmp/acct.tsv npm test -- --node-arg=--import=./test/helpers/ts-loader.mjs --node-arg=--import=./scripts/test-accounting.mjs
// (node-arg on the command line replaces .taprc's list: name the TypeScript loader again). CPU counts from the
// accounting import on; the process start before it (tsx, tap) is ~1-2 CPU-s per file.
// Each test process appends: file, own CPU s, CPU s of its waited-for children (nats-server,
// Chromium, child processes), wall s, start and exit (epoch ms: where the file ran in the suite).
// Then: sort -t$'\t' -k4 -rn /tmp/acct.tsv
import { appendFileSync, readFileSync } from 'node:fs';

const log = process.env.TEST_ACCOUNTING_LOG;
const started = Date.now();
if (log) {
  process.on('exit', () => {
    try {
      // /proc/self/stat fields 14-17: utime stime cutime cstime in clock ticks (100/s on Linux).
      const f = readFileSync('/proc/self/stat', 'utf8').split(') ')[1].split(' ');
      const [ut, st, cut, cst] = [f[11], f[12], f[13], f[14]].map((x) => Number(x) / 100);
      appendFileSync(log, `${process.argv[1]}\t${(ut + st).toFixed(1)}\t${(cut + cst).toFixed(1)}\t${((Date.now() - started) / 1000).toFixed(1)}\t${started}\t${Date.now()}\n`);
    } catch { /* accounting must never fail a test */ }
  });
}
