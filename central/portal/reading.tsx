/**
 * Remote reading (远程阅片, tender 1.5.2 §2: the district hospital views clinic images and reports
 * remotely): the study list of the regional archive, a study's images as rendered previews, its
 * report history and, for radiologists, the report form. Routes in app.tsx; data from central's
 * image index (central/imaging), previews through its preview thread.
 */
import type { Report } from '../imaging/reports.ts';
import type { IndexedInstance, StudySummary } from '../imaging/index-store.ts';
import { transferSyntaxName } from '../../contracts/dicom/render.ts';
import { localTime, type Ctx } from './layout.tsx';
import type { TableSpec } from './excel.ts';

const MODALITY: Record<string, [string, string]> = {
  US: ['超声', 'Ultrasound'], DX: ['DR', 'DR'], CR: ['CR', 'CR'], CT: ['CT', 'CT'], MR: ['磁共振', 'MR'], SC: ['二次采集', 'Secondary capture'], OT: ['其他', 'Other'],
};
export const modalityName = (ctx: Ctx, m: string) => (MODALITY[m] ? ctx.t(...MODALITY[m]!) : m);

const STATUS: Record<string, [string, string]> = { preliminary: ['初步报告', 'Preliminary'], final: ['正式报告', 'Final'], amended: ['修订报告', 'Amended'] };
export const reportStatusName = (ctx: Ctx, r: Report | undefined) =>
  !r ? ctx.t('待报告', 'Not reported') : `${ctx.t(...STATUS[r.status]!)}${r.status !== 'preliminary' ? (r.positive ? ctx.t('（阳性）', ' (positive)') : ctx.t('（阴性）', ' (negative)')) : ''}`;

/** A DICOM person name as people write it: 刘^淑英 -> 刘淑英, ZHANG^SAN -> ZHANG SAN (the alphabetic group only). */
export function personName(pn: string | null): string {
  if (!pn) return '';
  const first = pn.split('=')[0]!.replace(/\^+$/, '');
  return /[\u3400-\u9fff]/.test(first) ? first.replaceAll('^', '') : first.replaceAll('^', ' ').trim();
}

/** yyyyMMdd -> yyyy-MM-dd. */
const day = (d: string | null) => (d && /^\d{8}$/.test(d) ? `${d.slice(0, 4)}-${d.slice(4, 6)}-${d.slice(6)}` : d ?? '');

export interface StudyRow { study: StudySummary; latest: Report | undefined }

export function studyTable(ctx: Ctx, rows: StudyRow[], clinicName: (id: string) => string): TableSpec {
  return {
    id: 'studies', title: ctx.t('检查', 'Studies'),
    columns: [
      { key: 'date', label: ctx.t('检查日期', 'Date') }, { key: 'clinic', label: ctx.t('机构', 'Clinic') }, { key: 'name', label: ctx.t('患者', 'Patient') },
      { key: 'pid', label: ctx.t('患者ID', 'Patient ID') }, { key: 'acc', label: ctx.t('检查号', 'Accession') }, { key: 'mod', label: ctx.t('类型', 'Modality') },
      { key: 'desc', label: ctx.t('检查项目', 'Description') }, { key: 'n', label: ctx.t('图像', 'Images'), kind: 'number' }, { key: 'status', label: ctx.t('报告', 'Report') },
    ],
    rows: rows.map(({ study: s, latest }) => ({
      date: `${day(s.studyDate)} ${s.studyTime ? `${s.studyTime.slice(0, 2)}:${s.studyTime.slice(2, 4)}` : ''}`.trim() || '—', uid: s.studyInstanceUid,
      clinic: clinicName(s.clinicId), name: personName(s.patientName), pid: s.patientId ?? '', acc: s.accessionNumber ?? '',
      mod: s.modalities.map((m) => modalityName(ctx, m)).join('、'), desc: s.studyDescription ?? '', n: s.instances, status: reportStatusName(ctx, latest),
      _bad: !latest,
    })),
    href: (r) => `/portal/imaging/studies/${encodeURIComponent(String(r.uid))}`,
  };
}

/**
 * Report templates (报告模板, tender 1.3.3: report writing from templates): the usual wording of
 * primary-care ultrasound and DR reports, normal and the common findings, for the radiologist to
 * start from and edit (sizes left as __ to fill in). Offered by the study's modality.
 */
