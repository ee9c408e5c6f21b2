/** Registration window pages: search, resident form, register/book from the schedule, today's list, slip, schedule. */
import { Layout, type PageCtx } from '../web/layout.tsx';
import { PAYMENT_METHOD_ZH, type InvoiceRow } from './charges.ts';
import type { DictEntry } from './dict.ts';
import { registrationStatusZh, type RegistrationRow } from './registrations.ts';
import { ETHNICITY_ZH, ID_TYPE_ZH, MARITAL_ZH, SEX_ZH, type ResidentForm, type ResidentView } from './residents.ts';
import type { SlotRow } from './schedule.ts';
import { addDays, localStamp } from './time.ts';
import { Field, maskId, money, Msg, ResidentCard, Select, Style, tr, type Errors } from './ui.tsx';

export type RegListRow = RegistrationRow & { resident_name: string; doctor_name: string; department_name: string };
type Slot = SlotRow & { doctor_name: string };

const STATUS_BADGE: Record<string, string> = { booked: 'info', registered: 'ok', 'in-visit': 'warn', finished: 'grey', cancelled: 'grey', refunded: 'bad' };
export const payOptions = (): [string, string][] => Object.entries(PAYMENT_METHOD_ZH);

export function SearchForm(props: { ctx: PageCtx; action: string; q?: string | undefined; kind?: string | undefined; errors?: Errors | undefined; extra?: boolean }) {
  const t = tr(props.ctx);
  return (
    <form method="get" action={props.action} class="inline-form no-print" data-testid="search-form">
      <Field label={t('查找居民（身份证号/姓名/拼音首字母/电话/医保卡号/电子健康卡）', 'Find resident (ID / name / pinyin initials / phone / insurance / e-health card)')} name="q" value={props.q} errors={props.errors} width="520px" />
      <Field label={t('按', 'By')} name="kind">
        <Select name="kind" value={props.kind ?? 'auto'} options={[['auto', t('自动识别', 'auto')], ['id', t('身份证号', 'ID number')], ['name', t('姓名', 'name')], ['pinyin', t('拼音首字母', 'pinyin')], ['phone', t('电话', 'phone')], ['insurance', t('医保卡号', 'insurance card')], ['healthcard', t('电子健康卡', 'e-health card')]]} />
      </Field>
      <div class="field"><button class="btn primary" type="submit" data-testid="search">{t('查找', 'Search')}</button></div>
    </form>
  );
}

export function ResultsTable(props: { ctx: PageCtx; rows: ResidentView[]; href: (r: ResidentView) => string; q?: string | undefined }) {
  const t = tr(props.ctx);
  if (props.q === undefined) return null;
  if (!props.rows.length) return <p class="hint" data-testid="no-results">{t('未找到居民。', 'No resident found.')}</p>;
  return (
    <table data-testid="results">
      <thead><tr><th>{t('姓名', 'Name')}</th><th>{t('性别', 'Sex')}</th><th>{t('出生日期', 'Born')}</th><th>{t('证件号', 'ID')}</th><th>{t('电话', 'Phone')}</th><th>{t('医保卡号', 'Insurance')}</th><th></th></tr></thead>
      <tbody>{props.rows.map((r) => (
        <tr><td>{r.name}</td><td>{SEX_ZH[r.sex]}</td><td>{r.birthDate}</td><td>{maskId(r.idNumber)}</td><td>{r.phone ?? ''}</td><td>{r.insuranceCardNo ?? ''}</td>
          <td><a class="btn small" href={props.href(r)} data-testid="pick">{t('选择', 'Select')}</a></td></tr>
      ))}</tbody>
    </table>
  );
}

