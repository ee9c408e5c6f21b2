/**
 * Edge backup CLI (npm run backup / restore / backup:drill). Uses the edge's own config
 * (EDGE_* / EDGE_CONFIG) and the backup settings (EDGE_BACKUP_*).
 *
 *   backup keygen --key FILE              create a key file (keep a copy away from the backups)
 *   backup [--full|--incremental] [--no-upload] [--rate BYTES_PER_S]
 *   backup list [--remote]
 *   backup upload                         copy new points off-site (resumes), apply retention
 *   restore --to DIR [--point ID|TIME|latest] [--from local|remote] [--no-rejoin]
 *   restore --rejoin-only --to DIR        reconcile an already restored directory with central
 *   restore --to DIR --at TIME [--from local|remote]   point in time: newest point before TIME +
 *                                         replay of central's records up to TIME (pitr.ts)
 *   backup:drill [--from local|remote]
 * Exit code 0 on success, 1 on failure with a message that names the file and what to do.
 */
import { BackupError, Throttle, generateKeyFile, type BackupProgress } from '../../contracts/backup/index.ts';
import { printDrill, runBackupCli } from '../../contracts/backup/cli.ts';
import { createLogger } from '../../contracts/runtime/index.ts';
import { loadEdgeConfig } from '../config.ts';
import { loadEdgeBackupConfig } from './config.ts';
import { restoreEdgeAt } from './pitr.ts';
import { backupEdge, drillEdge, listEdge, rejoinOnly, restoreEdge, uploadAndPrune, type EdgeBackupContext } from './edge-backup.ts';

const args = process.argv.slice(2);
const flag = (n: string) => args.includes(`--${n}`);
const opt = (n: string) => { const i = args.indexOf(`--${n}`); return i >= 0 ? args[i + 1] : undefined; };
const cmd = args[0] && !args[0].startsWith('--') ? args[0] : 'backup';

const mb = (n: number) => `${(n / 1024 / 1024).toFixed(1)} MB`;
function progress(): (p: BackupProgress) => void {
  let last = 0;
  const t0 = Date.now();
  return (p) => {
    const now = Date.now();
    if (now - last < 1000 && p.done < p.total) return;
    last = now;
    const pct = p.total ? Math.floor((100 * p.done) / p.total) : 0;
    const rate = p.done / Math.max(0.001, (now - t0) / 1000);
    process.stderr.write(`  ${p.phase.padEnd(8)} ${String(pct).padStart(3)}%  ${mb(p.done)} / ${mb(p.total)}  ${mb(rate)}/s  ${p.file ?? ''}\n`);
  };
}

