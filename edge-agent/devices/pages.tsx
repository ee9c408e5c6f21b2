/** Device pages (zh-CN first): registry, device detail, unbound readings, critical values, ranges. */
import type { Child } from 'hono/jsx';
import type { DeviceProfile } from '../../device-drivers/index.ts';
import { Layout, type PageCtx } from '../web/layout.tsx';
import type { Alert } from './alerts.ts';
import { dt } from './i18n.ts';
import type { LiveState } from './manager.ts';
import type { RangeRow } from './ranges.ts';
import type { Device, DeviceStatus } from './registry.ts';

/** Local wall-clock time (the edge runs in the clinic's time zone), yyyy-MM-dd HH:mm:ss. */
const localTime = new Intl.DateTimeFormat('sv-SE', { year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false });
export const fmt = (iso: string): string => { const d = new Date(iso); return Number.isNaN(d.getTime()) ? iso : localTime.format(d); };

const STATE_CLASS: Record<LiveState, string> = { online: 'ok', offline: 'warn', error: 'bad', disabled: 'warn' };
const row = 'display:flex;gap:8px;align-items:center;flex-wrap:wrap';
const inline = 'display:inline';

export interface DeviceRow { device: Device; status: DeviceStatus; state: LiveState; liveErrors: number; patient: { residentId: string; name: string } | null }

function Msg(props: { error?: string | undefined; notice?: string | undefined }) {
  return <>{props.error && <div class="error" role="alert">{props.error}</div>}{props.notice && <div class="notice" data-testid="notice">{props.notice}</div>}</>;
}

export function StateBadge(props: { ctx: PageCtx; state: LiveState }) {
  return <span class={`badge ${STATE_CLASS[props.state]}`} data-testid="device-state">{dt(props.ctx.lang)(props.state)}</span>;
}

function ConnectionFields(props: { ctx: PageCtx; device?: Device | undefined; profiles?: DeviceProfile[] }) {
  const t = dt(props.ctx.lang);
  const c = props.device?.connection;
  return (
    <>
      <label for="connType">{t('connection')}</label>
      <select id="connType" name="connType">
        <option value="tcp" selected={c?.type === 'tcp'}>Modbus TCP / DICOM (host:port)</option>
        <option value="rtu" selected={c?.type === 'rtu'}>串口 Serial (RTU / ASTM)</option>
        <option value="listener" selected={c?.type === 'listener'}>连接本机监听端口 (HL7 MLLP / ASTM TCP)</option>
      </select>
      <div style={row}>
        <span><label for="host">{t('host')}</label><input id="host" name="host" value={c?.type === 'tcp' ? c.host : ''} style="width:200px" /></span>
        <span><label for="port">{t('port')}</label><input id="port" name="port" value={c?.type === 'tcp' ? String(c.port) : ''} style="width:100px" /></span>
        <span><label for="path">{t('serialPath')}</label><input id="path" name="path" value={c?.type === 'rtu' ? c.path : ''} style="width:160px" /></span>
        <span><label for="baudRate">{t('baudRate')}</label><input id="baudRate" name="baudRate" value={c?.type === 'rtu' ? String(c.baudRate) : '9600'} style="width:100px" /></span>
      </div>
      <label for="sourceName">{t('sourceName')}</label><input id="sourceName" name="sourceName" value={props.device?.sourceName ?? ''} />
      <div style={row}>
        <span><label for="aeTitle">{t('aeTitle')}</label><input id="aeTitle" name="aeTitle" value={props.device?.aeTitle ?? ''} style="width:180px" /></span>
        <span><label for="modality">{t('modality')}</label><select id="modality" name="modality" style="width:100px"><option value="">-</option>{['US', 'DX', 'CR'].map((m) => <option value={m} selected={props.device?.modality === m}>{m}</option>)}</select></span>
        <span><label for="pollIntervalMs">{t('pollInterval')}</label><input id="pollIntervalMs" name="pollIntervalMs" value={props.device?.pollIntervalMs ? String(props.device.pollIntervalMs) : ''} style="width:120px" /></span>
      </div>
    </>
  );
}

