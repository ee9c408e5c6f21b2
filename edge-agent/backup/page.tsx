/** The clinic admin's backup page (备份): state, last runs, "back up now". */
import type { EdgeBackupStatus } from './service.ts';
import { Layout, type PageCtx } from '../web/layout.tsx';

const mb = (n: number) => `${(n / 1024 / 1024).toFixed(1)} MB`;
const when = (iso: string | null | undefined) => (iso ? iso.replace('T', ' ').slice(0, 19) + ' UTC' : '—');

export function BackupPage(props: { ctx: PageCtx; s: EdgeBackupStatus; notice?: string; error?: string }) {
  const { ctx, s } = props;
  const zh = ctx.lang !== 'en';
  const L = (a: string, b: string) => (zh ? a : b);
  return (
    <Layout ctx={ctx} title={L('备份', 'Backup')}>
      <h1>{L('数据备份', 'Backups')}</h1>
      {props.notice && <p class="notice" data-testid="backup-notice">{props.notice}</p>}
      {props.error && <p class="error" data-testid="backup-error">{props.error}</p>}
      {!s.configured && <p class="error" data-testid="backup-unconfigured">{L('未配置备份（EDGE_BACKUP_KEY_FILE、EDGE_BACKUP_LOCAL_DIR）：本机构数据没有备份。', 'Backups are not configured (EDGE_BACKUP_KEY_FILE, EDGE_BACKUP_LOCAL_DIR): this clinic has no backup.')}</p>}
      <table data-testid="backup-status">
        <tbody>
          <tr><th>{L('最近成功', 'Last success')}</th><td data-testid="backup-last-success">{s.lastSuccess ? `${when(s.lastSuccess.at)} · ${s.lastSuccess.kind === 'full' ? L('全量', 'full') : L('增量', 'incremental')} · ${mb(s.lastSuccess.totalBytes)} ${L('，新增', ', stored')} ${mb(s.lastSuccess.packBytes)} · ${(s.lastSuccess.durationMs / 1000).toFixed(1)} s` : L('从未', 'never')}</td></tr>
          <tr><th>{L('最近失败', 'Last failure')}</th><td>{s.lastFailure ? `${when(s.lastFailure.at)} · ${s.lastFailure.message}` : '—'}</td></tr>
          <tr><th>{L('异地副本', 'Off-site copy')}</th><td>{s.remote ? (s.lastUpload ? `${when(s.lastUpload.at)} · ${s.lastUpload.ok ? L('成功', 'ok') : L('失败', 'failed')} · ${s.lastUpload.detail}` : L('尚未上传', 'not uploaded yet')) : L('未配置', 'not configured')}</td></tr>
          <tr><th>{L('恢复演练', 'Restore drill')}</th><td data-testid="backup-drill">{s.lastDrill ? `${when(s.lastDrill.at)} · ${s.lastDrill.ok ? L('通过', 'passed') : L('失败', 'FAILED')} · RPO ${Math.round(s.lastDrill.rpoSeconds)} s · RTO ${s.lastDrill.rtoSeconds.toFixed(1)} s${s.lastDrill.error ? ` · ${s.lastDrill.error}` : ''}` : L('从未', 'never')}</td></tr>
          <tr><th>{L('备份点', 'Backup points')}</th><td>{s.points}</td></tr>
          <tr><th>{L('备份时段', 'Backup window')}</th><td>{s.window} (UTC+8){s.inWindow ? L('（当前在时段内）', ' (now inside)') : ''}</td></tr>
          <tr><th>{L('进行中', 'Running')}</th><td data-testid="backup-running">{s.running ? `${s.running}${s.progress ? ` · ${s.progress.phase} ${s.progress.total ? Math.round((100 * s.progress.done) / s.progress.total) : 0}%` : ''}` : '—'}</td></tr>
        </tbody>
      </table>
      {s.configured && (
        <form method="post" action="/backup/run">
          <button type="submit" data-testid="backup-now" disabled={!!s.running}>{L('立即备份', 'Back up now')}</button>
          <small>{L(' 白天运行时限速，不影响业务。', ' Rate-limited in daytime so clinic work is not slowed.')}</small>
        </form>
      )}
      <h2>{L('最近运行', 'Recent runs')}</h2>
      <table data-testid="backup-runs">
        <thead><tr><th>{L('类型', 'What')}</th><th>{L('开始', 'Started')}</th><th>{L('结果', 'Result')}</th><th>{L('备份点', 'Point')}</th></tr></thead>
        <tbody>
          {s.recent.map((r) => <tr><td>{r.what}</td><td>{when(r.started_at)}</td><td>{r.ok ? L('成功', 'ok') : L('失败', 'failed')}</td><td>{r.snapshot_id ?? ''}</td></tr>)}
        </tbody>
      </table>
    </Layout>
  );
}
