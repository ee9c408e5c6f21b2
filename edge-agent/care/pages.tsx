/** Care pages (zh-CN first, English available): records, chronic follow-up, elderly, TCM, contracts, screening ... */
import type { RecordPayload } from '../../contracts/index.ts';
import { Layout, type PageCtx } from '../web/layout.tsx';
import { ASCVD_BAND_ZH, type CoefficientSet } from './rules/ascvd.ts';
import { BP_CLASS_EN, BP_CLASS_ZH } from './rules/bp.ts';
import { OTHER_SYMPTOMS, URGENT_SYMPTOMS } from './rules/followup.ts';
import { GLUCOSE_CLASS_ZH } from './rules/glucose.ts';
import { FIELD_ZH, QC_KIND_ZH, type QcIssue } from './rules/qc.ts';
import { SELF_CARE_COLUMNS_ZH, SELF_CARE_ITEMS, SELF_CARE_LEVEL_ZH } from './rules/selfcare.ts';
import { TCM_ANSWER_LABELS, TCM_METHOD_ZH, TCM_QUESTIONS, TCM_RESULT_ZH, TCM_TYPE_ZH, TCM_TYPES } from './rules/tcm.ts';
import type { IncomingTransfer, OutgoingTransfer } from './transfer.ts';
import { KEY_TAG_ZH, type CareService, type Contract, type DueRow, type Followup, type HealthRecord, type Package, type Prefill, type ResidentRow, type ScreeningRow, type Team } from './service.ts';
import { CareCss, Checks, Err, Input, Msg, SEX_ZH, Section, Select, SubNav, TextArea, tr, yuan, type FormState } from './ui.tsx';

const CONTROL_ZH: Record<string, string> = { controlled: '控制满意', uncontrolled: '控制不满意', adverse_reaction: '不良反应', complication: '并发症' };
const DISEASE_ZH: Record<string, string> = { HTN: '高血压', T2DM: '2型糖尿病' };
const MODE_ZH: Record<string, string> = { clinic: '门诊', home: '家庭', phone: '电话' };
const STATUS_ZH: Record<string, string> = { active: '在档', migrated: '已迁出', cancelled: '已注销' };
const CONTRACT_ZH: Record<string, string> = { signed: '已签约', renewed: '已续约', terminated: '已解约' };
const REF_ZH: Record<string, string> = { issued: '已转出', received: '已接收', completed: '已回访', cancelled: '已取消' };
const DUE_ZH: Record<string, string> = { overdue: '已逾期', due_soon: '即将到期', scheduled: '未到期' };
const DUE_EN: Record<string, string> = { overdue: 'overdue', due_soon: 'due soon', scheduled: 'scheduled' };
const ABO: [string, string][] = [['1', 'A型'], ['2', 'B型'], ['3', 'O型'], ['4', 'AB型'], ['5', '不详']];
const CANCEL_ZH: Record<string, string> = { death: '死亡', moved_away: '迁出本地', duplicate: '重复档案（已合并）', other: '其他' };
const TAG_OPTIONS = Object.entries(KEY_TAG_ZH) as [string, string][];
const ITEM_ZH: Record<string, string> = { blood_routine: '血常规', urine_routine: '尿常规', liver_function: '肝功能', renal_function: '肾功能', fasting_glucose: '空腹血糖', lipids: '血脂', ecg: '心电图', abdominal_us: '腹部B超' };
const APPT_ZH: Record<string, string> = { htn_followup: '高血压随访', t2dm_followup: '糖尿病随访', elderly_check: '老年人体检', tcm: '中医体质辨识', home_visit: '上门服务', consultation: '健康咨询', other: '其他' };
const EDU_ZH: Record<string, string> = { print: '发放印刷资料', video: '播放音像资料', board: '健康教育宣传栏', consultation: '公众健康咨询', lecture: '健康知识讲座', individual: '个体化健康教育' };
const fmtTime = (iso: string) => iso.replace('T', ' ').slice(0, 16);

function Page(props: { ctx: PageCtx; title: string; children?: unknown }) {
  return <Layout ctx={props.ctx} title={props.title}><CareCss /><h1>{props.title}</h1><SubNav ctx={props.ctx} />{props.children as never}</Layout>;
}

export function ResidentBadge(props: { r: ResidentRow; age: number }) {
  return <span data-testid="resident-badge"><b>{props.r.name}</b>　{SEX_ZH[props.r.sex]}　{props.age}岁　{props.r.idNumber}</span>;
}

// ---------------- health records ----------------
export function RecordsPage(props: { ctx: PageCtx; rows: (HealthRecord & { name: string })[]; q: string; status: string; search: ResidentRow[]; f: FormState; notice?: string | undefined; stats?: ReturnType<CareService['recordStats']> | undefined }) {
  const { ctx, f } = props;
  const st = props.stats;
  return (
    <Page ctx={ctx} title={tr(ctx, '居民健康档案', 'Resident health records')}>
      <Msg errors={f.e} notice={props.notice} />
      {st && <div class="card grid" data-testid="record-stats">
        {([['登记居民', st.residents], ['在档档案', st.active], ['建档率', `${st.recordRate}%`], ['质控通过率', `${st.qcPass}%`], ['本年动态使用率', `${st.usedThisYear}%`], ['高血压管理', st.htn], ['糖尿病管理', st.t2dm], ['有效签约', st.contracted], ['迁出/注销', `${st.migrated}/${st.cancelled}`]] as [string, string | number][]).map(([l, v]) => <div class="stat"><div class="label">{l}</div><div class="value" style="font-size:20px">{v}</div></div>)}
      </div>}
      <div class="cols">
        <Section title={tr(ctx, '查找居民', 'Find a resident')}>
          <form method="get" action="/care/records"><div class="fld"><input name="q" value={props.q} placeholder="姓名 / 身份证号 / 居民ID / 电话" data-testid="resident-search" /></div>
            <button class="primary inline" type="submit">{tr(ctx, '查找', 'Search')}</button></form>
          {props.search.length > 0 && <table class="compact" data-testid="search-results"><tbody>{props.search.map((r) => <tr><td><a href={`/care/r/${r.residentId}`}>{r.name}</a></td><td>{SEX_ZH[r.sex]}</td><td>{r.birthDate}</td><td>{r.idNumber}</td></tr>)}</tbody></table>}
          {props.q && props.search.length === 0 && <p class="hint">未找到居民，可在右侧新建居民并建档。</p>}
        </Section>
        <Section title={tr(ctx, '新建居民并建档', 'New resident and record')} testid="new-record">
          <form method="post" action="/care/records" class="stack">
            <input type="hidden" name="mode" value="new" />
            <Input f={f} name="name" label="姓名" inline required />
            <Select f={f} name="sex" label="性别" options={[['1', '男'], ['2', '女']]} inline required />
            <Input f={f} name="birthDate" label="出生日期" type="date" inline required />
            <Input f={f} name="idNumber" label="身份证号" required />
            <Input f={f} name="phone" label="本人电话" inline />
            <Select f={f} name="residenceType" label="常住类型" options={[['1', '户籍'], ['2', '非户籍']]} inline />
            <Select f={f} name="aboBloodGroup" label="血型" options={ABO} inline />
            <Input f={f} name="currentAddress" label="现住址" />
            <Input f={f} name="drugAllergies" label="药物过敏史（逗号分隔）" />
            <TextArea f={f} name="pastDiseases" label="既往史（每行：疾病名称,确诊日期）" rows={2} />
            <Err f={f} name="residentId" />
            <button class="primary" type="submit" data-testid="create-record">{tr(ctx, '建档', 'Create record')}</button>
          </form>
        </Section>
      </div>
      <Section title={tr(ctx, '档案列表', 'Records')}>
        <form method="get" action="/care/records" style="margin-bottom:8px">
          <select name="status" style="width:140px">{[['', '全部状态'], ['active', '在档'], ['migrated', '已迁出'], ['cancelled', '已注销']].map(([v, l]) => <option value={v} selected={props.status === v}>{l}</option>)}</select>{' '}
          <button class="btn" type="submit">{tr(ctx, '筛选', 'Filter')}</button>
        </form>
        <table class="compact" data-testid="records-table"><thead><tr><th>档案编号</th><th>姓名</th><th>状态</th><th>建档日期</th><th>责任医生</th><th></th></tr></thead>
          <tbody>{props.rows.map((h) => <tr><td>{h.healthRecordNo}</td><td><a href={`/care/r/${h.residentId}`}>{h.name}</a></td><td>{STATUS_ZH[h.status]}</td><td>{h.createdDate}</td><td>{h.doctorCode ?? ''}</td><td><a href={`/care/records/${h.healthRecordNo}`}>{tr(ctx, '维护', 'Edit')}</a></td></tr>)}</tbody></table>
      </Section>
    </Page>
  );
}

export function QcIssues(props: { issues: QcIssue[]; lang?: 'zh-CN' | 'en' }) {
  const en = props.lang === 'en';
  if (!props.issues.length) return <p class="notice" data-testid="qc-ok">{en ? 'All checks passed (completeness, logic, consistency, duplicates).' : '质控通过：完整性、逻辑性、一致性检查均无问题，未发现重复档案。'}</p>;
  return <table class="compact" data-testid="qc-issues"><thead><tr><th>{en ? 'Check' : '类别'}</th><th>{en ? 'Field' : '字段'}</th><th>{en ? 'Problem' : '问题'}</th></tr></thead>
    <tbody>{props.issues.map((i) => <tr><td>{en ? i.kind : QC_KIND_ZH[i.kind]}</td><td>{en ? i.field : FIELD_ZH[i.field] ?? i.field}</td><td>{en ? i.en : i.zh}</td></tr>)}</tbody></table>;
}

