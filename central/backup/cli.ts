/**
 * Central backup CLI (npm run backup:central -- <command>). Uses CENTRAL_* and CENTRAL_BACKUP_*.
 *
 *   keygen --key FILE
 *   backup [--full|--incremental] [--no-upload]
 *   list [--remote]
 *   restore --to DIR [--point ID|TIME|latest] [--from local|remote]
 *           (PostgreSQL: then `pg_restore -d <new db> DIR/postgres/warehouse.dump`)
 *   drill
 *   token --owner CLINIC_ID         the upload token an edge needs (EDGE_BACKUP_REMOTE_TOKEN)
 */
import { BackupError, clinicBackupToken, generateKeyFile, listPoints, readManifest, type BackupProgress } from '../../contracts/backup/index.ts';
import { printDrill, runBackupCli } from '../../contracts/backup/cli.ts';
import { loadCentralConfig } from '../config.ts';
import { backupCentral, centralTargets, drillCentral, pgCounts, restoreCentral, uploadAndPruneCentral, warehouseCounts, type CentralBackupContext } from './central-backup.ts';
import { loadCentralBackupConfig } from './config.ts';
import { join } from 'node:path';

const args = process.argv.slice(2);
const flag = (n: string) => args.includes(`--${n}`);
const opt = (n: string) => { const i = args.indexOf(`--${n}`); return i >= 0 ? args[i + 1] : undefined; };
const cmd = args[0] && !args[0].startsWith('--') ? args[0] : 'backup';
const mb = (n: number) => `${(n / 1024 / 1024).toFixed(1)} MB`;

function progress(): (p: BackupProgress) => void {
  let last = 0;
  return (p) => {
    const now = Date.now();
    if (now - last < 1000 && p.done < p.total) return;
    last = now;
    process.stderr.write(`  ${p.phase.padEnd(8)} ${String(p.total ? Math.floor((100 * p.done) / p.total) : 0).padStart(3)}%  ${mb(p.done)} / ${mb(p.total)}  ${p.file ?? ''}\n`);
  };
}

async function main(): Promise<void> {
  if (cmd === 'keygen') {
    const file = opt('key');
    if (!file) throw new BackupError('KEY_FILE', 'usage: npm run backup:central -- keygen --key FILE');
    console.log(`created backup key ${generateKeyFile(file).keyId} in ${file}; keep a copy away from the backups`);
    return;
  }
  const backup = loadCentralBackupConfig();
  if (cmd === 'token') {
    const owner = opt('owner');
    if (!owner || !backup.targetSecret) throw new BackupError('KEY_FILE', 'usage: CENTRAL_BACKUP_TARGET_SECRET=... npm run backup:central -- token --owner CLINIC_ID');
    console.log(clinicBackupToken(backup.targetSecret, owner));
    return;
  }
  const central = loadCentralConfig();
  const ctx: CentralBackupContext = { central, backup, onProgress: progress() };
  const t0 = Date.now();
  switch (cmd) {
    case 'backup': {
      const b = await backupCentral(ctx, { kind: flag('full') ? 'full' : flag('incremental') ? 'incremental' : 'auto' });
      const s = b.manifest.stats;
      console.log(`backup point ${b.manifest.snapshotId} (${b.manifest.kind}, warehouse ${central.warehouse}): ${b.manifest.files.length} files, ${mb(s.totalBytes)}, ${mb(s.packBytes)} stored, ${(s.durationMs / 1000).toFixed(1)} s; counts ${JSON.stringify(b.manifest.info.counts)}`);
      if (!flag('no-upload')) {
        const u = await uploadAndPruneCentral(ctx);
        console.log(`second site: uploaded ${u.uploaded.length} points; pruned ${u.prunedLocal} local, ${u.prunedRemote} remote objects`);
      }
      break;
    }
    case 'list': {
      const t = centralTargets(ctx);
      const target = flag('remote') && t.remote ? t.remote : t.local;
      for (const p of await listPoints(target)) {
        const m = await readManifest(target, t.key, p.snapshotId);
        console.log(`${m.snapshotId}  ${m.kind.padEnd(11)}  ${m.createdAt}  ${mb(m.stats.totalBytes).padStart(10)}  ${JSON.stringify(m.info.counts)}`);
      }
      break;
    }
    case 'restore': {
      const to = opt('to');
      if (!to) throw new BackupError('NOT_FOUND', 'usage: npm run backup:central -- restore --to NEW_DIR [--point ID|TIME|latest]');
      const r = await restoreCentral(ctx, { dest: to, point: opt('point'), from: opt('from') === 'remote' ? 'remote' : 'local' });
      console.log(`restored ${r.manifest.snapshotId} into ${r.dest}: ${mb(r.bytes)}, checksums verified, ${((Date.now() - t0) / 1000).toFixed(1)} s`);
      if (r.manifest.info.warehouse === 'postgres') console.log(`PostgreSQL warehouse: createdb <new> && pg_restore --no-owner -d postgres://.../<new> ${join(r.dest, 'postgres/warehouse.dump')}, then point CENTRAL_PG_URL at it`);
      else console.log(`start central with CENTRAL_DATA_DIR=${r.dest}`);
      console.log('edges whose receipts are now ahead of this warehouse log "central watermark is below the receipt"; see central/backup/README.md');
      break;
    }
    case 'drill': {
      printDrill(await drillCentral(ctx, { counts: () => (central.warehouse === 'postgres' ? pgCounts(central.pgUrl!) : warehouseCounts(ctx, join(central.dataDir, 'warehouse.db'))) }));
      break;
    }
    default:
      throw new BackupError('NOT_FOUND', `unknown command ${cmd}: use keygen, token, backup, list, restore, drill`);
  }
}

runBackupCli(main);