async function main(): Promise<void> {
  if (cmd === 'keygen') {
    const file = opt('key');
    if (!file) throw new BackupError('KEY_FILE', 'usage: npm run backup -- keygen --key FILE');
    const k = generateKeyFile(file);
    console.log(`created backup key ${k.keyId} in ${file} (mode 0600). Keep a copy somewhere other than the backups: without it no backup can be restored.`);
    return;
  }
  const edge = loadEdgeConfig();
  const ctx: EdgeBackupContext = { edge, backup: loadEdgeBackupConfig(), log: createLogger('edge-backup'), onProgress: progress() };
  const t0 = Date.now();
  switch (cmd) {
    case 'backup': {
      const rate = Number(opt('rate') ?? '0');
      const b = await backupEdge(ctx, { kind: flag('full') ? 'full' : flag('incremental') ? 'incremental' : 'auto', throttle: rate > 0 ? new Throttle(() => rate) : undefined });
      const s = b.manifest.stats;
      console.log(`backup point ${b.manifest.snapshotId} (${b.manifest.kind}): ${b.manifest.files.length} files, ${mb(s.totalBytes)} backed up, ${mb(s.newBytes)} new (${mb(s.packBytes)} stored compressed+encrypted), ${s.reusedChunks} chunks reused, ${(s.durationMs / 1000).toFixed(1)} s; seq ${String(b.manifest.info.lastSeq ?? '?')}`);
      if (!flag('no-upload')) {
        const u = await uploadAndPrune(ctx);
        console.log(ctx.backup.remoteUrl ? `off-site: uploaded ${u.uploaded.length} points, ${mb(u.bytes)} sent (resumed ${mb(u.resumedBytes)}); pruned ${u.prunedLocal} local, ${u.prunedRemote} off-site objects` : `no off-site target configured (EDGE_BACKUP_REMOTE_URL); pruned ${u.prunedLocal} local objects`);
      }
      break;
    }
    case 'upload': {
      const u = await uploadAndPrune(ctx);
      console.log(`uploaded ${u.uploaded.length} points, ${mb(u.bytes)} sent (resumed ${mb(u.resumedBytes)}); pruned ${u.prunedLocal} local, ${u.prunedRemote} off-site objects`);
      break;
    }
    case 'list': {
      for (const m of await listEdge(ctx, flag('remote') ? 'remote' : 'local')) {
        console.log(`${m.snapshotId}  ${m.kind.padEnd(11)}  ${m.createdAt}  ${mb(m.stats.totalBytes).padStart(10)}  stored ${mb(m.stats.packBytes).padStart(9)}  seq ${String(m.info.lastSeq ?? '?')}`);
      }
      break;
    }
    case 'restore': {
      const to = opt('to');
      if (!to) throw new BackupError('NOT_FOUND', 'usage: npm run restore -- --to NEW_DIR [--point ID|TIME|latest | --at TIME] [--from local|remote] [--no-rejoin]');
      if (flag('rejoin-only')) {
        const r = await rejoinOnly(ctx, to);
        console.log(`reconciled ${to} with central: ${JSON.stringify(r)}`);
        break;
      }
      const at = opt('at');
      if (at) {
        const r = await restoreEdgeAt(ctx, { dest: to, at: new Date(at), from: opt('from') === 'remote' ? 'remote' : 'local' });
        const p = r.pitr;
        console.log(`restored ${p.pointId} (seq ${p.pointSeq}) into ${r.dest} and replayed ${p.replayed} records from central: the copy is at seq ${p.lastSeq}, HLC ${p.lastHlc ?? '-'}`);
        console.log(p.complete ? `complete: ${p.note}` : `WARNING: ${p.note}`);
        console.log('this copy shows the clinic as it was; it is NOT reconciled with central (the edge reports unhealthy on it). "restore --rejoin-only" would bring it to the present.');
        break;
      }
      const r = await restoreEdge(ctx, { dest: to, point: opt('point'), from: opt('from') === 'remote' ? 'remote' : 'local', rejoin: !flag('no-rejoin') });
      console.log(`restored ${r.manifest.snapshotId} (${r.manifest.createdAt}, seq ${String(r.manifest.info.lastSeq ?? '?')}) into ${r.dest}: ${r.manifest.files.length} files, ${mb(r.bytes)}, checksums verified, ${((Date.now() - t0) / 1000).toFixed(1)} s`);
      if (r.rejoin) {
        const j = r.rejoin;
        console.log(`reconciled with central: central applied up to seq ${j.centralAppliedSeq}; ${j.recovered} records written after the backup recovered from central; next seq ${j.nextSeq}; ${j.resend} records will be re-sent`);
        if (j.unfillableGap) console.log(`WARNING: seqs ${j.unfillableGap.from}..${j.unfillableGap.to} are neither in this backup nor applied at central: central holds records above the gap; see edge-agent/backup/README.md (operator action)`);
      } else {
        console.log('NOT reconciled with central (--no-rejoin): run "npm run restore -- --rejoin-only --to DIR" before starting the edge on it');
      }
      console.log(`start the edge with EDGE_DATA_DIR=${r.dest}`);
      break;
    }
    case 'drill': {
      printDrill(await drillEdge(ctx, { from: opt('from') === 'remote' ? 'remote' : 'local' }));
      break;
    }
    default:
      throw new BackupError('NOT_FOUND', `unknown command ${cmd}: use keygen, backup, upload, list, restore, drill`);
  }
}

runBackupCli(main);