export function DevicesPage(props: { ctx: PageCtx; rows: DeviceRow[]; profiles: DeviceProfile[]; canEdit: boolean; listeners: { hl7?: { port: number }; astm?: { port: number } };
  unknown: { name: string; protocol: string; remote: string; count: number; lastAt: string }[]; unboundCount: number; error?: string | undefined; notice?: string | undefined }) {
  const t = dt(props.ctx.lang);
  return (
    <Layout ctx={props.ctx} title={t('devices')}>
      <div class="card">
        <h1>{t('devices')}</h1>
        <Msg error={props.error} notice={props.notice} />
        <p class="hint">{t('listeners')}：HL7 MLLP {props.listeners.hl7 ? props.listeners.hl7.port : t('listenerOff')} · ASTM {props.listeners.astm ? props.listeners.astm.port : t('listenerOff')} ·{' '}
          <a href="/devices/unbound">{t('unbound')}（<span data-testid="unbound-count">{props.unboundCount}</span>）</a> · <a href="/devices/alerts">{t('alertsTitle')}</a> · <a href="/devices/ranges">{t('ranges')}</a></p>
        <table data-testid="devices-table">
          <thead><tr><th>{t('name')}</th><th>{t('profile')}</th><th>{t('room')}</th><th>{t('status')}</th><th>{t('lastReading')}</th><th>{t('readings')}</th><th>{t('errors')}</th><th>{t('currentPatient')}</th></tr></thead>
          <tbody>{props.rows.map((r) => (
            <tr data-device-id={r.device.id}>
              <td><a href={`/devices/${r.device.id}`}>{r.device.name}</a></td>
              <td>{props.profiles.find((p) => p.id === r.device.profileId)?.[props.ctx.lang === 'en' ? 'name' : 'nameZh'] ?? (r.device.protocol === 'dicom' ? <a href="/imaging/devices">{props.ctx.lang === 'en' ? `DICOM ${r.device.modality ?? ''} (AE ${r.device.aeTitle ?? ''})` : `DICOM 影像设备 ${r.device.modality ?? ''}（AE ${r.device.aeTitle ?? ''}）`}</a> : r.device.profileId)}</td>
              <td>{r.device.room}</td>
              <td><StateBadge ctx={props.ctx} state={r.state} /></td>
              <td data-testid="last-reading">{r.status.lastReading ?? '-'}{r.status.lastReadingAt && <div class="hint">{fmt(r.status.lastReadingAt)}</div>}</td>
              <td>{r.status.readings}</td>
              <td data-testid="error-count">{r.status.errors + r.liveErrors}</td>
              <td>{r.patient ? r.patient.name : t('none')}</td>
            </tr>
          ))}</tbody>
        </table>
      </div>
      {props.canEdit && (
        <div class="card">
          <h1>{t('register')}</h1>
          <form method="post" action="/devices" class="stack" data-testid="register-form">
            <label for="profileId">{t('profile')}</label>
            <select id="profileId" name="profileId">{props.profiles.map((p) => <option value={p.id}>{(props.ctx.lang === 'en' ? p.name : p.nameZh ?? p.name)} ({p.protocol})</option>)}</select>
            <p class="hint" data-testid="dicom-hint">{props.ctx.lang === 'en' ? <>DICOM imaging devices (ultrasound, DR, CR) are registered on <a href="/imaging/devices">Imaging › DICOM devices</a> (AE title, address, port, modality, room, C-ECHO test) and listed here too.</> : <>DICOM 影像设备（超声、DR、CR）请在 <a href="/imaging/devices">影像 › DICOM 设备</a> 登记（AE 标题、地址、端口、类型、检查室、C-ECHO 测试），登记后也显示在此列表中。</>}</p>
            <label for="name">{t('name')}</label><input id="name" name="name" required />
            <label for="room">{t('room')}</label><input id="room" name="room" />
            <ConnectionFields ctx={props.ctx} />
            <button class="primary" type="submit">{t('register')}</button>
          </form>
        </div>
      )}
      {props.unknown.length > 0 && (
        <div class="card">
          <h1>{t('unknownSenders')}</h1>
          <table><thead><tr><th>{t('sourceName')}</th><th>{t('kind')}</th><th>{t('host')}</th><th>{t('count')}</th><th>{t('time')}</th></tr></thead>
            <tbody>{props.unknown.map((u) => <tr><td>{u.name}</td><td>{u.protocol}</td><td>{u.remote}</td><td>{u.count}</td><td>{fmt(u.lastAt)}</td></tr>)}</tbody></table>
        </div>
      )}
    </Layout>
  );
}

