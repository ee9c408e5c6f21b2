/** Pages of the edge UI foundation: sign-in, home with sync status, users and audit (admin). */
import { DEAD_LETTER_NAMES, type DeadLetterReason, type Heartbeat, type Refusals } from '../../contracts/index.ts';
import { ROLES, type User } from './accounts.ts';
import { Layout, type PageCtx } from './layout.tsx';

export function LoginPage(props: { ctx: PageCtx; error?: string; username?: string }) {
  const { t } = props.ctx;
  return (
    <Layout ctx={props.ctx} title={t('login')}>
      <div class="card login">
        <h1>{t('login')}</h1>
        {props.error && <div class="error" role="alert">{props.error}</div>}
        <form method="post" action="/login" class="stack">
          <label for="username">{t('username')}</label>
          <input id="username" name="username" autocomplete="username" value={props.username ?? ''} required />
          <label for="password">{t('password')}</label>
          <input id="password" name="password" type="password" autocomplete="current-password" required />
          <button class="primary" type="submit">{t('login')}</button>
        </form>
      </div>
    </Layout>
  );
}

function ago(t: PageCtx['t'], iso: string | null): string {
  if (!iso) return t('never');
  return t('secondsAgo', { n: Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000)) });
}

/** The re-seed state the sync page shows (sync/reseed.ts). */
export interface ReseedView {
  /** The regression alarm stands: central's receipts have stayed below the one held. */
  regressed: boolean;
  /** Central's watermark while its receipts are below ours. */
  centralSeq: number | null;
  held: number;
  last: { at: string; fromSeq: number; toSeq: number; rebuilt: number; superseded: number; notKept: number; resentAtNewSeq?: number } | null;
}

/** yyyy-MM-dd HH:mm:ss in the agent's time zone (main.ts: Asia/Shanghai unless TZ says otherwise). */
const localTime = new Intl.DateTimeFormat('sv-SE', { year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false });

function ReseedPanel(props: { ctx: PageCtx; v: ReseedView }) {
  const { t, user } = props.ctx;
  const { v } = props;
  const last = v.last;
  return (
    <>
      {v.regressed && v.centralSeq !== null && (
        <div class="error" role="alert" data-testid="reseed-alarm">
          <p>{t('reseedAlarm', { central: v.centralSeq, held: v.held })}</p>
          <p class="hint">{t('reseedAlarmHint')}</p>
          {user?.role === 'clinic_admin' && (
            <form method="post" action="/sync/reseed" class="stack">
              <p class="hint">{t('reseedExplain', { from: v.centralSeq + 1, to: v.held })}</p>
              <button class="primary" type="submit" data-testid="reseed-button">{t('reseedButton')}</button>
            </form>
          )}
        </div>
      )}
      {last && <p class="hint" data-testid="reseed-last">{t('reseedLast', { at: localTime.format(new Date(last.at)), from: last.fromSeq + 1, to: last.toSeq, rebuilt: last.rebuilt + (last.resentAtNewSeq ?? 0), lost: last.superseded + last.notKept })}</p>}
    </>
  );
}

/**
 * What central refused of this clinic's messages (its dead letters): the count and the latest,
 * with where it is looked into. A record refused for its content is still here as written: once
 * corrected and saved it travels again as a new version.
 */
function RefusedByCentral(props: { ctx: PageCtx; refused: Refusals }) {
  const { ctx, refused } = props;
  const L = (zh: string, en: string) => (ctx.lang === 'en' ? en : zh);
  const last = refused.last;
  const reason = last ? (DEAD_LETTER_NAMES[last.reason as DeadLetterReason] ?? [last.reason, last.reason]) : null;
  return (
    <div class="error" role="status" data-testid="refused-by-central">
      <b>{L(`区平台拒收了本机构 ${refused.count} 条数据`, `The district platform refused ${refused.count} message(s) of this clinic`)}</b>
      {last && reason && <>{L('；最近一条：', '; latest: ')}{last.seq !== null ? L(`序号 ${last.seq}，`, `seq ${last.seq}, `) : ''}{L(reason[0], reason[1])}（{localTime.format(new Date(last.at))}）<br /><span class="hint">{last.detail}</span></>}
      <br /><span class="hint">{L(
        '其他数据照常上传。请联系区平台运维人员在“运行状态 → 无法入库的消息”中核查原因；若是记录内容有误，更正后保存即会作为新版本重新上传。',
        'Everything else keeps flowing. Ask the district platform\'s operators to look into it (Fleet → Messages not applied); if a record\'s content is wrong, correct and save it and it is sent again as a new version.')}</span>
    </div>
  );
}