export interface ReportTemplate { code: string; modalities: readonly string[]; name: string; findings: string; impression: string; positive: boolean }
export const REPORT_TEMPLATES: readonly ReportTemplate[] = [
  { code: 'us-abd-normal', modalities: ['US'], name: '腹部超声 · 未见异常', positive: false,
    findings: '肝脏大小形态正常，包膜光滑，实质回声均匀，肝内管道结构清晰，门静脉内径正常。胆囊大小正常，壁光滑，腔内未见异常回声。胰腺大小形态正常，回声均匀，主胰管未见扩张。脾脏大小正常，实质回声均匀。',
    impression: '肝、胆、胰、脾未见明显异常。' },
  { code: 'us-gallstone', modalities: ['US'], name: '腹部超声 · 胆囊结石', positive: true,
    findings: '胆囊大小正常，壁毛糙，腔内可见一强回声团，大小约__×__mm，后方伴声影，随体位改变移动。肝脏、胰腺、脾脏未见明显异常。',
    impression: '胆囊结石。' },
  { code: 'us-fatty-liver', modalities: ['US'], name: '腹部超声 · 脂肪肝', positive: true,
    findings: '肝脏体积稍大，包膜光滑，实质回声细密增强，后方回声衰减，肝内管道结构显示欠清。胆囊、胰腺、脾脏未见明显异常。',
    impression: '脂肪肝（轻-中度），请结合临床。' },
  { code: 'us-thyroid-normal', modalities: ['US'], name: '甲状腺超声 · 未见异常', positive: false,
    findings: '甲状腺左右叶及峡部大小形态正常，包膜光滑，实质回声均匀，未见明显结节。CDFI：腺体内血流信号未见异常。双侧颈部未见明显肿大淋巴结。',
    impression: '甲状腺未见明显异常。' },
  { code: 'us-carotid-plaque', modalities: ['US'], name: '颈动脉超声 · 斑块', positive: true,
    findings: '双侧颈总动脉内中膜增厚，左侧颈总动脉分叉处可见一低回声斑块，大小约__×__mm，管腔未见明显狭窄，血流通畅。',
    impression: '双侧颈动脉内中膜增厚；左侧颈动脉斑块形成。' },
  { code: 'dx-chest-normal', modalities: ['DX', 'CR'], name: '胸部正位片 · 未见异常', positive: false,
    findings: '胸廓对称，气管居中。双肺纹理清晰，走行自然，肺野内未见明显实质性病变。双肺门不大。心影大小形态正常。双侧膈面光整，肋膈角锐利。',
    impression: '心、肺、膈未见明显异常。' },
  { code: 'dx-chest-bronchitis', modalities: ['DX', 'CR'], name: '胸部正位片 · 肺纹理增粗', positive: true,
    findings: '双肺纹理增多、增粗、紊乱，以双下肺为著，未见明显实变影。心影不大。双侧膈面光整，肋膈角锐利。',
    impression: '双肺纹理增粗，考虑支气管炎改变，请结合临床。' },
  { code: 'dx-lumbar-degeneration', modalities: ['DX', 'CR'], name: '腰椎正侧位片 · 退行性变', positive: true,
    findings: '腰椎生理曲度变直，各椎体边缘可见骨质增生，椎间隙未见明显狭窄，附件结构未见异常。',
    impression: '腰椎退行性变。' },
];
export const reportTemplate = (code: string): ReportTemplate | undefined => REPORT_TEMPLATES.find((x) => x.code === code);

export interface StudyViewProps {
  ctx: Ctx;
  study: StudySummary;
  clinicName: string;
  instances: IndexedInstance[];
  reports: Report[];
  canReport: boolean;
  previews: boolean;
  error?: string | null;
  notice?: string | null;
  /** The form's values after a refused submission, or from a template. */
  draft?: { status?: string; findings?: string; impression?: string; positive?: boolean };
  /** The template the form starts from. */
  template?: string;
  /** The same patient's other studies at this clinic, newest first, with their current report. */
  priors?: StudyRow[];
}