export function DevicePage(props: { ctx: PageCtx; row: DeviceRow; profile: DeviceProfile | undefined; canEdit: boolean; canSetPatient: boolean;
  recent: { display: string; value: string; unit: string; at: string; interpretation: string | null; implausible: boolean; critical: boolean; residentName: string | null }[];
  residents: { residentId: string; name: string; idNumber: string }[]; test?: { ok: boolean; detail: string; latencyMs?: number } | undefined; error?: string | undefined; notice?: string | undefined }) {
  const t = dt(props.ctx.lang);
  const d = props.row.device;
  return (
    <Layout ctx={props.ctx} title={d.name}>
      <div class="card">
        <h1>{d.name} <StateBadge ctx={props.ctx} state={props.row.state} /></h1>
        <Msg error={props.error} notice={props.notice} />
        {props.test && <div class={props.test.ok ? 'notice' : 'error'} data-testid="test-result">{props.test.ok ? t('testOk') : t('testFail')}：{props.test.detail}{props.test.latencyMs !== undefined ? `（${props.test.latencyMs} ms）` : ''}</div>}
        <p>{t('profile')}：{props.profile?.nameZh ?? d.profileId}（{d.profileId}）· {t('room')}：{d.room || '-'} · {t('readings')}：{props.row.status.readings} · {t('errors')}：<span data-testid="error-count">{props.row.status.errors + props.row.liveErrors}</span></p>
        <p>{t('lastReading')}：<b data-testid="last-reading">{props.row.status.lastReading ?? '-'}</b>{props.row.status.lastError && <span class="hint"> · {props.row.status.lastError}</span>}</p>
        {props.canEdit && (
          <div style={row}>
            <form method="post" action={`/devices/${d.id}/test`} style={inline}><button class="primary" type="submit" data-testid="test-button">{t('test')}</button></form>
            <form method="post" action={`/devices/${d.id}/enabled`} style={inline}><input type="hidden" name="enabled" value={d.enabled ? '0' : '1'} /><button class="primary" type="submit" data-testid="toggle-button">{d.enabled ? t('disable') : t('enable')}</button></form>
          </div>
        )}
      </div>
      {props.canSetPatient && (
        <div class="card">
          <h1>{t('currentPatient')}：<span data-testid="current-patient">{props.row.patient ? `${props.row.patient.name}（${props.row.patient.residentId}）` : t('none')}</span></h1>
          <form method="post" action={`/devices/${d.id}/patient`} style={row}>
            <input name="resident" id="resident" list="residents" placeholder={t('residentIdOrCard')} />
            <datalist id="residents">{props.residents.map((r) => <option value={r.residentId}>{r.name} {r.idNumber}</option>)}</datalist>
            <button class="primary" type="submit" style="margin-top:0" data-testid="set-patient">{t('choose')}</button>
            <button class="primary" type="submit" name="clear" value="1" style="margin-top:0">{t('clear')}</button>
          </form>
        </div>
      )}
      {props.canEdit && (
        <div class="card">
          <h1>{t('edit')}</h1>
          <form method="post" action={`/devices/${d.id}`} class="stack">
            <label for="name">{t('name')}</label><input id="name" name="name" value={d.name} />
            <label for="room">{t('room')}</label><input id="room" name="room" value={d.room} />
            <ConnectionFields ctx={props.ctx} device={d} />
            <button class="primary" type="submit">{t('save')}</button>
          </form>
        </div>
      )}
      <div class="card">
        <h1>{t('recentReadings')}</h1>
        <table data-testid="recent-readings"><thead><tr><th>{t('time')}</th><th>{t('quantity')}</th><th>{t('value')}</th><th>{t('interpretation')}</th><th>{t('resident')}</th></tr></thead>
          <tbody>{props.recent.map((r) => (
            <tr><td>{fmt(r.at)}</td><td>{r.display}</td><td>{r.value} {r.unit}</td>
              <td>{r.interpretation ?? ''} {r.critical && <span class="badge bad">{t('critical')}</span>} {r.implausible && <span class="badge warn">{t('implausible')}</span>}</td>
              <td>{r.residentName ?? t('unboundResident')}</td></tr>
          ))}</tbody></table>
      </div>
    </Layout>
  );
}