export function RegistrationPage(props: {
  ctx: PageCtx; q?: string | undefined; kind?: string | undefined; results: ResidentView[]; searchErrors?: Errors | undefined; resident: ResidentView | null; date: string; todayDate: string; dept: string;
  slots: Slot[]; departments: DictEntry[]; today: RegListRow[]; residentRegs: RegListRow[]; errors?: Errors | undefined; error?: string | undefined; notice?: string | undefined;
}) {
  const t = tr(props.ctx);
  const r = props.resident;
  return (
    <Layout ctx={props.ctx} title={t('挂号', 'Registration')}>
      <Style />
      <div class="card">
        <div class="row-between"><h1>{t('挂号', 'Registration')}</h1>
          <span><a class="btn" href={`/his/residents/new${props.q ? `?q=${encodeURIComponent(props.q)}` : ''}`} data-testid="new-resident">{t('新建居民档案', 'New resident')}</a> <a class="btn" href="/his/schedule">{t('号源/排班', 'Schedule')}</a> <a class="btn" href="/his/cashier/settlement">{t('挂号费日结', 'Settlement')}</a></span>
        </div>
        <Msg error={props.error} notice={props.notice} />
        <SearchForm ctx={props.ctx} action="/his/registration" q={props.q} kind={props.kind} errors={props.searchErrors} />
        <ResultsTable ctx={props.ctx} rows={props.results} q={props.q && !props.searchErrors ? props.q : undefined} href={(x) => `/his/registration?rid=${encodeURIComponent(x.residentId)}`} />
      </div>
      {r && <ResidentCard ctx={props.ctx} r={r} actions={<a class="btn small" href={`/his/residents/${encodeURIComponent(r.residentId)}/edit`}>{t('修改档案', 'Edit')}</a>} />}
      {r && (
        <div class="card" data-testid="register-card">
          <h2>{t('选择号源', 'Choose a slot')}</h2>
          <div class="tabs no-print">
            {[0, 1, 2, 3, 4, 5, 6].map((i) => { const d = addDays(props.todayDate, i); return <a href={`/his/registration?rid=${encodeURIComponent(r.residentId)}&date=${d}&dept=${props.dept}`} class={d === props.date ? 'on' : ''}>{i === 0 ? t('今天', 'Today') : d.slice(5)}</a>; })}
            <span> · </span>
            {[['', t('全部科室', 'All')] as [string, string], ...props.departments.map((d) => [d.code, d.name] as [string, string])].filter(([c]) => c === '' || props.slots.some((s) => s.department_code === c) || c === props.dept)
              .map(([c, n]) => <a href={`/his/registration?rid=${encodeURIComponent(r.residentId)}&date=${props.date}&dept=${c}`} class={c === props.dept ? 'on' : ''}>{n}</a>)}
          </div>
          <form method="post" action="/his/registration">
            <input type="hidden" name="residentId" value={r.residentId} />
            {props.slots.length === 0 ? <p class="hint">{t('该日无号源，请先在“号源/排班”中排班。', 'No slots on this day: add them under Schedule.')}</p> : (
              <table data-testid="slots">
                <thead><tr><th></th><th>{t('时段', 'Time')}</th><th>{t('科室', 'Department')}</th><th>{t('医生', 'Doctor')}</th><th class="num">{t('剩余', 'Left')}</th><th class="num">{t('挂号费', 'Fee')}</th></tr></thead>
                <tbody>{props.slots.map((s) => {
                  const left = s.capacity - s.booked;
                  const dis = left <= 0 || s.status !== 'open';
                  return (
                    <tr class={dis ? 'muted' : ''}><td><input type="radio" name="slotId" value={s.slot_id} disabled={dis} style="width:auto" data-testid="slot-radio" /></td>
                      <td>{s.start_time}-{s.end_time}</td><td>{props.departments.find((d) => d.code === s.department_code)?.name ?? s.department_code}</td><td>{s.doctor_name}</td>
                      <td class="num">{s.status !== 'open' ? t('停诊', 'closed') : left}</td><td class="num">{money(s.fee_fen)}</td></tr>
                  );
                })}</tbody>
              </table>
            )}
            {props.errors?.slotId && <div class="field-error" role="alert" data-testid="err-slotId">{props.errors.slotId}</div>}
            <div style="margin-top:10px">
              <Field label={t('支付方式', 'Payment')} name="paymentMethod" errors={props.errors}><Select name="paymentMethod" value="cash" options={payOptions()} /></Field>
              <div class="field"><label>&nbsp;</label>
                <button class="btn primary" type="submit" name="action" value="register" data-testid="register">{t('挂号并收费', 'Register and pay')}</button>{' '}
                <button class="btn" type="submit" name="action" value="book" data-testid="book">{t('预约（到诊时取号缴费）', 'Book (pay at arrival)')}</button>
              </div>
            </div>
          </form>
          {props.residentRegs.length > 0 && <><h2 style="margin-top:14px">{t('该居民近期挂号', 'Recent registrations')}</h2><RegTable ctx={props.ctx} rows={props.residentRegs} /></>}
        </div>
      )}
      <div class="card">
        <h2>{t('今日挂号', "Today's registrations")}（{props.today.filter((x) => x.status !== 'cancelled' && x.status !== 'refunded').length}）</h2>
        <RegTable ctx={props.ctx} rows={props.today} />
      </div>
    </Layout>
  );
}