/** A study: who and where, its images as previews (click for 1,024 px), reports newest first, the report form. */
export function StudyView(p: StudyViewProps) {
  const { ctx, study: s } = p;
  const latest = p.reports[p.reports.length - 1];
  const nextStatus = p.draft?.status ?? (!latest ? 'final' : latest.status === 'preliminary' ? 'final' : 'amended');
  const templates = REPORT_TEMPLATES.filter((x) => x.modalities.some((m) => s.modalities.includes(m)));
  return (
    <>
      <div class="card" data-testid="study-head">
        <h2>{personName(s.patientName) || ctx.t('（无姓名）', '(no name)')} · {s.modalities.map((m) => modalityName(ctx, m)).join('、')} · {day(s.studyDate)}</h2>
        <p>{ctx.t('机构', 'Clinic')}: {p.clinicName} · {ctx.t('患者ID', 'Patient ID')}: {s.patientId ?? '—'} · {ctx.t('检查号', 'Accession')}: {s.accessionNumber ?? '—'} · {ctx.t('性别/出生', 'Sex / born')}: {s.patientSex ?? '—'} / {day(s.patientBirthDate) || '—'}</p>
        <p class="hint">{s.studyDescription ? `${s.studyDescription} · ` : ''}Study Instance UID {s.studyInstanceUid} · {ctx.t(`${s.series} 个序列，${s.instances} 张图像`, `${s.series} series, ${s.instances} images`)} · {ctx.t('报告状态', 'Report')}: <b data-testid="report-status">{reportStatusName(ctx, latest)}</b></p>
        <p class="hint noprint">{ctx.t('需要诊断级阅片时，用 DICOM 看图软件从区影像中心的 DICOMweb 接口调阅原图：', 'For diagnostic reading, open the originals in a DICOM viewer from the archive\'s DICOMweb service: ')}<code>/api/imaging/dicomweb/studies/{s.studyInstanceUid}</code></p>
      </div>
      <Priors ctx={ctx} rows={p.priors ?? []} />
      {p.error && <div class="error" data-testid="report-error">{p.error}</div>}
      {p.notice && <div class="card" data-testid="report-notice"><p>{p.notice}</p></div>}
      <div class="card">
        <h2>{ctx.t(`图像（${p.instances.length}）`, `Images (${p.instances.length})`)}</h2>
        {!p.previews && <p class="hint">{ctx.t('本中心未启用图像预览。', 'Previews are not available on this central.')}</p>}
        <div class="thumbs" data-testid="thumbnails">
          {p.instances.map((i) => (
            <figure>
              <a href={`/portal/imaging/instances/${encodeURIComponent(i.sopInstanceUid)}/preview.png?size=1024`} target="_blank" rel="noopener">
                <img src={`/portal/imaging/instances/${encodeURIComponent(i.sopInstanceUid)}/preview.png?size=256`} alt={`#${i.instanceNumber ?? ''}`} loading="lazy" />
              </a>
              <figcaption class="hint">#{i.instanceNumber ?? '?'} · {i.modality ?? ''}{i.numberOfFrames && i.numberOfFrames > 1 ? ctx.t(` · ${i.numberOfFrames}帧`, ` · ${i.numberOfFrames} frames`) : ''} · {transferSyntaxName(i.transferSyntaxUid) === 'uncompressed' ? ctx.t('未压缩', 'uncompressed') : transferSyntaxName(i.transferSyntaxUid)}<br />{i.rows && i.columns ? `${i.columns}×${i.rows}` : ''} · {localTime(i.receivedAt)}</figcaption>
            </figure>
          ))}
        </div>
      </div>
      <div class="card" data-testid="reports">
        <h2>{ctx.t('诊断报告', 'Reports')}</h2>
        {p.reports.length === 0 ? <p class="hint">{ctx.t('尚无报告。', 'No report yet.')}</p> : [...p.reports].reverse().map((r) => (
          <div class="report" data-testid={`report-v${r.version}`}>
            <p><b>{ctx.t(`第 ${r.version} 版`, `Version ${r.version}`)} · {reportStatusName(ctx, r)}</b> · {r.radiologist} · {localTime(r.reportedAt)}</p>
            <p><b>{ctx.t('检查所见', 'Findings')}:</b> {r.findings}</p>
            <p><b>{ctx.t('诊断意见', 'Impression')}:</b> {r.impression}</p>
          </div>
        ))}
      </div>
      {p.canReport && templates.length > 0 && (
        <form class="card noprint" method="get" action={`/portal/imaging/studies/${encodeURIComponent(s.studyInstanceUid)}`} data-testid="template-form">
          <label>{ctx.t('报告模板', 'Report template')} <select name="template" data-autosubmit>
            <option value="">{ctx.t('（不用模板）', '(none)')}</option>
            {templates.map((x) => <option value={x.code} selected={x.code === p.template}>{x.name}</option>)}
          </select></label> <button type="submit">{ctx.t('套用', 'Apply')}</button>
          <p class="hint">{ctx.t('套用模板会用模板文字替换下面尚未签发的内容；签发前请按所见修改（__ 处填写测量值）。', 'A template replaces the unsigned text below; edit it to what you see before issuing (fill in the __ measurements).')}</p>
        </form>
      )}
      {p.canReport && (
        <form class="card noprint" method="post" action={`/portal/imaging/studies/${encodeURIComponent(s.studyInstanceUid)}/reports`} data-testid="report-form">
          <h2>{latest ? ctx.t('修订或补充报告', 'Amend or complete the report') : ctx.t('书写报告', 'Write the report')}</h2>
          <input type="hidden" name="_csrf" value={ctx.csrf} />
          <input type="hidden" name="after" value={String(latest?.version ?? 0)} />
          <label>{ctx.t('报告类型', 'Status')} <select name="status">
            {(['preliminary', 'final', 'amended'] as const).map((st) => <option value={st} selected={st === nextStatus}>{ctx.t(...STATUS[st]!)}</option>)}
          </select></label>
          <label style="display:block;margin-top:8px">{ctx.t('检查所见', 'Findings')}<br /><textarea name="findings" rows={5} maxlength={4000} required style="width:100%">{p.draft?.findings ?? ''}</textarea></label>
          <label style="display:block;margin-top:8px">{ctx.t('诊断意见', 'Impression')}<br /><textarea name="impression" rows={3} maxlength={2000} required style="width:100%">{p.draft?.impression ?? ''}</textarea></label>
          <label style="display:block;margin-top:8px"><input type="checkbox" name="positive" value="1" checked={p.draft?.positive ?? false} /> {ctx.t('阳性（有异常发现，计入阳性率）', 'Positive (abnormal finding; counts in the positive rate)')}</label>
          <p class="hint">{ctx.t('报告以您的姓名签发并记入审计日志；已签发的版本不能修改，修订会作为新版本保存，原文保留。报告会自动回传到检查所在的机构。', 'The report is signed with your name and audited; a version once issued cannot change: an amendment is a new version and the earlier text is kept. The report goes back to the clinic that sent the study.')}</p>
          <button type="submit" class="primary">{ctx.t('签发报告', 'Issue report')}</button>
        </form>
      )}
    </>
  );
}

