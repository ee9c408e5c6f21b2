/** Backup page and JSON status for the clinic admin (audited). */
import type { EdgeModuleContext } from '../modules.ts';
import { clientIp } from '../web/app.tsx';
import { BackupPage } from './page.tsx';
import type { EdgeBackupService } from './service.ts';

export function mountBackupUi(ctx: EdgeModuleContext, svc: EdgeBackupService): void {
    const roles = ['clinic_admin'] as const;
    ctx.ui.page('get', '/backup', roles, (c, u, pctx) => {
      ctx.accounts.audit(u.username, 'backup.view', 'backup', clientIp(c), 'ok');
      return ctx.ui.html(c, <BackupPage ctx={pctx} s={svc.status()} />);
    });
    ctx.ui.page('get', '/api/backup/status', roles, (c) => c.json(svc.status()));
    ctx.ui.page('post', '/backup/run', roles, (c, u, pctx) => {
      const zh = pctx.lang !== 'en';
      if (!svc.status().configured || svc.running) {
        ctx.accounts.audit(u.username, 'backup.run', 'backup', clientIp(c), 'refused');
        return ctx.ui.html(c, <BackupPage ctx={pctx} s={svc.status()} error={svc.running ? (zh ? '已有备份在运行' : 'a backup is already running') : (zh ? '未配置备份' : 'backups are not configured')} />, 400);
      }
      void svc.runAll(`manual by ${u.username}`).catch(() => undefined);
      ctx.accounts.audit(u.username, 'backup.run', 'backup', clientIp(c), 'started');
      return ctx.ui.html(c, <BackupPage ctx={pctx} s={svc.status()} notice={zh ? '备份已开始' : 'backup started'} />);
    });
}
