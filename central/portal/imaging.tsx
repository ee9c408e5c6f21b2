/**
 * Imaging workload (影像工作量, [imaging]: "workload statistics per device, per clinic, per day;
 * positive rate when reports exist, available to the portal"; tender 1.3.3): what the regional
 * image archive received from the clinics in a period, by clinic and by device, with the
 * positive rate over the studies a radiologist has reported (final or amended). Aggregates
 * only: no patient appears.
 */
import type { ReportActivity, WorkloadRow } from '../imaging/index-store.ts';
import { isDay } from '../imaging/index.ts';
import type { TableSpec } from './excel.ts';
import type { Ctx } from './layout.tsx';

/** Longest period one page reads (the workload query groups every instance of the period). */
export const MAX_WORKLOAD_DAYS = 366;

export const MODALITY_NAMES: Record<string, [string, string]> = {
  US: ['超声（US）', 'Ultrasound (US)'], DX: ['数字X线摄影（DR/DX）', 'Digital radiography (DX)'], CR: ['计算机X线摄影（CR）', 'Computed radiography (CR)'],
  MG: ['乳腺X线（MG）', 'Mammography (MG)'], CT: ['CT', 'CT'], MR: ['磁共振（MR）', 'MR'], ECG: ['心电（ECG）', 'ECG'], OT: ['其他（OT）', 'Other (OT)'], '': ['未注明', 'Not stated'],
};
export const modalityName = (ctx: Ctx, m: string) => (MODALITY_NAMES[m] ? ctx.t(...MODALITY_NAMES[m]!) : m);

interface Sum { studies: number; instances: number; bytes: number; reported: number; positive: number }
const add = (s: Sum, r: WorkloadRow) => { s.studies += r.studies; s.instances += r.instances; s.bytes += r.bytes; s.reported += r.reported; s.positive += r.positive; };
const zero = (): Sum => ({ studies: 0, instances: 0, bytes: 0, reported: 0, positive: 0 });
/** The shown columns of a sum: MB, and the rate only over reported studies (never guessed). */
const cols = (s: Sum) => ({ studies: s.studies, instances: s.instances, mb: Math.round(s.bytes / 1_048_576 * 100) / 100, reported: s.reported, positive: s.positive, positiveRate: s.reported > 0 ? s.positive / s.reported : null });

export interface WorkloadView {
  total: ReturnType<typeof cols>;
  byClinic: TableSpec;
  byDevice: TableSpec;
  /** echarts option: studies per day, stacked by modality. */
  chart: unknown;
  days: string[];
}

export function workloadView(ctx: Ctx, rows: WorkloadRow[], from: string, to: string, institution: (clinicId: string) => string): WorkloadView {
  const total = zero();
  const clinics = new Map<string, Sum>();
  const devices = new Map<string, Sum & { clinicId: string; stationAe: string; modality: string }>();
  const perDay = new Map<string, Map<string, number>>();
  for (const r of rows) {
    add(total, r);
    let c = clinics.get(r.clinicId);
    if (!c) clinics.set(r.clinicId, (c = zero()));
    add(c, r);
    const k = `${r.clinicId}\u0000${r.stationAe}\u0000${r.modality}`;
    let d = devices.get(k);
    if (!d) devices.set(k, (d = { ...zero(), clinicId: r.clinicId, stationAe: r.stationAe, modality: r.modality }));
    add(d, r);
    let m = perDay.get(r.modality);
    if (!m) perDay.set(r.modality, (m = new Map()));
    m.set(r.day, (m.get(r.day) ?? 0) + r.studies);
  }
  const numeric = [
    { key: 'studies', label: ctx.t('检查数', 'Studies'), kind: 'number' as const }, { key: 'instances', label: ctx.t('图像数', 'Images'), kind: 'number' as const },
    { key: 'mb', label: ctx.t('数据量（MB）', 'Volume (MB)'), kind: 'number' as const }, { key: 'reported', label: ctx.t('已出正式报告', 'Reported'), kind: 'number' as const },
    { key: 'positive', label: ctx.t('阳性', 'Positive'), kind: 'number' as const }, { key: 'positiveRate', label: ctx.t('阳性率', 'Positive rate'), kind: 'percent' as const },
  ];
  const byClinic: TableSpec = {
    id: 'imaging-clinics', title: ctx.t(`按机构（${from} 至 ${to}）`, `By clinic (${from} to ${to})`),
    columns: [{ key: 'clinicId', label: ctx.t('节点', 'Clinic') }, { key: 'institution', label: ctx.t('机构', 'Institution') }, ...numeric],
    rows: [...clinics].sort(([a], [b]) => a.localeCompare(b)).map(([clinicId, s]) => ({ clinicId, institution: institution(clinicId), ...cols(s) })),
  };
  const byDevice: TableSpec = {
    id: 'imaging-devices', title: ctx.t('按设备', 'By device'),
    columns: [{ key: 'clinicId', label: ctx.t('节点', 'Clinic') }, { key: 'device', label: ctx.t('设备（AE）', 'Device (AE)') }, { key: 'modality', label: ctx.t('类型', 'Modality') }, ...numeric],
    rows: [...devices.values()].sort((a, b) => a.clinicId.localeCompare(b.clinicId) || a.stationAe.localeCompare(b.stationAe) || a.modality.localeCompare(b.modality))
      .map((d) => ({ clinicId: d.clinicId, device: d.stationAe || ctx.t('（未注明）', '(not stated)'), modality: modalityName(ctx, d.modality), ...cols(d) })),
  };
  const days = daysBetween(from, to);
  const chart = {
    tooltip: { trigger: 'axis' }, legend: { top: 0 }, grid: { left: 45, right: 20, bottom: 40, top: 30 },
    xAxis: { type: 'category', data: days.map((d) => d.slice(5)) }, yAxis: { type: 'value', minInterval: 1, name: ctx.t('检查数', 'Studies') },
    series: [...perDay].sort(([a], [b]) => a.localeCompare(b)).map(([m, byDay]) => ({ type: 'bar', stack: 'studies', name: modalityName(ctx, m), data: days.map((d) => byDay.get(d) ?? 0) })),
  };
  return { total: cols(total), byClinic, byDevice, chart, days };
}