export function SyncCard(props: { ctx: PageCtx; hb: Heartbeat; lastReceiptAt: string | null; refused?: Refusals | null; reseed?: ReseedView | undefined; error?: string | undefined; notice?: string | undefined }) {
  const { t } = props.ctx;
  const { hb } = props;
  const cls = hb.relayState === 'connected' ? 'ok' : hb.relayState === 'backoff' ? 'warn' : 'bad';
  return (
    <div class="card" data-testid="sync-card">
      <h1>{t('syncStatus')} <span class={`badge ${cls}`} data-testid="relay-state">{t('relay')}：{t(hb.relayState)}</span></h1>
      <div class="grid">
        <div class="stat"><div class="label">{t('outboxDepth')}</div><div class="value" data-testid="outbox-depth">{hb.outboxDepth}</div></div>
        <div class="stat"><div class="label">{t('lastSeq')}</div><div class="value">{hb.lastSeq}</div></div>
        <div class="stat"><div class="label">{t('receiptSeq')}</div><div class="value">{hb.receiptSeq}</div></div>
        <div class="stat"><div class="label">{t('lastReceipt')}</div><div class="value" style="font-size:18px">{ago(t, props.lastReceiptAt)}</div></div>
      </div>
      {props.refused && props.refused.count > 0 && <RefusedByCentral ctx={props.ctx} refused={props.refused} />}
      {props.error && <div class="error" role="alert">{props.error}</div>}
      {props.notice && <div class="notice" data-testid="reseed-notice">{props.notice}</div>}
      {props.reseed && <ReseedPanel ctx={props.ctx} v={props.reseed} />}
      <p class="hint">{t('offlineHint')}</p>
    </div>
  );
}

export function HomePage(props: { ctx: PageCtx; hb: Heartbeat; lastReceiptAt: string | null; refused?: Refusals | null; reseed?: ReseedView | undefined; error?: string; notice?: string }) {
  const { t } = props.ctx;
  return (
    <Layout ctx={props.ctx} title={t('home')}>
      <SyncCard ctx={props.ctx} hb={props.hb} lastReceiptAt={props.lastReceiptAt} refused={props.refused} reseed={props.reseed} error={props.error} notice={props.notice} />
      <div class="card">
        <h1>{t('dictionaries')}</h1>
        <table>
          <thead><tr><th>{t('dictionaries')}</th><th>{t('version')}</th></tr></thead>
          <tbody>{Object.entries(props.hb.dictionaries).map(([k, v]) => <tr><td>{t(`dict_${k}` as Parameters<typeof t>[0])}</td><td>{v}</td></tr>)}</tbody>
        </table>
      </div>
    </Layout>
  );
}

export function UsersPage(props: { ctx: PageCtx; users: (User & { lockedUntil: string | null; active: boolean })[]; error?: string; notice?: string }) {
  const { t } = props.ctx;
  return (
    <Layout ctx={props.ctx} title={t('users')}>
      <div class="card">
        <h1>{t('users')}</h1>
        <table>
          <thead><tr><th>{t('username')}</th><th>{t('displayName')}</th><th>{t('role')}</th><th>{t('status')}</th></tr></thead>
          <tbody>{props.users.map((u) => (
            <tr><td>{u.username}</td><td>{u.displayName}</td><td>{t(`role_${u.role}`)}</td>
              <td>{u.lockedUntil && Date.parse(u.lockedUntil) > Date.now() ? <span class="badge bad">{t('lockedShort')}</span> : <span class="badge ok">{t('active')}</span>}</td></tr>
          ))}</tbody>
        </table>
      </div>
      <div class="card">
        <h1>{t('createUser')}</h1>
        {props.error && <div class="error" role="alert">{props.error}</div>}
        {props.notice && <div class="notice">{props.notice}</div>}
        <form method="post" action="/admin/users" class="stack">
          <label for="nu">{t('username')}</label><input id="nu" name="username" required />
          <label for="nd">{t('displayName')}</label><input id="nd" name="displayName" required />
          <label for="nr">{t('role')}</label>
          <select id="nr" name="role">{ROLES.map((r) => <option value={r}>{t(`role_${r}`)}</option>)}</select>
          <label for="np">{t('password')}</label><input id="np" name="password" type="password" required />
          <button class="primary" type="submit">{t('create')}</button>
        </form>
      </div>
    </Layout>
  );
}

export function AuditPage(props: { ctx: PageCtx; rows: { at: string; username: string; action: string; target: string; sourceIp: string; outcome: string }[] }) {
  const { t } = props.ctx;
  return (
    <Layout ctx={props.ctx} title={t('audit')}>
      <div class="card">
        <h1>{t('audit')}</h1>
        <table>
          <thead><tr><th>{t('time')}</th><th>{t('user')}</th><th>{t('action')}</th><th>{t('target')}</th><th>{t('source')}</th><th>{t('outcome')}</th></tr></thead>
          <tbody>{props.rows.map((r) => <tr><td>{r.at.replace('T', ' ').slice(0, 19)}</td><td>{r.username}</td><td>{r.action}</td><td>{r.target}</td><td>{r.sourceIp}</td><td>{r.outcome}</td></tr>)}</tbody>
        </table>
      </div>
    </Layout>
  );
}

export function ForbiddenPage(props: { ctx: PageCtx }) {
  const { t } = props.ctx;
  return (
    <Layout ctx={props.ctx} title={t('forbidden')}>
      <div class="card"><h1>{t('forbidden')}</h1><p>{t('forbiddenHint', { role: props.ctx.user ? t(`role_${props.ctx.user.role}`) : '' })}</p></div>
    </Layout>
  );
}