export function RecordEditPage(props: { ctx: PageCtx; rec: HealthRecord; r: ResidentRow; age: number; issues: QcIssue[]; f: FormState; mf: FormState; cf: FormState; notice?: string | undefined }) {
  const { ctx, rec, f } = props;
  const active = rec.status === 'active';
  return (
    <Page ctx={ctx} title={`${tr(ctx, '档案维护', 'Record')} ${rec.healthRecordNo}`}>
      <p><ResidentBadge r={props.r} age={props.age} />　<a href={`/care/r/${rec.residentId}`}>{tr(ctx, '查看居民健康档案', 'Resident view')}</a></p>
      <Msg errors={{ ...f.e, ...props.mf.e, ...props.cf.e }} notice={props.notice} />
      <Section title={tr(ctx, '质控检查', 'Quality checks')} testid="qc"><QcIssues issues={props.issues} lang={ctx.lang} /></Section>
      <div class="cols">
        <Section title={tr(ctx, '基本信息', 'Basic information')}>
          <dl class="kv"><dt>状态</dt><dd data-testid="record-status">{STATUS_ZH[rec.status]}{rec.status === 'migrated' ? `（迁往 ${rec.migratedToClinicId}，${rec.migratedDate}，${rec.migrationReason ?? ''}）` : ''}{rec.status === 'cancelled' ? `（${CANCEL_ZH[rec.cancelReason ?? 'other']}，${rec.cancelledDate}${rec.mergedIntoRecordNo ? `，并入 ${rec.mergedIntoRecordNo}` : ''}${rec.cancelNote ? `，${rec.cancelNote}` : ''}）` : ''}</dd>
            <dt>建档机构</dt><dd>{rec.clinicId}</dd><dt>建档日期</dt><dd>{rec.createdDate}</dd><dt>建档人</dt><dd>{rec.createdBy}</dd>{rec.mergedFrom.length > 0 && <><dt>已合并档案</dt><dd>{rec.mergedFrom.join('、')}</dd></>}</dl>
          {active && <form method="post" action={`/care/records/${rec.healthRecordNo}`}>
            <Select f={f} name="residenceType" label="常住类型" options={[['1', '户籍'], ['2', '非户籍']]} inline />
            <Select f={f} name="aboBloodGroup" label="血型" options={ABO} inline />
            <Input f={f} name="doctorCode" label="责任医生（工号）" inline />
            <Input f={f} name="currentAddress" label="现住址" />
            <Input f={f} name="contactName" label="联系人" inline /><Input f={f} name="contactPhone" label="联系人电话" inline />
            <Input f={f} name="drugAllergies" label="药物过敏史（逗号分隔）" />
            <TextArea f={f} name="pastDiseases" label="既往史（每行：疾病名称,确诊日期）" rows={2} />
            <TextArea f={f} name="familyHistory" label="家族史（每行：父亲/母亲/兄弟姐妹/子女,疾病名称）" rows={2} />
            <button class="primary" type="submit">{tr(ctx, '保存', 'Save')}</button>
          </form>}
        </Section>
        {active && <div>
          <Section title={tr(ctx, '档案迁出', 'Migrate to another clinic')}>
            <form method="post" action={`/care/records/${rec.healthRecordNo}/migrate`}>
              <Input f={props.mf} name="toClinicId" label="迁入机构编码" /><Input f={props.mf} name="migrationReason" label="迁出原因" />
              <button class="btn" type="submit">{tr(ctx, '迁出', 'Migrate')}</button></form>
          </Section>
          <Section title={tr(ctx, '档案注销', 'Cancel record')}>
            <form method="post" action={`/care/records/${rec.healthRecordNo}/cancel`}>
              <Select f={props.cf} name="cancelReason" label="注销原因" options={[['death', '死亡'], ['moved_away', '迁出本地'], ['other', '其他']]} />
              <Input f={props.cf} name="cancelNote" label="说明" />
              <button class="btn danger" type="submit" data-testid="cancel-record">{tr(ctx, '注销', 'Cancel record')}</button></form>
          </Section>
        </div>}
      </div>
    </Page>
  );
}

export function QcPage(props: { ctx: PageCtx; rows: { no: string; residentId: string; name: string; issues: QcIssue[] }[] }) {
  const { ctx } = props;
  return (
    <Page ctx={ctx} title={tr(ctx, '档案质控', 'Record quality control')}>
      <p class="hint">完整性、逻辑性、一致性检查；共 {props.rows.length} 份在档档案存在问题。</p>
      <table class="compact" data-testid="qc-table"><thead><tr><th>档案编号</th><th>姓名</th><th>问题</th></tr></thead>
        <tbody>{props.rows.map((r) => <tr><td><a href={`/care/records/${r.no}`}>{r.no}</a></td><td>{r.name}</td><td>{r.issues.map((i) => <div>【{QC_KIND_ZH[i.kind]}】{i.zh}</div>)}</td></tr>)}</tbody></table>
    </Page>
  );
}

export function DuplicatesPage(props: { ctx: PageCtx; pairs: ReturnType<CareService['duplicatePairs']>; f: FormState; notice?: string | undefined }) {
  const { ctx, f } = props;
  return (
    <Page ctx={ctx} title={tr(ctx, '重复档案与合并', 'Duplicate records')}>
      <Msg errors={f.e} notice={props.notice} />
      <table class="compact" data-testid="dup-table"><thead><tr><th>档案A</th><th>档案B</th><th>依据</th><th>确定性</th><th>合并（保留A）</th></tr></thead>
        <tbody>{props.pairs.map((p) => <tr><td><a href={`/care/records/${p.a}`}>{p.a}</a> {p.aName}</td><td><a href={`/care/records/${p.b}`}>{p.b}</a> {p.bName}</td><td>{p.reason}</td><td>{p.certainty === 'certain' ? '确定' : '疑似'}</td>
          <td><form method="post" action="/care/records/merge"><input type="hidden" name="survivorNo" value={p.a} /><input type="hidden" name="duplicateNo" value={p.b} /><button class="btn" type="submit">{tr(ctx, '合并', 'Merge')}</button></form></td></tr>)}</tbody></table>
      {props.pairs.length === 0 && <p class="hint">未发现疑似重复档案。</p>}
      <Section title={tr(ctx, '按编号合并', 'Merge by number')}>
        <form method="post" action="/care/records/merge"><Input f={f} name="survivorNo" label="保留档案编号" inline /><Input f={f} name="duplicateNo" label="重复档案编号（将注销）" inline />
          <button class="primary" type="submit">{tr(ctx, '合并', 'Merge')}</button></form>
      </Section>
    </Page>
  );
}

// ---------------- resident view ----------------
export interface ResidentView {
  r: ResidentRow; age: number; record: HealthRecord | null; issues: QcIssue[]; tags: string[];
  enrolments: RecordPayload<'chronic_enrolment'>[]; followups: Followup[];
  readings: { code: string; display: string; value: number; unit: string; at: string; device: string; interpretation?: string | undefined }[];
  visits: RecordPayload<'encounter'>[]; labs: RecordPayload<'lab_result'>[]; images: RecordPayload<'imaging_study'>[];
  elderly: RecordPayload<'elderly_check'>[]; tcm: RecordPayload<'tcm_assessment'>[]; ascvd: RecordPayload<'ascvd_assessment'>[];
  contracts: Contract[]; referrals: RecordPayload<'referral'>[]; plans: RecordPayload<'care_plan'>[]; appointments: RecordPayload<'care_appointment'>[];
  /** Follow-ups recorded at the clinic a migrated record came from (read-only). */
  priorFollowups?: { fromClinicId: string; fromClinicName?: string | undefined; date: string; followups: Followup[] }[];
  teamName: (id?: string) => string;
  staffName: (code?: string) => string;
}
const OBS_ZH: Record<string, string> = { '8480-6': '收缩压', '8462-4': '舒张压', '8867-4': '脉率', '14743-9': '血糖', '29463-7': '体重', '8302-2': '身高', '8310-5': '体温', '59408-5': '血氧饱和度' };
const UNIT_ZH: Record<string, string> = { 'mm[Hg]': 'mmHg', '/min': '次/分', 'Cel': '℃', '%': '%' };
const Empty = () => <span class="empty">暂无</span>;