export function RegTable(props: { ctx: PageCtx; rows: RegListRow[] }) {
  const t = tr(props.ctx);
  if (!props.rows.length) return <p class="hint">{t('暂无', 'None')}</p>;
  return (
    <table data-testid="reg-table">
      <thead><tr><th>{t('日期', 'Date')}</th><th class="num">{t('号', 'No.')}</th><th>{t('姓名', 'Name')}</th><th>{t('科室', 'Dept')}</th><th>{t('医生', 'Doctor')}</th><th>{t('状态', 'Status')}</th><th class="num">{t('挂号费', 'Fee')}</th><th class="no-print">{t('操作', 'Actions')}</th></tr></thead>
      <tbody>{props.rows.map((g) => (
        <tr data-testid="reg-row"><td>{g.visit_date}</td><td class="num">{g.queue_no}</td><td>{g.resident_name}</td><td>{g.department_name}</td><td>{g.doctor_name}</td>
          <td><span class={`badge ${STATUS_BADGE[g.status]}`}>{props.ctx.lang === 'en' ? g.status : registrationStatusZh(g.status)}</span></td><td class="num">{money(g.fee_fen)}</td>
          <td class="no-print">
            {g.status !== 'cancelled' && g.status !== 'refunded' && <a class="btn small" href={`/his/registrations/${g.registration_id}/slip`}>{t('挂号单', 'Slip')}</a>}{' '}
            {g.status === 'booked' && (
              <form method="post" action={`/his/registrations/${g.registration_id}/checkin`} class="inline"><select name="paymentMethod" style="width:auto;padding:2px">{payOptions().map(([v, l]) => <option value={v}>{l}</option>)}</select>
                <button class="btn small" type="submit" data-testid="checkin">{t('取号缴费', 'Check in')}</button></form>
            )}{' '}
            {(g.status === 'booked' || g.status === 'registered') && (
              <form method="post" action={`/his/registrations/${g.registration_id}/cancel`} class="inline"><input name="reason" placeholder={t('退号原因', 'reason')} style="width:110px;padding:2px 6px" required />
                <button class="btn small danger" type="submit" data-testid="cancel">{g.status === 'booked' ? t('取消预约', 'Cancel') : t('退号', 'Refund')}</button></form>
            )}
          </td></tr>
      ))}</tbody>
    </table>
  );
}