export function UnboundPage(props: { ctx: PageCtx; rows: ReturnType<import('./ingest.ts').Ingest['unbound']>; residents: { residentId: string; name: string; idNumber: string }[]; canBind: boolean; error?: string | undefined; notice?: string | undefined }) {
  const t = dt(props.ctx.lang);
  return (
    <Layout ctx={props.ctx} title={t('unbound')}>
      <div class="card">
        <h1>{t('unbound')}</h1>
        <p class="hint">{t('unboundHint')}</p>
        <Msg error={props.error} notice={props.notice} />
        <datalist id="residents">{props.residents.map((r) => <option value={r.residentId}>{r.name} {r.idNumber}</option>)}</datalist>
        <table data-testid="unbound-table"><thead><tr><th>{t('time')}</th><th>{t('device')}</th><th>{t('quantity')}</th><th>{t('value')}</th><th>{t('patientIdSent')}</th><th>{t('resident')}</th></tr></thead>
          <tbody>{props.rows.map((r) => (
            <tr data-reading-id={r.id}><td>{fmt(r.at)}</td><td>{r.deviceName}</td><td>{r.display}</td>
              <td>{r.value} {r.unit} {r.critical && <span class="badge bad">{t('critical')}</span>} {r.implausible && <span class="badge warn">{t('implausible')}</span>}</td>
              <td>{r.patientId ?? r.specimenId ?? '-'}</td>
              <td>{props.canBind && <form method="post" action={`/devices/unbound/${r.id}`} style={row}><input name="resident" list="residents" placeholder={t('residentIdOrCard')} style="width:200px" /><button class="primary" style="margin-top:0" type="submit">{t('bind')}</button></form>}</td></tr>
          ))}</tbody></table>
      </div>
    </Layout>
  );
}