/** Every yyyy-MM-dd from `from` to `to`, both included. */
export function daysBetween(from: string, to: string): string[] {
  const out: string[] = [];
  for (let t = Date.parse(`${from}T00:00:00Z`); t <= Date.parse(`${to}T00:00:00Z`) && out.length <= MAX_WORKLOAD_DAYS; t += 86_400_000) out.push(new Date(t).toISOString().slice(0, 10));
  return out;
}

/** The period asked for, checked: defaults to this month so far (China time); errors say which field and why. */
export function workloadPeriod(q: { from?: string; to?: string }, now = Date.now()): { from: string; to: string } | { error: [string, string] } {
  const today = new Date(now + 8 * 3_600_000).toISOString().slice(0, 10);
  const from = q.from || `${today.slice(0, 8)}01`;
  const to = q.to || today;
  const valid = isDay;
  if (!valid(from)) return { error: [`开始日期“${from}”不是有效日期（yyyy-MM-dd）`, `Start date "${from}" is not a valid date (yyyy-MM-dd)`] };
  if (!valid(to)) return { error: [`结束日期“${to}”不是有效日期（yyyy-MM-dd）`, `End date "${to}" is not a valid date (yyyy-MM-dd)`] };
  if (from > to) return { error: ['开始日期晚于结束日期', 'The start date is after the end date'] };
  if ((Date.parse(to) - Date.parse(from)) / 86_400_000 + 1 > MAX_WORKLOAD_DAYS) return { error: [`一次最多查询 ${MAX_WORKLOAD_DAYS} 天`, `At most ${MAX_WORKLOAD_DAYS} days at a time`] };
  return { from, to };
}

/** The value at quantile q of sorted numbers (nearest rank); null for none. */
function quantile(sorted: number[], q: number): number | null {
  if (!sorted.length) return null;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

/**
 * 医师工作量 (tender 1.3.3 §5: physician workload): per radiologist, the report versions issued in
 * the period, the studies they reported finally (a study's first final version), amendments and
 * preliminary reports, the positive rate of their final reports, and the report turnaround (from the
 * study's first image at the archive to its first final report: median and 90th percentile, hours).
 */
export function readerTable(ctx: Ctx, rows: ReportActivity[]): TableSpec & { finals: number; turnaroundMedianH: number | null } {
  const by = new Map<string, { versions: number; finals: number; amended: number; preliminary: number; positive: number; hours: number[] }>();
  const all: number[] = [];
  for (const r of rows) {
    let x = by.get(r.radiologist);
    if (!x) by.set(r.radiologist, (x = { versions: 0, finals: 0, amended: 0, preliminary: 0, positive: 0, hours: [] }));
    x.versions++;
    if (r.status === 'preliminary') x.preliminary++;
    else if (r.version === r.firstFinalVersion) {
      x.finals++;
      if (r.positive) x.positive++;
      const h = (Date.parse(r.reportedAt) - Date.parse(r.firstReceivedAt)) / 3_600_000;
      if (Number.isFinite(h) && h >= 0) { x.hours.push(h); all.push(h); }
    } else x.amended++;
  }
  const h1 = (v: number | null) => (v === null ? null : Math.round(v * 10) / 10);
  const sortedAll = all.sort((a, b) => a - b);
  return {
    id: 'imaging-readers', title: ctx.t('医师工作量（诊断报告）', 'Radiologists\' workload (reports)'),
    columns: [
      { key: 'radiologist', label: ctx.t('报告医师', 'Radiologist') }, { key: 'versions', label: ctx.t('签发报告（份）', 'Reports issued'), kind: 'number' },
      { key: 'finals', label: ctx.t('出具正式报告（检查）', 'Studies reported'), kind: 'number' }, { key: 'amended', label: ctx.t('修订', 'Amended'), kind: 'number' },
      { key: 'preliminary', label: ctx.t('初步报告', 'Preliminary'), kind: 'number' }, { key: 'positiveRate', label: ctx.t('阳性率', 'Positive rate'), kind: 'percent' },
      { key: 'median', label: ctx.t('报告用时中位数（小时）', 'Turnaround, median (h)'), kind: 'number' }, { key: 'p90', label: ctx.t('报告用时 90% 以内（小时）', 'Turnaround, 90th percentile (h)'), kind: 'number' },
    ],
    rows: [...by].sort(([a, x], [b, y]) => y.versions - x.versions || a.localeCompare(b)).map(([radiologist, x]) => {
      const sorted = x.hours.sort((a, b) => a - b);
      return { radiologist, versions: x.versions, finals: x.finals, amended: x.amended, preliminary: x.preliminary, positiveRate: x.finals ? x.positive / x.finals : null,
        median: h1(quantile(sorted, 0.5)), p90: h1(quantile(sorted, 0.9)) };
    }),
    finals: sortedAll.length,
    turnaroundMedianH: h1(quantile(sortedAll, 0.5)),
  };
}