export function ResidentFormPage(props: { ctx: PageCtx; f: ResidentForm; errors?: Errors | undefined; editing: boolean; error?: string | undefined }) {
  const t = tr(props.ctx);
  const f = props.f;
  const e = props.errors;
  const opts = (m: Record<string, string>): [string, string][] => Object.entries(m).map(([k, v]) => [k, `${k} ${v}`]);
  return (
    <Layout ctx={props.ctx} title={props.editing ? t('修改居民档案', 'Edit resident') : t('新建居民档案', 'New resident')}>
      <Style />
      <div class="card">
        <h1>{props.editing ? t('修改居民档案', 'Edit resident') : t('新建居民档案', 'New resident')}</h1>
        <p class="hint">{t('按 WS 365 个人基本信息填写。证件类别为居民身份证时，出生日期和性别由身份证号自动得出。', 'WS 365 basic information. With a resident ID card, birth date and sex come from the number.')}</p>
        <Msg error={props.error} />
        {e && Object.keys(e).length > 0 && <div class="error" role="alert" data-testid="form-errors">{t(`有 ${Object.keys(e).length} 处需要修改，见各栏下方提示。`, `${Object.keys(e).length} field(s) to correct, see below each field.`)}</div>}
        <form method="post" action={props.editing ? `/his/residents/${encodeURIComponent(f.residentId ?? '')}` : '/his/residents'} data-testid="resident-form">
          <Field label={t('姓名', 'Name')} name="name" value={f.name} errors={e} required />
          <Field label={t('证件类别', 'ID type')} name="idType" errors={e}><Select name="idType" value={f.idType || '01'} options={opts(ID_TYPE_ZH)} errors={e} /></Field>
          <Field label={t('证件号码', 'ID number')} name="idNumber" value={f.idNumber} errors={e} width="240px" required />
          <br />
          <Field label={t('性别', 'Sex')} name="sex" errors={e}><Select name="sex" value={f.sex} options={opts(SEX_ZH)} blank={t('（由身份证号得出）', '(from ID)')} errors={e} /></Field>
          <Field label={t('出生日期', 'Birth date')} name="birthDate" value={f.birthDate} errors={e} placeholder="yyyy-MM-dd" />
          <Field label={t('民族', 'Ethnicity')} name="ethnicity" errors={e}><Select name="ethnicity" value={f.ethnicity} options={opts(ETHNICITY_ZH)} blank="-" errors={e} /></Field>
          <Field label={t('婚姻状况', 'Marital status')} name="maritalStatus" errors={e}><Select name="maritalStatus" value={f.maritalStatus} options={opts(MARITAL_ZH)} blank="-" errors={e} /></Field>
          <br />
          <Field label={t('联系电话', 'Phone')} name="phone" value={f.phone} errors={e} />
          <Field label={t('医保卡号', 'Insurance card no.')} name="insuranceCardNo" value={f.insuranceCardNo} errors={e} />
          <Field label={t('电子健康卡（扫码）', 'e-health card (scan)')} name="healthCardId" value={f.healthCardId} errors={e} width="260px" />
          <br />
          <Field label={t('现住址', 'Address')} name="address" value={f.address} errors={e} width="520px" />
          <div><button class="btn primary" type="submit" data-testid="save-resident">{t('保存', 'Save')}</button> <a class="btn" href="/his/registration">{t('返回', 'Back')}</a></div>
        </form>
      </div>
    </Layout>
  );
}

export function SlipPage(props: { ctx: PageCtx; clinicName: string; g: RegListRow; r: ResidentView; slot: SlotRow | null; invoices: InvoiceRow[]; notice?: string | undefined }) {
  const t = tr(props.ctx);
  const g = props.g;
  return (
    <Layout ctx={props.ctx} title={t('挂号单', 'Registration slip')}>
      <Style />
      <Msg notice={props.notice} />
      <div class="slip" data-testid="slip">
        <h1>{props.clinicName || t('社区卫生服务中心', 'Community health centre')}<br />{g.status === 'booked' ? t('预约单', 'Appointment') : t('挂号单', 'Registration slip')}</h1>
        <div class="big" data-testid="queue-no">{g.queue_no}{t('号', '')}</div>
        <table>
          <tr><td>{t('姓名', 'Name')}</td><td>{props.r.name}（{SEX_ZH[props.r.sex]}）</td></tr>
          <tr><td>{t('科室', 'Department')}</td><td>{g.department_name}</td></tr>
          <tr><td>{t('医生', 'Doctor')}</td><td>{g.doctor_name}</td></tr>
          <tr><td>{t('就诊时间', 'Time')}</td><td>{g.visit_date} {props.slot ? `${props.slot.start_time}-${props.slot.end_time}` : ''}</td></tr>
          <tr><td>{t('挂号费', 'Fee')}</td><td>{money(g.fee_fen)} {props.invoices.map((i) => <span>（{t('票据号', 'receipt')} {i.invoice_no}，{PAYMENT_METHOD_ZH[i.payment_method]}）</span>)}</td></tr>
          <tr><td>{t('状态', 'Status')}</td><td>{registrationStatusZh(g.status)}</td></tr>
          <tr><td>{t('挂号员', 'Registrar')}</td><td>{g.created_by} · {localStamp(g.created_at)}</td></tr>
        </table>
        <p class="hint">{t('请按号候诊，过号请到分诊台。', 'Wait for your number to be called.')}</p>
      </div>
      <div class="no-print" style="text-align:center"><button class="btn primary" type="button" data-print data-testid="print">{t('打印', 'Print')}</button> <a class="btn" href="/his/registration">{t('返回挂号', 'Back')}</a></div>
    </Layout>
  );
}

