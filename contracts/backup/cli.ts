/** What the edge's and central's backup commands (`npm run backup`, `npm run backup:central`) share. */
import { BackupError } from './errors.ts';
import type { DrillResult } from './protocol.ts';

/** A restore drill's checks and verdict, one line each; a failed drill sets the exit code. */
export function printDrill(d: DrillResult): void {
  for (const c of d.checks) console.log(`  ${c.ok ? 'ok  ' : 'FAIL'} ${c.name}: ${c.detail}`);
  console.log(`drill ${d.ok ? 'PASSED' : 'FAILED'} on ${d.snapshotId}: RPO ${Math.round(d.rpoSeconds)} s, RTO ${d.rtoSeconds.toFixed(1)} s${d.error ? `: ${d.error}` : ''}`);
  if (!d.ok) process.exitCode = 1;
}

/** Runs a backup command; an error ends it with one line naming the backup error's code and exit code 1. */
export function runBackupCli(main: () => Promise<void>): void {
  main().catch((e: Error) => {
    console.error(`${e instanceof BackupError ? `backup error [${e.code}]` : 'error'}: ${e.message}`);
    process.exitCode = 1;
  });
}