export function AlertsPage(props: { ctx: PageCtx; open: Alert[]; recent: Alert[]; canAck: boolean; error?: string | undefined; notice?: string | undefined }) {
  const t = dt(props.ctx.lang);
  return (
    <Layout ctx={props.ctx} title={t('alertsTitle')}>
      <div class="card">
        <h1>{t('ackTitle')}</h1>
        <Msg error={props.error} notice={props.notice} />
        {props.open.map((a) => (
          <div class="card" style="border-color:#c0392b" data-testid="open-alert">
            <b style="color:#c0392b">{a.summary}</b> · {t('resident')}：{a.residentName ?? t('unboundResident')} · {t('device')}：{a.deviceName} · {t('raisedAt')}：{fmt(a.raisedAt)}
            {props.canAck && (
              <form method="post" action={`/devices/alerts/${a.id}/ack`} class="stack">
                <label for={`rb-${a.id}`}>{t('readBack')}（{props.ctx.user?.displayName}）</label>
                <input id={`rb-${a.id}`} name="readBack" required data-testid="read-back" />
                <button class="primary" type="submit" data-testid="ack-button">{t('ack')}</button>
              </form>
            )}
          </div>
        ))}
      </div>
      <div class="card">
        <h1>{t('history')}</h1>
        <table data-testid="alert-history"><thead><tr><th>{t('raisedAt')}</th><th>{t('critical')}</th><th>{t('resident')}</th><th>{t('ackedBy')}</th><th>{t('ackedAt')}</th><th>{t('readBack')}</th></tr></thead>
          <tbody>{props.recent.map((a) => <tr><td>{fmt(a.raisedAt)}</td><td>{a.summary}</td><td>{a.residentName ?? t('unboundResident')}</td><td>{a.ackedByName ? `${a.ackedByName}（${a.ackedBy}）` : '-'}</td><td>{(a.ackedAt ? fmt(a.ackedAt) : '-')}</td><td>{a.readBack ?? ''}</td></tr>)}</tbody></table>
      </div>
    </Layout>
  );
}

export function RangesPage(props: { ctx: PageCtx; rows: RangeRow[]; canEdit: boolean; error?: string | undefined; notice?: string | undefined }) {
  const t = dt(props.ctx.lang);
  const fmtRange = (r: RangeRow['critical']) => (r ? `${r.low ?? '-'} ~ ${r.high ?? '-'}${r.inclusive ? ' (≤/≥)' : ''}` : '-');
  return (
    <Layout ctx={props.ctx} title={t('ranges')}>
      <div class="card">
        <h1>{t('ranges')}</h1>
        <Msg error={props.error} notice={props.notice} />
        <table><thead><tr><th>{t('profile')}</th><th>{t('quantity')}</th><th>{t('defaultRange')}</th><th>{t('low')} / {t('high')}</th></tr></thead>
          <tbody>{props.rows.map((r) => (
            <tr><td>{r.profileName}</td><td>{r.display}（{r.unit}）</td><td>{fmtRange(r.defaultCritical)}</td>
              <td>{props.canEdit ? (
                <form method="post" action="/devices/ranges" style={row}>
                  <input type="hidden" name="profileId" value={r.profileId} /><input type="hidden" name="quantity" value={r.quantity} />
                  <input name="low" value={r.critical?.low !== undefined ? String(r.critical.low) : ''} style="width:80px" aria-label={t('low')} />
                  <input name="high" value={r.critical?.high !== undefined ? String(r.critical.high) : ''} style="width:80px" aria-label={t('high')} />
                  <label style="margin:0"><input type="checkbox" name="inclusive" value="1" checked={!!r.critical?.inclusive} style="width:auto" /> {t('inclusive')}</label>
                  <button class="primary" type="submit" style="margin-top:0">{t('save')}</button>
                  {r.overridden && <button class="primary" type="submit" name="reset" value="1" style="margin-top:0">{t('reset')}</button>}
                </form>) : fmtRange(r.critical)}</td></tr>
          ))}</tbody></table>
      </div>
    </Layout>
  );
}

/** Shown at the top of every page for clinical roles while critical values wait for acknowledgement. */
export function AlertBanner(props: { lang: PageCtx['lang']; open: Alert[] }): Child {
  if (props.open.length === 0) return null;
  const t = dt(props.lang);
  return (
    <div role="alert" data-testid="critical-banner" style="background:#c0392b;color:#fff;padding:10px 16px;border-radius:6px;margin-bottom:16px;font-weight:600">
      ⚠ {t('alertBanner', { n: props.open.length })}：{props.open.slice(0, 3).map((a) => `${a.residentName ?? t('unboundResident')} ${a.summary}`).join('；')}
      {' '}<a href="/devices/alerts" style="color:#fff;text-decoration:underline">{t('ackTitle')}</a>
    </div>
  );
}