export function SchedulePage(props: { ctx: PageCtx; date: string; slots: Slot[]; departments: DictEntry[]; doctors: { username: string; displayName: string }[]; canEdit: boolean;
  form: Record<string, string>; errors?: Errors | undefined; notice?: string | undefined; error?: string | undefined }) {
  const t = tr(props.ctx);
  const f = props.form;
  return (
    <Layout ctx={props.ctx} title={t('号源/排班', 'Schedule')}>
      <Style />
      <div class="card">
        <h1>{t('号源/排班', 'Schedule')}</h1>
        <Msg notice={props.notice} error={props.error} />
        <form method="get" action="/his/schedule" class="inline-form"><Field label={t('日期', 'Date')} name="date" type="date" value={props.date} /><div class="field"><button class="btn" type="submit">{t('查看', 'Show')}</button></div></form>
        <table data-testid="schedule">
          <thead><tr><th>{t('时段', 'Time')}</th><th>{t('科室', 'Department')}</th><th>{t('医生', 'Doctor')}</th><th class="num">{t('号源', 'Capacity')}</th><th class="num">{t('已挂', 'Booked')}</th><th class="num">{t('挂号费', 'Fee')}</th><th>{t('状态', 'Status')}</th>{props.canEdit && <th></th>}</tr></thead>
          <tbody>{props.slots.map((s) => (
            <tr><td>{s.start_time}-{s.end_time}</td><td>{props.departments.find((d) => d.code === s.department_code)?.name ?? s.department_code}</td><td>{s.doctor_name}</td>
              <td class="num">{s.capacity}</td><td class="num">{s.booked}</td><td class="num">{money(s.fee_fen)}</td><td>{s.status === 'open' ? <span class="badge ok">{t('开放', 'open')}</span> : <span class="badge grey">{t('停诊', 'closed')}</span>}</td>
              {props.canEdit && <td><form method="post" action={`/his/schedule/${s.slot_id}/status`} class="inline"><input type="hidden" name="status" value={s.status === 'open' ? 'closed' : 'open'} /><button class="btn small" type="submit">{s.status === 'open' ? t('停诊', 'Close') : t('开放', 'Open')}</button></form></td>}</tr>
          ))}</tbody>
        </table>
        {props.slots.length === 0 && <p class="hint">{t('该日无排班。', 'No slots on this day.')}</p>}
      </div>
      {props.canEdit && (
        <div class="card">
          <h2>{t('新增排班', 'Add slots')}</h2>
          <form method="post" action="/his/schedule" data-testid="schedule-form">
            <Field label={t('开始日期', 'From')} name="dateFrom" type="date" value={f.dateFrom ?? props.date} errors={props.errors} />
            <Field label={t('结束日期（可空）', 'To (optional)')} name="dateTo" type="date" value={f.dateTo} errors={props.errors} />
            <Field label={t('科室', 'Department')} name="departmentCode" errors={props.errors}><Select name="departmentCode" value={f.departmentCode} options={props.departments.map((d) => [d.code, d.name])} blank="-" errors={props.errors} /></Field>
            <Field label={t('医生', 'Doctor')} name="doctorUsername" errors={props.errors}><Select name="doctorUsername" value={f.doctorUsername} options={props.doctors.map((d) => [d.username, `${d.displayName}（${d.username}）`])} blank="-" errors={props.errors} /></Field>
            <br />
            <Field label={t('开始时间', 'Start')} name="startTime" value={f.startTime ?? '08:00'} errors={props.errors} placeholder="HH:mm" />
            <Field label={t('结束时间', 'End')} name="endTime" value={f.endTime ?? '11:30'} errors={props.errors} placeholder="HH:mm" />
            <Field label={t('号源数', 'Capacity')} name="capacity" value={f.capacity ?? '30'} errors={props.errors} />
            <Field label={t('挂号费（元）', 'Fee (yuan)')} name="fee" value={f.fee ?? '1'} errors={props.errors} />
            <div><button class="btn primary" type="submit" data-testid="add-slots">{t('保存排班', 'Save')}</button></div>
          </form>
        </div>
      )}
    </Layout>
  );
}