export function ResidentPage(props: { ctx: PageCtx; v: ResidentView; ef: FormState; pf: FormState; af: FormState; rf: FormState; notice?: string | undefined; urgentNotice?: string | undefined }) {
  const { ctx, v } = props;
  const rid = v.r.residentId;
  const canEnrol = (d: 'HTN' | 'T2DM') => !v.enrolments.some((e) => e.disease === d && e.status === 'active');
  return (
    <Page ctx={ctx} title={tr(ctx, '居民健康档案', 'Resident health record')}>
      <p style="font-size:16px"><ResidentBadge r={v.r} age={v.age} />　{v.tags.map((t) => <span class="tag">{KEY_TAG_ZH[t]}</span>)}</p>
      {props.urgentNotice && <div class="urgent" data-testid="urgent-flag">{props.urgentNotice}</div>}
      <Msg errors={{ ...props.ef.e, ...props.pf.e, ...props.af.e, ...props.rf.e }} notice={props.notice} />
      <div class="cols">
        <Section title={tr(ctx, '档案', 'Record')} testid="record-card">
          {v.record ? <dl class="kv"><dt>档案编号</dt><dd><a href={`/care/records/${v.record.healthRecordNo}`} data-testid="record-no">{v.record.healthRecordNo}</a></dd><dt>状态</dt><dd>{STATUS_ZH[v.record.status]}</dd><dt>现住址</dt><dd>{v.record.currentAddress ?? ''}</dd><dt>过敏史</dt><dd>{v.record.drugAllergies.join('、') || '无'}</dd><dt>既往史</dt><dd>{v.record.pastDiseases.map((d) => `${d.name}${d.diagnosedDate ? `(${d.diagnosedDate})` : ''}`).join('、') || '无'}</dd><dt>家族史</dt><dd>{v.record.familyHistory.map((x) => `${({ father: '父亲', mother: '母亲', sibling: '兄弟姐妹', child: '子女' })[x.relation]}：${x.disease}`).join('、') || '无'}</dd></dl>
            : <p>尚未建档。<form method="post" action="/care/records" style="display:inline"><input type="hidden" name="mode" value="existing" /><input type="hidden" name="residentId" value={rid} /><button class="btn" type="submit" data-testid="create-record-existing">{tr(ctx, '为该居民建档', 'Create record')}</button></form></p>}
          {v.issues.length > 0 && <details><summary>{tr(ctx, `质控问题 ${v.issues.length} 项`, `${v.issues.length} QC issue(s)`)}</summary><QcIssues issues={v.issues} lang={ctx.lang} /></details>}
        </Section>
        <Section title={tr(ctx, '慢病管理', 'Chronic disease management')} testid="chronic-card">
          {v.enrolments.map((e) => <div>{DISEASE_ZH[e.disease]}：{e.status === 'active' ? '管理中' : '已结案'}，纳入 {e.enrolledDate}，责任医生 {v.staffName(e.doctorCode)}
            {e.status === 'active' && <> <a class="btn" href={`/care/r/${rid}/followup?disease=${e.disease}`} data-testid={`followup-${e.disease}`}>{tr(ctx, '随访', 'Follow-up')}</a></>}</div>)}
          {(canEnrol('HTN') || canEnrol('T2DM')) && <form method="post" action={`/care/r/${rid}/enrol`} data-testid="enrol-form" style="margin-top:8px">
            <Select f={props.ef} name="disease" label="纳入管理病种" options={[...(canEnrol('HTN') ? [['HTN', '高血压'] as const] : []), ...(canEnrol('T2DM') ? [['T2DM', '2型糖尿病'] as const] : [])]} inline />
            <Input f={props.ef} name="enrolledDate" label="纳入日期" type="date" inline />
            <Input f={props.ef} name="diagnosedDate" label="确诊日期" type="date" inline />
            <Input f={props.ef} name="sbp" label="收缩压" inline style="width:80px" /><Input f={props.ef} name="dbp" label="舒张压" inline style="width:80px" /><Input f={props.ef} name="fbg" label="空腹血糖" inline style="width:80px" />
            <Err f={props.ef} name="residentId" />
            <button class="primary" type="submit" data-testid="enrol-button">{tr(ctx, '纳入管理', 'Enrol')}</button></form>}
        </Section>
        <Section title={tr(ctx, '家庭医生签约', 'Family doctor contract')} testid="contract-card">
          {v.contracts.map((c) => <div><a href={`/care/contracts/${c.contractId}`}>{CONTRACT_ZH[c.status]}</a> {v.teamName(c.teamId)}，{c.startDate} 至 {c.endDate}</div>)}{v.contracts.length === 0 && <p><Empty /></p>}
          <a class="btn" href={`/care/r/${rid}/contract`} data-testid="sign-link">{tr(ctx, '签约', 'Sign')}</a>
        </Section>
        <Section title={tr(ctx, '其他服务', 'Other services')}>
          <a class="btn" href={`/care/r/${rid}/elderly`}>{tr(ctx, '老年人健康体检', 'Elderly check')}</a>
          <a class="btn" href={`/care/r/${rid}/tcm`}>{tr(ctx, '中医体质辨识', 'TCM constitution')}</a>
          <a class="btn" href={`/care/r/${rid}/ascvd`}>{tr(ctx, 'ASCVD风险评估', 'ASCVD risk')}</a>
          {v.elderly.slice(0, 3).map((e) => <div>{e.date} 老年人体检：自理能力 {e.selfCareScore} 分，{SELF_CARE_LEVEL_ZH[e.selfCareLevel]}</div>)}
          {v.tcm.slice(0, 3).map((e) => <div>{e.date} 中医体质：{e.constitutions.map((x) => TCM_TYPE_ZH[x]).join('、') || '未判定'}{e.tendencies.length ? `；倾向 ${e.tendencies.map((x) => TCM_TYPE_ZH[x]).join('、')}` : ''}</div>)}
          {v.ascvd.slice(0, 3).map((e) => <div>{e.date} ASCVD 10年风险 {e.risk10yPercent}%（{ASCVD_BAND_ZH[e.band]}）{!e.coefficientsVerified && <span class="tag">系数未核对</span>}</div>)}
        </Section>
      </div>
      <Section title={tr(ctx, '随访记录', 'Follow-ups')} testid="followups">
        <table class="compact"><thead><tr><th>日期</th><th>病种</th><th>方式</th><th>血压</th><th>空腹血糖</th><th>分类</th><th>转诊</th><th>下次随访</th><th>医生</th></tr></thead>
          <tbody>{v.followups.map((f) => <tr><td>{f.date}</td><td>{DISEASE_ZH[f.disease]}</td><td>{MODE_ZH[f.mode]}</td><td>{f.sbp !== undefined ? `${f.sbp}/${f.dbp}` : ''}{f.bpClass ? ` ${BP_CLASS_ZH[f.bpClass]}` : ''}</td><td>{f.fastingGlucose ?? ''}</td>
            <td>{CONTROL_ZH[f.control]}</td><td>{f.urgentReferral ? <b style="color:var(--bad)">紧急转诊</b> : f.referral ? '转诊' : ''}</td><td>{f.nextDueDate}</td><td>{v.staffName(f.doctorCode)}</td></tr>)}</tbody></table>{v.followups.length === 0 && <Empty />}
      </Section>
      {(v.priorFollowups ?? []).filter((p) => p.followups.length > 0).map((p) => <Section title={`${tr(ctx, '迁入前随访记录（只读）', 'Follow-ups before the transfer (read-only)')}：${p.fromClinicName ?? p.fromClinicId}`} testid="prior-followups">
        <p class="hint">档案于 {p.date} 由 {p.fromClinicName ?? p.fromClinicId}（{p.fromClinicId}）迁入；以下为原机构的随访，仅供查阅。</p>
        <table class="compact"><thead><tr><th>日期</th><th>病种</th><th>血压</th><th>空腹血糖</th><th>分类</th><th>下次随访</th><th>原机构医生</th></tr></thead>
          <tbody>{p.followups.map((f) => <tr><td>{f.date}</td><td>{DISEASE_ZH[f.disease]}</td><td>{f.sbp !== undefined ? `${f.sbp}/${f.dbp}` : ''}</td><td>{f.fastingGlucose ?? ''}</td><td>{CONTROL_ZH[f.control]}</td><td>{f.nextDueDate}</td><td>{f.doctorCode}</td></tr>)}</tbody></table>
      </Section>)}
      <div class="cols">
        <Section title={tr(ctx, '体征/设备读数', 'Readings')} testid="readings"><table class="compact"><tbody>{v.readings.slice(0, 12).map((x) => <tr><td>{fmtTime(x.at)}</td><td>{OBS_ZH[x.code] ?? x.display}</td><td>{x.value} {UNIT_ZH[x.unit] ?? x.unit}{x.interpretation && x.interpretation !== 'N' ? ` (${x.interpretation})` : ''}</td><td>{x.device}</td></tr>)}</tbody></table>{v.readings.length === 0 && <Empty />}</Section>
        <Section title={tr(ctx, '就诊记录', 'Visits')} testid="visits"><table class="compact"><tbody>{v.visits.slice(0, 10).map((x) => <tr><td>{fmtTime(x.registeredAt)}</td><td>{x.departmentCode}</td><td>{x.diagnoses.map((d) => d.name).join('、')}</td><td>{x.chiefComplaint ?? ''}</td></tr>)}</tbody></table>{v.visits.length === 0 && <Empty />}</Section>
        <Section title={tr(ctx, '检验结果', 'Lab results')} testid="labs"><table class="compact"><tbody>{v.labs.slice(0, 12).map((x) => <tr><td>{fmtTime(x.resultedAt)}</td><td>{x.testName}</td><td>{x.value} {x.unit ?? ''} {x.flag && x.flag !== 'N' ? x.flag : ''}</td></tr>)}</tbody></table>{v.labs.length === 0 && <Empty />}</Section>
        <Section title={tr(ctx, '影像检查', 'Imaging')} testid="images"><table class="compact"><tbody>{v.images.slice(0, 10).map((x) => <tr><td>{x.studyDate ?? ''}</td><td>{x.modality}</td><td>{x.description ?? ''}</td><td>{x.instanceCount} 幅</td></tr>)}</tbody></table>{v.images.length === 0 && <Empty />}</Section>
      </div>
      <div class="cols">
        <Section title={tr(ctx, '健康计划', 'Health plan')} testid="plans">
          {v.plans.map((p) => <div><b>{p.periodStart} ~ {p.periodEnd}</b>：目标 {p.goals.join('；')}{p.interventions.length ? `；措施 ${p.interventions.join('；')}` : ''}</div>)}
          <form method="post" action={`/care/r/${rid}/plan`}>
            <Input f={props.pf} name="periodStart" label="开始" type="date" inline /><Input f={props.pf} name="periodEnd" label="结束" type="date" inline />
            <TextArea f={props.pf} name="problems" label="健康问题（每行一项）" rows={2} /><TextArea f={props.pf} name="goals" label="健康目标（每行一项）" rows={2} /><TextArea f={props.pf} name="interventions" label="干预措施（每行一项）" rows={2} />
            <button class="btn" type="submit">{tr(ctx, '保存计划', 'Save plan')}</button></form>
        </Section>
        <Section title={tr(ctx, '预约', 'Appointments')} testid="appointments">
          <table class="compact"><tbody>{v.appointments.map((a) => <tr><td>{a.date} {a.time ?? ''}</td><td>{APPT_ZH[a.kind]}</td><td>{({ booked: '已预约', done: '已完成', missed: '爽约', cancelled: '已取消' } as Record<string, string>)[a.status]}</td>
            <td>{a.status === 'booked' && (['done', 'missed', 'cancelled'] as const).map((s) => <form method="post" action={`/care/appointments/${a.appointmentId}/status`} style="display:inline"><input type="hidden" name="status" value={s} /><button class="btn" type="submit">{({ done: '完成', missed: '爽约', cancelled: '取消' })[s]}</button></form>)}</td></tr>)}</tbody></table>
          <form method="post" action={`/care/r/${rid}/appointment`}>
            <Select f={props.af} name="kind" label="类型" options={Object.entries(APPT_ZH)} inline /><Input f={props.af} name="date" label="日期" type="date" inline /><Input f={props.af} name="time" label="时间" inline placeholder="09:30" style="width:90px" />
            <Input f={props.af} name="note" label="备注" />
            <button class="btn" type="submit">{tr(ctx, '预约', 'Book')}</button></form>
        </Section>
        <Section title={tr(ctx, '双向转诊', 'Referrals')} testid="referrals">
          {v.referrals.map((x) => <div>{x.date} {x.direction === 'up' ? '上转' : '下转'}{x.urgent ? '（紧急）' : ''} → {x.toOrg}：{REF_ZH[x.status]}{x.followupDueDate && x.status !== 'completed' ? `，${x.followupDueDate} 前回访` : ''}{x.followedUpDate ? `，${x.followedUpDate} 已回访` : ''}</div>)}
          <form method="post" action={`/care/r/${rid}/referral`}>
            <Select f={props.rf} name="direction" label="方向" options={[['up', '上转'], ['down', '下转（接收）']]} inline /><Input f={props.rf} name="date" label="日期" type="date" inline />
            <label class="chk"><input type="checkbox" name="urgent" value="1" checked={props.rf.v.urgent === '1'} />紧急</label>
            <Input f={props.rf} name="toOrg" label="对方机构" /><Input f={props.rf} name="reason" label="原因" /><Input f={props.rf} name="diagnosisName" label="初步诊断" />
            <button class="btn" type="submit">{tr(ctx, '登记转诊', 'Record referral')}</button></form>
        </Section>
      </div>
    </Page>
  );
}