/** 历史检查: the patient's earlier studies with their current report, to compare with this one. */
function Priors(props: { ctx: Ctx; rows: StudyRow[] }) {
  const { ctx } = props;
  return (
    <div class="card" data-testid="priors">
      <h2>{ctx.t(`历史检查（同一患者，本机构，${props.rows.length}）`, `Earlier studies (same patient, this clinic, ${props.rows.length})`)}</h2>
      {props.rows.length === 0 ? <p class="hint">{ctx.t('该患者在本机构没有其他检查。', 'No other study of this patient at this clinic.')}</p> : (
        <table>
          <thead><tr><th>{ctx.t('检查日期', 'Date')}</th><th>{ctx.t('类型', 'Modality')}</th><th>{ctx.t('检查项目', 'Description')}</th><th>{ctx.t('图像', 'Images')}</th><th>{ctx.t('报告', 'Report')}</th><th>{ctx.t('诊断意见', 'Impression')}</th></tr></thead>
          <tbody>{props.rows.map(({ study: st, latest }) => (
            <tr data-study={st.studyInstanceUid}>
              <td><a href={`/portal/imaging/studies/${encodeURIComponent(st.studyInstanceUid)}`}>{day(st.studyDate) || '—'}</a></td>
              <td>{st.modalities.map((m) => modalityName(ctx, m)).join('、')}</td><td>{st.studyDescription ?? ''}</td><td>{st.instances}</td>
              <td>{reportStatusName(ctx, latest)}</td><td>{latest ? `${latest.impression}（${latest.radiologist}）` : '—'}</td>
            </tr>
          ))}</tbody>
        </table>
      )}
    </div>
  );
}