// ---------------- follow-up ----------------
export function FollowupPage(props: { ctx: PageCtx; r: ResidentRow; age: number; disease: 'HTN' | 'T2DM'; f: FormState; prefill: Prefill; urgentNow: string[]; previous: Followup[] }) {
  const { ctx, f, prefill: p } = props;
  const dm = props.disease === 'T2DM';
  return (
    <Page ctx={ctx} title={`${DISEASE_ZH[props.disease]}${tr(ctx, '患者随访服务记录', ' follow-up')}`}>
      <p><ResidentBadge r={props.r} age={props.age} />　<a href={`/care/r/${props.r.residentId}`}>{tr(ctx, '返回居民档案', 'Back')}</a></p>
      {props.urgentNow.length > 0 && <div class="urgent" data-testid="urgent-flag">⚠ 紧急转诊指征：{props.urgentNow.join('；')}。请立即处理并转诊，2 周内随访转诊情况。</div>}
      <Msg errors={f.e} />
      <form method="post" action={`/care/r/${props.r.residentId}/followup?disease=${props.disease}`} data-testid="followup-form">
        <input type="hidden" name="sourceReadingIds" value={f.v.sourceReadingIds ?? ''} /><input type="hidden" name="sourceEncounterId" value={f.v.sourceEncounterId ?? ''} />
        <Section title="随访信息">
          <Input f={f} name="date" label="随访日期" type="date" inline required />
          <Select f={f} name="mode" label="随访方式" options={[['clinic', '门诊'], ['home', '家庭'], ['phone', '电话']]} inline required />
          <Err f={f} name="disease" />
        </Section>
        <Section title="症状">
          <Checks f={f} name="symptoms" label="急症（任一项即紧急转诊）" options={Object.entries(URGENT_SYMPTOMS)} />
          <Checks f={f} name="symptoms" label="其他症状" options={Object.entries(OTHER_SYMPTOMS)} />
          <label class="chk"><input type="checkbox" name="pregnant" value="1" checked={f.v.pregnant === '1'} />妊娠期或哺乳期</label>
          <label class="chk"><input type="checkbox" name="newComplication" value="1" checked={f.v.newComplication === '1'} />新发并发症或原有并发症加重</label>
        </Section>
        <Section title="体征">
          {p.readingAt && <div class="source" data-testid="prefill-source">血压{p.heartRate !== undefined ? '、心率' : ''}取自{p.readingDevice ? `设备「${p.readingDevice}」` : '最近测量'}，{fmtTime(p.readingAt)}（{p.sbp}/{p.dbp} mmHg）</div>}
          {p.glucoseAt && <div class="source" data-testid="prefill-glucose">血糖取自{p.glucoseSource ?? ''}最近结果 {fmtTime(p.glucoseAt)}（{p.fbg} mmol/L）</div>}
          <Input f={f} name="sbp" label="收缩压 mmHg" inline style="width:90px" required={!dm} /><Input f={f} name="dbp" label="舒张压 mmHg" inline style="width:90px" required={!dm} />
          <Input f={f} name="heartRate" label="心率 次/分" inline style="width:90px" />
          <Input f={f} name="weightKg" label="体重 kg" inline style="width:90px" /><Input f={f} name="heightCm" label="身高 cm" inline style="width:90px" />
          {dm && <><Input f={f} name="fbg" label="空腹血糖 mmol/L" inline style="width:90px" required /><Input f={f} name="temperatureC" label="体温 ℃" inline style="width:90px" />
            <Select f={f} name="footPulse" label="足背动脉搏动" options={[['normal', '触及正常'], ['weak', '减弱'], ['absent', '消失']]} inline /></>}
        </Section>
        <Section title="生活方式指导与用药">
          <Input f={f} name="smokingPerDay" label="日吸烟量（支）" inline style="width:80px" /><Input f={f} name="drinkingPerDay" label="日饮酒量（两）" inline style="width:80px" />
          <Input f={f} name="exerciseTimesPerWeek" label="运动（次/周）" inline style="width:80px" />
          <Select f={f} name="saltIntake" label="摄盐情况" options={[['light', '轻'], ['moderate', '中'], ['heavy', '重']]} inline />
          <Select f={f} name="medicationAdherence" label="服药依从性" options={[['regular', '规律'], ['intermittent', '间断'], ['none', '不服药']]} inline />
          <Input f={f} name="adverseDrugReaction" label="药物不良反应（无则空）" />
          <TextArea f={f} name="medications" label="用药情况（每行：药名,用法用量）" rows={2} />
          <Input f={f} name="referralTo" label="如需转诊：转入机构" />
          <Input f={f} name="note" label="备注" />
        </Section>
        {p.encounter && <div class="source" data-testid="prefill-visit">最近就诊 {fmtTime(p.encounter.registeredAt)}：{p.encounter.diagnoses || '无诊断'}{p.encounter.chiefComplaint ? `；主诉 ${p.encounter.chiefComplaint}` : ''}</div>}
        <button class="primary" type="submit" data-testid="save-followup">{tr(ctx, '保存随访', 'Save follow-up')}</button>
      </form>
      <Section title="既往随访">
        <table class="compact"><tbody>{props.previous.slice(0, 6).map((x) => <tr><td>{x.date}</td><td>{x.sbp !== undefined ? `${x.sbp}/${x.dbp}` : ''}</td><td>{x.fastingGlucose ?? ''}</td><td>{CONTROL_ZH[x.control]}</td><td>下次 {x.nextDueDate}</td></tr>)}</tbody></table>{props.previous.length === 0 && <Empty />}
      </Section>
    </Page>
  );
}

export function followupSummary(f: Followup, lang: 'zh-CN' | 'en'): string {
  const bp = f.bpClass ? (lang === 'en' ? BP_CLASS_EN[f.bpClass] : BP_CLASS_ZH[f.bpClass]) : '';
  const glu = f.glucoseClass ? GLUCOSE_CLASS_ZH[f.glucoseClass] : '';
  return `已保存${DISEASE_ZH[f.disease]}随访（${f.date}）：${[bp, glu].filter(Boolean).join('，')}；${CONTROL_ZH[f.control]}${f.referral ? `；转诊${f.urgentReferral ? '（紧急）' : `：${f.referral.reason}`} → ${f.referral.toOrg ?? ''}` : ''}；下次随访 ${f.nextDueDate}`;
}

// ---------------- due list ----------------
export function DuePage(props: { ctx: PageCtx; rows: DueRow[]; teams: Team[]; doctors: string[]; q: { doctor: string; team: string; state: string }; staffName: (c: string) => string; teamName: (id?: string) => string }) {
  const { ctx, q } = props;
  const count = (s: string) => props.rows.filter((r) => r.state === s).length;
  return (
    <Page ctx={ctx} title={tr(ctx, '随访管理：到期与逾期', 'Follow-ups due and overdue')}>
      <form method="get" action="/care/due" style="margin-bottom:10px">
        <select name="doctor" style="width:160px"><option value="">{tr(ctx, '全部医生', 'All doctors')}</option>{props.doctors.map((d) => <option value={d} selected={q.doctor === d}>{props.staffName(d)}</option>)}</select>{' '}
        <select name="team" style="width:180px"><option value="">{tr(ctx, '全部团队', 'All teams')}</option>{props.teams.map((t) => <option value={t.teamId} selected={q.team === t.teamId}>{t.name}</option>)}</select>{' '}
        <select name="state" style="width:140px"><option value="">{tr(ctx, '全部', 'All')}</option>{Object.entries(DUE_ZH).map(([v, l]) => <option value={v} selected={q.state === v}>{tr(ctx, l, DUE_EN[v]!)}</option>)}</select>{' '}
        <button class="btn" type="submit">{tr(ctx, '筛选', 'Filter')}</button>
      </form>
      <p data-testid="due-counts">{tr(ctx, '已逾期', 'Overdue')} <b class="state-overdue">{count('overdue')}</b>　{tr(ctx, '7天内到期', 'Due within 7 days')} <b class="state-due_soon">{count('due_soon')}</b>　{tr(ctx, '未到期', 'Later')} {count('scheduled')}</p>
      <table class="compact" data-testid="due-table"><thead><tr>{(ctx.lang === 'en' ? ['Due', 'State', 'Name', 'Age', 'Item', 'Last follow-up', 'Doctor', 'Team', ''] : ['应随访日期', '状态', '姓名', '年龄', '项目', '上次随访', '责任医生', '团队', '']).map((h) => <th>{h}</th>)}</tr></thead>
        <tbody>{props.rows.map((r) => <tr><td>{r.dueDate}</td><td class={`state-${r.state}`}>{tr(ctx, DUE_ZH[r.state]!, DUE_EN[r.state]!)}</td><td><a href={`/care/r/${r.residentId}`}>{r.name}</a></td><td>{r.age}</td>
          <td>{DISEASE_ZH[r.disease] ?? r.disease}{r.note ? <div class="hint">{r.note}</div> : null}</td><td>{r.lastDate ?? '—'}{r.lastControl ? ` ${CONTROL_ZH[r.lastControl]}` : ''}</td><td>{props.staffName(r.doctorCode)}</td><td>{props.teamName(r.teamId)}</td>
          <td>{r.kind === 'followup' ? <a href={`/care/r/${r.residentId}/followup?disease=${r.disease}`}>随访</a> : r.kind === 'referral' ? <a href={`/care/referrals`}>转诊回访</a> : <a href={`/care/r/${r.residentId}`}>查看</a>}</td></tr>)}</tbody></table>
    </Page>
  );
}

// ---------------- elderly, TCM, ASCVD ----------------
export function ElderlyPage(props: { ctx: PageCtx; r: ResidentRow; age: number; f: FormState; history: RecordPayload<'elderly_check'>[] }) {
  const { ctx, f } = props;
  return (
    <Page ctx={ctx} title={tr(ctx, '老年人健康管理：年度体检与生活自理能力评估', 'Elderly annual check')}>
      <p><ResidentBadge r={props.r} age={props.age} />　<a href={`/care/r/${props.r.residentId}`}>{tr(ctx, '返回居民档案', 'Back')}</a></p>
      <Msg errors={f.e} />
      <form method="post" action={`/care/r/${props.r.residentId}/elderly`} data-testid="elderly-form">
        <Input f={f} name="date" label="体检日期" type="date" inline /><Err f={f} name="residentId" />
        <Section title="老年人生活自理能力评估表">
          <table class="compact"><thead><tr><th>评估事项</th>{SELF_CARE_COLUMNS_ZH.map((c) => <th>{c}</th>)}</tr></thead>
            <tbody>{(Object.entries(SELF_CARE_ITEMS) as [string, { zh: string; scores: readonly number[] }][]).map(([k, it]) => <tr class={f.e[`sc_${k}`] ? 'q has-error' : ''}><td>{it.zh}<Err f={f} name={`sc_${k}`} /></td>
              {it.scores.map((s, i) => <td class="opts"><label><input type="radio" name={`sc_${k}`} value={String(i)} checked={f.v[`sc_${k}`] === String(i)} />{s} 分</label></td>)}</tr>)}</tbody></table>
          <p class="hint">总分 0~3 可自理，4~8 轻度依赖，9~18 中度依赖，≥19 不能自理。</p>
        </Section>
        <Section title="健康状态与体检">
          <Select f={f} name="healthSelfRating" label="健康状态自我评估" options={[['1', '满意'], ['2', '基本满意'], ['3', '说不清楚'], ['4', '不太满意'], ['5', '不满意']]} inline />
          <label class="chk"><input type="checkbox" name="cognitivePositive" value="1" checked={f.v.cognitivePositive === '1'} />认知功能粗筛阳性</label>
          <label class="chk"><input type="checkbox" name="emotionalPositive" value="1" checked={f.v.emotionalPositive === '1'} />情感状态粗筛阳性</label><br />
          <Input f={f} name="sbp" label="收缩压" inline style="width:80px" /><Input f={f} name="dbp" label="舒张压" inline style="width:80px" /><Input f={f} name="heartRate" label="心率" inline style="width:80px" />
          <Input f={f} name="temperatureC" label="体温" inline style="width:80px" /><Input f={f} name="weightKg" label="体重" inline style="width:80px" /><Input f={f} name="heightCm" label="身高" inline style="width:80px" />
          <Input f={f} name="waistCm" label="腰围" inline style="width:80px" /><Input f={f} name="fbg" label="空腹血糖" inline style="width:80px" />
          <Checks f={f} name="itemsDone" label="已完成的辅助检查" options={Object.entries(ITEM_ZH)} />
          <TextArea f={f} name="conclusion" label="健康评价" rows={2} /><TextArea f={f} name="guidance" label="健康指导" rows={2} />
        </Section>
        <button class="primary" type="submit" data-testid="save-elderly">{tr(ctx, '保存', 'Save')}</button>
      </form>
      <Section title="历次评估">{props.history.map((e) => <div>{e.date}：{e.selfCareScore} 分，{SELF_CARE_LEVEL_ZH[e.selfCareLevel]}</div>)}{props.history.length === 0 && <Empty />}</Section>
    </Page>
  );
}

export function TcmPage(props: { ctx: PageCtx; r: ResidentRow; age: number; f: FormState; method: string; result?: RecordPayload<'tcm_assessment'> | undefined }) {
  const { ctx, f } = props;
  return (
    <Page ctx={ctx} title={tr(ctx, '老年人中医药健康管理：体质辨识', 'TCM constitution questionnaire')}>
      <p><ResidentBadge r={props.r} age={props.age} />　<a href={`/care/r/${props.r.residentId}`}>{tr(ctx, '返回居民档案', 'Back')}</a></p>
      {props.result && <Section title="辨识结果" testid="tcm-result">
        <p>体质类型：<b>{props.result.constitutions.map((x) => TCM_TYPE_ZH[x]).join('、') || '未判定'}</b>{props.result.tendencies.length > 0 && <>；倾向：{props.result.tendencies.map((x) => TCM_TYPE_ZH[x]).join('、')}</>}</p>
        <table class="compact"><thead><tr>{TCM_TYPES.map((t) => <th>{TCM_TYPE_ZH[t]}</th>)}</tr></thead><tbody><tr>{TCM_TYPES.map((t) => <td>{props.result!.rawScores[t]} 分<br />{TCM_RESULT_ZH[props.result!.results[t]]}</td>)}</tr></tbody></table>
        <p style="white-space:pre-line">{props.result.guidance}</p>
      </Section>}
      <Msg errors={f.e} />
      <form method="post" action={`/care/r/${props.r.residentId}/tcm`} data-testid="tcm-form">
        <Input f={f} name="date" label="评估日期" type="date" inline /><Err f={f} name="residentId" />
        <p class="hint">请根据近一年的体验和感觉回答；判定方法：<span data-testid="tcm-method">{TCM_METHOD_ZH[props.method === 'transformed' ? 'transformed' : 'elderly-raw']}</span></p>
        {TCM_QUESTIONS.map((q, i) => <div class={`q${f.e[`q${i + 1}`] ? ' has-error' : ''}`} data-testid={`q${i + 1}`}><div>{i + 1}. {q}</div>
          <div class="opts">{TCM_ANSWER_LABELS.map((l, j) => <label><input type="radio" name={`q${i + 1}`} value={String(j + 1)} checked={f.v[`q${i + 1}`] === String(j + 1)} />{j + 1} {l}</label>)}</div><Err f={f} name={`q${i + 1}`} /></div>)}
        <button class="primary" type="submit" data-testid="save-tcm">{tr(ctx, '提交并辨识', 'Submit')}</button>
      </form>
    </Page>
  );
}

export function AscvdPage(props: { ctx: PageCtx; r: ResidentRow; age: number; f: FormState; coef: CoefficientSet | null; result?: RecordPayload<'ascvd_assessment'> | undefined }) {
  const { ctx, f, coef } = props;
  return (
    <Page ctx={ctx} title={tr(ctx, '10年ASCVD发病风险评估（China-PAR）', '10-year ASCVD risk (China-PAR)')}>
      <p><ResidentBadge r={props.r} age={props.age} />　<a href={`/care/r/${props.r.residentId}`}>{tr(ctx, '返回居民档案', 'Back')}</a></p>
      {!coef && <div class="error" data-testid="no-coefficients">机构管理员粘贴的 China-PAR 系数表无法读取，无法计算。请在「公卫设置」重新录入或恢复论文默认系数。</div>}
      {coef && coef.verified && <p class="hint" data-testid="coef-source">系数：{coef.name}。来源：{coef.source}</p>}
      {coef && !coef.verified && <div class="warnbox" data-testid="unverified">当前系数「{coef.name}」未经核对（来源：{coef.source}），结果仅供演示，不得用于临床决策。</div>}
      {props.result && <Section title="评估结果" testid="ascvd-result"><p style="font-size:18px">10年 ASCVD 发病风险 <b>{props.result.risk10yPercent}%</b>，{ASCVD_BAND_ZH[props.result.band]}</p></Section>}
      <Msg errors={f.e} />
      <form method="post" action={`/care/r/${props.r.residentId}/ascvd`}>
        <Input f={f} name="date" label="评估日期" type="date" inline /><Err f={f} name="residentId" />
        <Input f={f} name="sbp" label="收缩压 mmHg" inline style="width:90px" /><label class="chk"><input type="checkbox" name="onBpTreatment" value="1" checked={f.v.onBpTreatment === '1'} />正在服降压药</label><br />
        <Input f={f} name="totalCholesterol" label="总胆固醇 mmol/L" inline style="width:90px" /><Input f={f} name="hdlCholesterol" label="HDL-C mmol/L" inline style="width:90px" /><Input f={f} name="waistCm" label="腰围 cm" inline style="width:90px" /><br />
        <label class="chk"><input type="checkbox" name="smoker" value="1" checked={f.v.smoker === '1'} />现在吸烟</label>
        <label class="chk"><input type="checkbox" name="diabetes" value="1" checked={f.v.diabetes === '1'} />糖尿病</label>
        <label class="chk"><input type="checkbox" name="familyHistory" value="1" checked={f.v.familyHistory === '1'} />ASCVD 家族史</label><br />
        <Select f={f} name="region" label="居住地（以长江为界）" options={[['north', '北方'], ['south', '南方']]} inline blank={false} /><Select f={f} name="area" label="城乡" options={[['urban', '城市'], ['rural', '农村']]} inline blank={false} />
        <button class="primary" type="submit" disabled={!coef}>{tr(ctx, '计算并保存', 'Compute and save')}</button>
      </form>
    </Page>
  );
}

// ---------------- contracts ----------------
export function SignPage(props: { ctx: PageCtx; r: ResidentRow; age: number; f: FormState; teams: Team[]; packages: Package[]; recommended: string[]; tags: string[]; staffName: (c: string) => string }) {
  const { ctx, f } = props;
  const chosen = new Set((f.v.packageIds ?? '').split(',').filter(Boolean));
  return (
    <Page ctx={ctx} title={tr(ctx, '家庭医生签约', 'Sign a family-doctor contract')}>
      <p><ResidentBadge r={props.r} age={props.age} />　{props.tags.map((t) => <span class="tag">{KEY_TAG_ZH[t]}</span>)}</p>
      <Msg errors={f.e} />
      <form method="post" action={`/care/r/${props.r.residentId}/contract`} data-testid="sign-form">
        <Err f={f} name="residentId" />
        <Select f={f} name="teamId" label="签约团队" options={props.teams.filter((t) => t.active).map((t) => [t.teamId, t.name] as const)} inline required />
        <Select f={f} name="doctorCode" label="签约医生" options={props.teams.filter((t) => t.active).flatMap((t) => t.members.filter((m) => m.role === 'gp').map((m) => [m.staffCode, `${m.name}（${t.name}）`] as const))} inline required />
        <Section title="服务包（推荐依据：重点人群标签）">
          {props.packages.filter((p) => p.active).map((p) => <div><label class="chk"><input type="checkbox" name="packageIds" value={p.packageId} checked={chosen.has(p.packageId) || (!f.v.packageIds && (p.kind === 'basic' || props.recommended.includes(p.packageId)))} />
            {p.name}（{p.kind === 'basic' ? '基础包' : '个性化包'}，{yuan(p.priceFen)} 元，个人自付 {yuan(p.selfPayFen)} 元）</label>{props.recommended.includes(p.packageId) && <span class="tag" data-testid="recommended">推荐</span>}
            <span class="hint">{p.services.map((s) => `${s.name}×${s.timesPerYear}`).join('、')}</span></div>)}
          <Err f={f} name="packageIds" />
        </Section>
        <Checks f={f} name="tags" label="重点人群标签（年龄与慢病管理自动标注）" options={TAG_OPTIONS} />
        <Select f={f} name="signMethod" label="身份核验" options={[['id_card', '读身份证'], ['e_health_card', '扫电子健康卡'], ['manual', '人工核验']]} inline required />
        <Input f={f} name="idCheck" label="身份证号 / 电子健康卡码" inline />
        <Input f={f} name="signerName" label="签字人" inline required />
        <Select f={f} name="signerRelation" label="与居民关系" options={[['self', '本人'], ['spouse', '配偶'], ['child', '子女'], ['parent', '父母'], ['other', '其他']]} inline blank={false} />
        <Input f={f} name="startDate" label="生效日期" type="date" inline required />
        <button class="primary" type="submit" data-testid="sign-button">{tr(ctx, '签约', 'Sign')}</button>
      </form>
    </Page>
  );
}

export function ContractsPage(props: { ctx: PageCtx; rows: (Contract & { name: string })[]; teamName: (id?: string) => string; q: { status: string } }) {
  const { ctx } = props;
  return (
    <Page ctx={ctx} title={tr(ctx, '家庭医生签约', 'Family-doctor contracts')}>
      <form method="get" action="/care/contracts"><select name="status" style="width:140px"><option value="">全部</option>{Object.entries(CONTRACT_ZH).map(([v, l]) => <option value={v} selected={props.q.status === v}>{l}</option>)}</select> <button class="btn" type="submit">筛选</button></form>
      <p class="hint">在居民档案页点击「签约」办理新签约。</p>
      <table class="compact" data-testid="contracts-table"><thead><tr><th>居民</th><th>团队</th><th>医生</th><th>状态</th><th>有效期</th><th>人群</th><th></th></tr></thead>
        <tbody>{props.rows.map((c) => <tr><td><a href={`/care/r/${c.residentId}`}>{c.name}</a></td><td>{props.teamName(c.teamId)}</td><td>{c.doctorCode}</td><td>{CONTRACT_ZH[c.status]}</td><td>{c.startDate} ~ {c.endDate}</td><td>{c.keyPopulationTags.map((t) => <span class="tag">{KEY_TAG_ZH[t]}</span>)}</td><td><a href={`/care/contracts/${c.contractId}`}>查看</a></td></tr>)}</tbody></table>
    </Page>
  );
}

export function ContractPage(props: { ctx: PageCtx; c: Contract; r: ResidentRow; packages: Package[]; teamName: string; doctorName: string; f: FormState; notice?: string | undefined; renewed: boolean;
  fulfilment: { packageId: string; code: string; name: string; agreed: number; delivered: number }[]; sf: FormState }) {
  const { ctx, c, f } = props;
  return (
    <Page ctx={ctx} title={tr(ctx, '签约协议', 'Contract')}>
      <Msg errors={f.e} notice={props.notice} />
      <Section title={`${props.r.name} · ${props.teamName}`} testid="contract-view">
        <dl class="kv"><dt>协议编号</dt><dd data-testid="contract-id">{c.contractId}</dd><dt>状态</dt><dd data-testid="contract-status">{CONTRACT_ZH[c.status]}{c.terminatedDate ? `（${c.terminatedDate}，${c.terminationReason}）` : ''}</dd><dt>签约医生</dt><dd>{props.doctorName}</dd>
          <dt>服务包</dt><dd>{props.packages.map((p) => p.name).join('、')}</dd><dt>有效期</dt><dd>{c.startDate} 至 {c.endDate}</dd><dt>个人自付</dt><dd>{yuan(c.feeFen)} 元</dd><dt>签字人</dt><dd>{c.signerName}</dd>
          {c.previousContractId && <><dt>续约自</dt><dd><a href={`/care/contracts/${c.previousContractId}`}>{c.previousContractId.slice(0, 8)}</a></dd></>}</dl>
        <p><a class="btn" href={`/care/contracts/${c.contractId}/print`} target="_blank" data-testid="print-link">{tr(ctx, '打印协议', 'Print agreement')}</a></p>
        {c.status !== 'terminated' && <>
          {!props.renewed && <form method="post" action={`/care/contracts/${c.contractId}/renew`} style="display:inline"><button class="btn" type="submit" data-testid="renew">{tr(ctx, '续约（下一年度）', 'Renew')}</button></form>}
          <form method="post" action={`/care/contracts/${c.contractId}/terminate`}><Input f={f} name="terminationReason" label="解约原因" inline /><button class="btn danger" type="submit">{tr(ctx, '解约', 'Terminate')}</button></form>
        </>}
      </Section>
      <Section title={tr(ctx, '履约情况', 'Fulfilment')} testid="fulfilment">
        <Msg errors={props.sf.e} />
        <table class="compact"><thead><tr><th>服务项目</th><th>约定次数/年</th><th>已提供</th><th>完成率</th></tr></thead>
          <tbody>{props.fulfilment.map((x) => <tr><td>{x.name}</td><td>{x.agreed}</td><td>{x.delivered}</td><td>{x.agreed ? `${Math.min(100, Math.round((x.delivered / x.agreed) * 100))}%` : '—'}</td></tr>)}</tbody></table>
        {c.status !== 'terminated' && <form method="post" action={`/care/contracts/${c.contractId}/service`}>
          <Select f={props.sf} name="item" label="服务项目" options={props.fulfilment.map((x) => [`${x.packageId}|${x.code}`, x.name] as const)} inline />
          <Input f={props.sf} name="serviceDate" label="服务日期" type="date" inline /><Input f={props.sf} name="note" label="备注" inline />
          <button class="btn" type="submit" data-testid="record-service">{tr(ctx, '登记履约', 'Record service')}</button></form>}
      </Section>
    </Page>
  );
}

const PRINT_CSS = `
@page { size: A4; margin: 18mm 16mm; }
body { font: 14px/1.8 "Noto Serif CJK SC","Noto Sans CJK SC","SimSun",serif; color:#000; max-width: 180mm; margin: 0 auto; padding: 12px; }
h1 { text-align:center; font-size:22px; letter-spacing:4px; margin:6px 0 2px; }
.sub { text-align:center; font-size:12px; margin-bottom:14px; }
table { width:100%; border-collapse:collapse; margin:8px 0; } td, th { border:1px solid #000; padding:4px 6px; font-size:13px; text-align:left; }
.sign { display:flex; justify-content:space-between; margin-top:36px; } .sign div { width:46%; }
.line { display:inline-block; min-width:140px; border-bottom:1px solid #000; }
.bar { text-align:right; } .bar svg { height:44px; }
.noprint { margin:10px 0; text-align:center; } .noprint button { font:inherit; padding:6px 20px; }
@media print { .noprint { display:none; } a { color:#000; text-decoration:none; } }
`;

export function AgreementPrint(props: { c: Contract; r: ResidentRow; age: number; packages: Package[]; team: Team | null; doctorName: string; clinicName: string; barcodeSvg: string; address: string }) {
  const { c, r } = props;
  return (
    <html lang="zh-CN"><head><meta charset="utf-8" /><title>家庭医生签约服务协议书 {c.contractId.slice(0, 8)}</title><style dangerouslySetInnerHTML={{ __html: PRINT_CSS }} /><script src="/assets/ui.js" defer></script></head>
      <body>
        <div class="noprint"><button type="button" data-print data-testid="print-button">打印</button></div>
        <div class="bar" dangerouslySetInnerHTML={{ __html: props.barcodeSvg }} />
        <h1>家庭医生签约服务协议书</h1>
        <div class="sub">协议编号：{c.contractId}　　{c.status === 'renewed' ? '续约' : '首次签约'}</div>
        <p><b>甲方（服务提供方）</b>：{props.clinicName}　{props.team?.name ?? ''}　签约医生：{props.doctorName}</p>
        <p><b>乙方（签约居民）</b>：{r.name}　性别：{SEX_ZH[r.sex]}　年龄：{props.age} 岁　身份证号：{r.idNumber}　电话：{r.phone ?? ''}　住址：{props.address}</p>
        <p>重点人群：{c.keyPopulationTags.map((t) => KEY_TAG_ZH[t]).join('、') || '一般人群'}</p>
        <p>经双方协商，乙方自愿选择甲方家庭医生团队提供签约服务，协议有效期自 <b>{c.startDate}</b> 至 <b>{c.endDate}</b>，期满可续约。</p>
        <table><thead><tr><th>服务包</th><th>服务项目（次/年）</th><th>价格（元）</th><th>个人自付（元）</th></tr></thead>
          <tbody>{props.packages.map((p) => <tr><td>{p.name}（{p.kind === 'basic' ? '基础包' : '个性化包'}）</td><td>{p.services.map((s) => `${s.name}×${s.timesPerYear}`).join('；')}</td><td>{yuan(p.priceFen)}</td><td>{yuan(p.selfPayFen)}</td></tr>)}
            <tr><td colspan={3} style="text-align:right">个人自付合计</td><td>{yuan(c.feeFen)}</td></tr></tbody></table>
        <p><b>甲方责任</b>：按服务包内容提供基本医疗、基本公共卫生和约定的健康管理服务；建立并维护乙方健康档案；提供预约、随访与双向转诊服务；保护乙方个人信息。</p>
        <p><b>乙方责任</b>：如实提供健康信息，配合完成随访与健康管理；按约定支付个人自付费用；有疾病就诊时优先到签约家庭医生处首诊。</p>
        <p>协议期内乙方可申请解约；甲方团队人员变动时应及时告知乙方并做好服务衔接。本协议一式两份，甲乙双方各执一份。</p>
        <div class="sign">
          <div>甲方（签章）：<span class="line"></span><br />家庭医生签字：<span class="line">{props.doctorName}</span><br />日期：{c.signedDate}</div>
          <div>乙方签字：<span class="line">{c.signerName}</span>{c.signerRelation !== 'self' ? `（代签，关系：${({ spouse: '配偶', child: '子女', parent: '父母', other: '其他' } as Record<string, string>)[c.signerRelation]}）` : ''}<br />身份核验：{({ id_card: '身份证', e_health_card: '电子健康卡', manual: '人工核验' })[c.signMethod]}<br />日期：{c.signedDate}</div>
        </div>
      </body></html>
  );
}

// ---------------- teams, packages ----------------
export function TeamsPage(props: { ctx: PageCtx; teams: Team[]; packages: Package[]; tf: FormState; pf: FormState; canEdit: boolean; notice?: string | undefined }) {
  const { ctx } = props;
  return (
    <Page ctx={ctx} title={tr(ctx, '家庭医生团队与服务包', 'Teams and service packages')}>
      <Msg errors={{ ...props.tf.e, ...props.pf.e }} notice={props.notice} />
      <div class="cols">
        <Section title="团队" testid="teams">
          {props.teams.map((t) => <div style="margin-bottom:6px"><b>{t.name}</b>{t.active ? '' : '（停用）'}：{t.members.map((m) => `${m.name}(${m.staffCode}${m.staffCode === t.leaderCode ? ',团队长' : ''})`).join('、')}</div>)}
          {props.canEdit && <form method="post" action="/care/teams">
            <Input f={props.tf} name="name" label="团队名称" /><Input f={props.tf} name="leaderCode" label="团队长工号" />
            <TextArea f={props.tf} name="members" label="成员（每行：工号,姓名,角色 gp/nurse/public_health/pharmacist/specialist/other）" rows={4} />
            <button class="primary" type="submit">保存团队</button></form>}
        </Section>
        <Section title="服务包" testid="packages">
          {props.packages.map((p) => <div style="margin-bottom:6px"><b>{p.name}</b>（{p.kind === 'basic' ? '基础包' : '个性化包'}，{yuan(p.priceFen)} 元/自付 {yuan(p.selfPayFen)} 元）{p.targetTags.map((t) => <span class="tag">{KEY_TAG_ZH[t]}</span>)}<div class="hint">{p.services.map((s) => `${s.name}×${s.timesPerYear}`).join('、')}</div></div>)}
          {props.canEdit && <form method="post" action="/care/packages">
            <Input f={props.pf} name="name" label="名称" /><Select f={props.pf} name="kind" label="类型" options={[['basic', '基础包'], ['personalised', '个性化包']]} inline />
            <Input f={props.pf} name="priceYuan" label="价格（元）" inline style="width:100px" /><Input f={props.pf} name="selfPayYuan" label="个人自付（元）" inline style="width:100px" />
            <TextArea f={props.pf} name="services" label="服务项目（每行：编码,名称,每年次数）" rows={3} />
            <Checks f={props.pf} name="targetTags" label="推荐人群" options={TAG_OPTIONS} />
            <button class="primary" type="submit">保存服务包</button></form>}
        </Section>
      </div>
    </Page>
  );
}

// ---------------- referrals, education, screening, settings ----------------
export function ReferralsPage(props: { ctx: PageCtx; rows: (RecordPayload<'referral'> & { name: string })[]; f: FormState; notice?: string | undefined }) {
  const { ctx } = props;
  return (
    <Page ctx={ctx} title={tr(ctx, '双向转诊记录', 'Two-way referrals')}>
      <Msg errors={props.f.e} notice={props.notice} />
      <p class="hint">在居民档案页登记新的上转/下转；随访发现紧急转诊或连续两次控制不满意时自动生成上转记录，2 周内需回访。</p>
      <table class="compact" data-testid="referrals-table"><thead><tr><th>日期</th><th>居民</th><th>方向</th><th>机构</th><th>原因</th><th>状态</th><th>回访期限</th><th>处理</th></tr></thead>
        <tbody>{props.rows.map((x) => <tr><td>{x.date}</td><td><a href={`/care/r/${x.residentId}`}>{x.name}</a></td><td>{x.direction === 'up' ? '上转' : '下转'}{x.urgent ? <b style="color:var(--bad)">（紧急）</b> : ''}</td><td>{x.fromOrg} → {x.toOrg}</td><td>{x.reason}</td><td>{REF_ZH[x.status]}{x.followedUpDate ? ` ${x.followedUpDate}` : ''}</td><td>{x.followupDueDate ?? ''}</td>
          <td>{(x.status === 'issued' || x.status === 'received') && <form method="post" action={`/care/referrals/${x.referralId}`}><select name="status" style="width:100px">{x.status === 'issued' && <option value="received">已接收</option>}<option value="completed">已回访</option><option value="cancelled">取消</option></select><input name="outcome" placeholder="回访结果" style="width:140px" /><button class="btn" type="submit">更新</button></form>}</td></tr>)}</tbody></table>
    </Page>
  );
}

export function EducationPage(props: { ctx: PageCtx; rows: RecordPayload<'health_education'>[]; f: FormState; notice?: string | undefined }) {
  const { ctx, f } = props;
  return (
    <Page ctx={ctx} title={tr(ctx, '健康教育活动', 'Health education')}>
      <Msg errors={f.e} notice={props.notice} />
      <Section title="登记活动">
        <form method="post" action="/care/education" enctype="multipart/form-data" data-testid="edu-form">
          <Input f={f} name="date" label="日期" type="date" inline /><Select f={f} name="kind" label="形式" options={Object.entries(EDU_ZH)} inline />
          <Input f={f} name="topic" label="主题" /><Input f={f} name="location" label="地点" inline /><Input f={f} name="organiser" label="组织者" inline />
          <Input f={f} name="attendeeCount" label="参加人数" inline style="width:90px" /><Input f={f} name="copies" label="发放份数" inline style="width:90px" />
          <TextArea f={f} name="summary" label="活动小结" rows={2} />
          <div class={`fld${f.e.files ? ' has-error' : ''}`}><label for="files">活动材料（照片、签到表、课件）</label><input id="files" type="file" name="files" multiple /><Err f={f} name="files" /></div>
          <button class="primary" type="submit">保存</button>
        </form>
      </Section>
      <table class="compact" data-testid="edu-table"><thead><tr><th>日期</th><th>形式</th><th>主题</th><th>人数</th><th>材料</th></tr></thead>
        <tbody>{props.rows.map((x) => <tr><td>{x.date}</td><td>{EDU_ZH[x.kind]}</td><td>{x.topic}</td><td>{x.attendeeCount}</td><td>{x.materials.map((m) => <div><a href={`/care/materials/${m.sha256}`}>{m.name}</a> ({Math.ceil(m.bytes / 1024)} KB)</div>)}</td></tr>)}</tbody></table>
    </Page>
  );
}

export function ScreeningPage(props: { ctx: PageCtx; rows: ScreeningRow[]; f: FormState; teams: Team[]; query: string; ran: boolean }) {
  const { ctx, f } = props;
  return (
    <Page ctx={ctx} title={tr(ctx, '人群筛查', 'Population screening')}>
      <p>常用查询：<a class="btn" href="/care/screening?tags=hypertension&ageMin=65&noFollowupThisQuarter=1" data-testid="preset-htn65">65岁及以上高血压患者本季度未随访</a>
        <a class="btn" href="/care/screening?tags=diabetes&noFollowupThisQuarter=1">糖尿病患者本季度未随访</a>
        <a class="btn" href="/care/screening?ageMin=65&contracted=no">65岁及以上未签约</a>
        <a class="btn" href="/care/screening?hasRecord=no">未建档居民</a></p>
      <form method="get" action="/care/screening">
        <Checks f={f} name="tags" label="人群标签（全部满足）" options={TAG_OPTIONS} />
        <Input f={f} name="ageMin" label="年龄≥" inline style="width:70px" /><Input f={f} name="ageMax" label="年龄≤" inline style="width:70px" />
        <Select f={f} name="sex" label="性别" options={[['1', '男'], ['2', '女']]} inline />
        <Select f={f} name="contracted" label="签约" options={[['yes', '已签约'], ['no', '未签约']]} inline />
        <Select f={f} name="teamId" label="团队" options={props.teams.map((t) => [t.teamId, t.name] as const)} inline />
        <Select f={f} name="hasRecord" label="建档" options={[['yes', '已建档'], ['no', '未建档']]} inline />
        <label class="chk"><input type="checkbox" name="noFollowupThisQuarter" value="1" checked={f.v.noFollowupThisQuarter === '1'} />本季度无随访</label>
        <button class="primary" type="submit">查询</button>
      </form>
      {props.ran && <>
        <p data-testid="screen-count">共 {props.rows.length} 人　<a class="btn" href={`/care/screening.xlsx?${props.query}`} data-testid="export-xlsx">导出 Excel</a></p>
        <table class="compact" data-testid="screen-table"><thead><tr><th>姓名</th><th>性别</th><th>年龄</th><th>电话</th><th>标签</th><th>档案编号</th><th>签约团队</th><th>最近随访</th></tr></thead>
          <tbody>{props.rows.map((r) => <tr><td><a href={`/care/r/${r.residentId}`}>{r.name}</a></td><td>{SEX_ZH[r.sex]}</td><td>{r.age}</td><td>{r.phone}</td><td>{r.tags.map((t) => <span class="tag">{KEY_TAG_ZH[t]}</span>)}</td><td>{r.healthRecordNo}</td><td>{r.team}</td><td>{r.lastFollowup}</td></tr>)}</tbody></table>
      </>}
    </Page>
  );
}

export function SettingsPage(props: { ctx: PageCtx; f: FormState; coef: CoefficientSet | null; notice?: string | undefined }) {
  const { ctx, f } = props;
  return (
    <Page ctx={ctx} title={tr(ctx, '公卫设置', 'Care settings')}>
      <Msg errors={f.e} notice={props.notice} />
      <form method="post" action="/care/settings">
        <Input f={f} name="recordNoPrefix" label="档案编号前12位（县6+街道3+居委会3）" />
        <Select f={f} name="tcmMethod" label="中医体质判定方法" options={[['elderly-raw', '原始分：国家规范体质判定标准表（默认）'], ['transformed', '转化分：中医体质分类与判定（平和质边界不同）']]} blank={false} />
        <Section title="China-PAR 系数表">
          <p class="hint" data-testid="coef-current">当前：{props.coef ? `${props.coef.name}（${props.coef.verified ? '已核对' : '未核对'}；来源 ${props.coef.source}）` : '系数表无法读取'}。默认使用论文（Yang X 等，Circulation 2016;134:1430-1440）补充材料的系数；如需替换，请由两人核对后粘贴 JSON（name, source, verified, lipidUnit, ageMin, ageMax, male/female: coef, s10, meanSum）。</p>
          <TextArea f={f} name="coefficients" label="系数 JSON（留空不修改）" rows={6} />
          <label class="chk"><input type="checkbox" name="useDefault" value="1" />恢复论文默认系数（China-PAR 2016）</label>
        </Section>
        <button class="primary" type="submit">保存</button>
      </form>
    </Page>
  );
}

// ---------------- health-record migrations (迁入/迁出) ----------------
const TRANSFER_IN_ZH: Record<string, string> = { pending: '待处理', accepted: '已接收', refused: '已拒绝' };
const TRANSFER_OUT_ZH: Record<string, string> = { sent: '已发出，待对方处理', accepted: '对方已接收', refused: '对方已拒绝（档案已恢复在档）' };

export function TransfersPage(props: {
  ctx: PageCtx; incoming: IncomingTransfer[]; outgoing: OutgoingTransfer[]; residentName: (id: string) => string;
  f: FormState; failedId?: string | undefined; notice?: string | undefined;
}) {
  const { ctx, f } = props;
  const pending = props.incoming.filter((t) => t.status === 'pending');
  const decided = props.incoming.filter((t) => t.status !== 'pending');
  return (
    <Page ctx={ctx} title={tr(ctx, '健康档案迁入/迁出', 'Health-record transfers')}>
      <Msg notice={props.notice} errors={props.failedId ? { _: f.e._ ?? '' } : {}} />
      <Section title={`${tr(ctx, '待接收的迁入档案', 'Incoming, awaiting a decision')}（${pending.length}）`} testid="incoming">
        {pending.length === 0 && <Empty />}
        {pending.map((t) => {
          const p = t.transfer; const r = p.resident;
          const ff: FormState = props.failedId === t.transferId ? f : { v: {}, e: {} };
          return <div class="card" data-testid={`incoming-${t.transferId}`} style="border:1px solid var(--line,#ddd);padding:10px;margin:8px 0;border-radius:6px">
            <p style="margin:0 0 6px"><b>{r.name}</b>（{(SEX_ZH as Record<string, string>)[r.sex] ?? r.sex}，{r.birthDate}，证件号 {r.idNumber.replace(/^(.{6}).*(.{4})$/, '$1********$2')}）　档案编号 <b>{p.healthRecordNo}</b></p>
            <p class="hint" style="margin:0 0 6px">迁出机构：{p.fromClinicName ?? p.fromClinicId}（{p.fromClinicId}）　迁出日期：{p.date}　原因：{p.reason}　经办：{p.sentBy}</p>
            <p style="margin:0 0 6px">慢病管理：{p.enrolments.filter((e) => e.status === 'active').map((e) => `${DISEASE_ZH[e.disease]}（${e.enrolledDate} 纳入）`).join('、') || '无'}；随访记录 {p.followups.length} 次{p.followups[0] ? `，最近 ${p.followups[0].date}` : ''}</p>
            <form method="post" action={`/care/transfers/${t.transferId}/accept`} style="display:inline"><button class="primary" type="submit" data-testid="accept">{tr(ctx, '接收', 'Accept')}</button></form>
            <form method="post" action={`/care/transfers/${t.transferId}/refuse`} style="display:inline;margin-left:16px">
              <Input f={ff} name="reason" label="拒绝原因" inline placeholder="如：该居民不在本辖区居住" style="width:260px" />
              <button class="btn" type="submit" data-testid="refuse">{tr(ctx, '拒绝', 'Refuse')}</button>
            </form>
          </div>;
        })}
      </Section>
      <Section title={tr(ctx, '已处理的迁入', 'Incoming, decided')} testid="incoming-decided">
        <table class="compact"><thead><tr><th>档案编号</th><th>姓名</th><th>迁出机构</th><th>结果</th><th>处理时间</th><th>处理人</th><th>原因/本机构居民</th></tr></thead>
          <tbody>{decided.map((t) => <tr><td>{t.healthRecordNo}</td><td>{t.transfer.resident.name}</td><td>{t.transfer.fromClinicName ?? t.fromClinicId}</td><td>{TRANSFER_IN_ZH[t.status]}</td><td>{t.decidedAt?.slice(0, 16).replace('T', ' ')}</td><td>{t.decidedBy}</td>
            <td>{t.status === 'accepted' && t.residentId ? <a href={`/care/r/${t.residentId}`}>{t.residentId}</a> : t.reason}</td></tr>)}</tbody></table>{decided.length === 0 && <Empty />}
      </Section>
      <Section title={tr(ctx, '本机构迁出的档案', 'Outgoing')} testid="outgoing">
        <table class="compact"><thead><tr><th>档案编号</th><th>姓名</th><th>迁入机构</th><th>状态</th><th>发出时间</th><th>对方处理时间</th><th>拒绝原因</th></tr></thead>
          <tbody>{props.outgoing.map((t) => <tr><td><a href={`/care/records/${t.healthRecordNo}`}>{t.healthRecordNo}</a></td><td>{props.residentName(t.residentId)}</td><td>{t.toClinicId}</td><td>{TRANSFER_OUT_ZH[t.status]}</td><td>{t.sentAt.slice(0, 16).replace('T', ' ')}</td><td>{t.decidedAt?.slice(0, 16).replace('T', ' ') ?? ''}</td><td>{t.reason ?? ''}</td></tr>)}</tbody></table>{props.outgoing.length === 0 && <Empty />}
      </Section>
    </Page>
  );
}
