/** A resident's readings of one test over time as a server-rendered SVG (ECharts SSR; no script, no CDN). */
import { createRequire } from 'node:module';
import type * as Echarts from 'echarts';

/**
 * ECharts is loaded on the first chart, from its single-file CommonJS build: its ES module
 * entry is ~600 files, which every edge-agent start (and every test process) paid before
 * (about 1.5 CPU-s through the TypeScript loader) although most never draw a trend.
 */
let loaded: typeof Echarts | null = null;
const echartsLib = (): typeof Echarts => (loaded ??= createRequire(import.meta.url)('echarts') as typeof Echarts);

type Range = { low?: number; high?: number };

const stamp = new Intl.DateTimeFormat('sv-SE', { year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', hour12: false });
const local = (iso: string) => { const d = new Date(iso); return Number.isNaN(d.getTime()) ? iso : stamp.format(d); };

/**
 * Line chart of `points` with the normal range shaded and critical limits as dashed lines.
 * Returns an `<svg>` string (empty chart message when there are no points).
 */
export function trendSvg(opts: { title: string; unit: string; points: { at: string; value: number; flag?: string | null }[]; normal?: Range | undefined; critical?: Range | undefined; width?: number; height?: number }): string {
  const chart = echartsLib().init(null, null, { renderer: 'svg', ssr: true, width: opts.width ?? 760, height: opts.height ?? 300 });
  try {
    const n = opts.normal;
    const c = opts.critical;
    const lines = [
      ...(c?.low !== undefined ? [{ yAxis: c.low, name: '危急下限' }] : []),
      ...(c?.high !== undefined ? [{ yAxis: c.high, name: '危急上限' }] : []),
    ];
    chart.setOption({
      animation: false,
      title: { text: `${opts.title}${opts.unit ? `（${opts.unit}）` : ''}`, textStyle: { fontSize: 14, fontFamily: 'Noto Sans CJK SC, sans-serif' } },
      grid: { left: 56, right: 72, top: 44, bottom: 36 },
      xAxis: { type: 'category', data: opts.points.map((p) => local(p.at).slice(2, 16)), axisLabel: { fontSize: 11 } },
      // Keep the reference range in view even when every value lies outside it.
      yAxis: { type: 'value', scale: true, ...axisBounds(opts.points.map((p) => p.value), n) },
      series: [{
        type: 'line',
        data: opts.points.map((p) => ({ value: p.value, itemStyle: { color: p.flag === 'HH' || p.flag === 'LL' ? '#c62828' : p.flag === 'H' || p.flag === 'L' ? '#ef6c00' : '#1565c0' } })),
        label: { show: opts.points.length <= 30, fontSize: 11 },
        symbolSize: 7,
        lineStyle: { color: '#1565c0' },
        ...(n && (n.low !== undefined || n.high !== undefined) ? { markArea: { silent: true, itemStyle: { color: 'rgba(46,125,50,0.10)' }, data: [[{ yAxis: n.low ?? 'min', name: '参考范围' }, { yAxis: n.high ?? 'max' }]] } } : {}),
        ...(lines.length ? { markLine: { silent: true, symbol: 'none', lineStyle: { color: '#c62828', type: 'dashed' }, label: { formatter: '{b} {c}', fontSize: 11 }, data: lines } } : {}),
      }],
      ...(opts.points.length === 0 ? { graphic: { type: 'text', left: 'center', top: 'middle', style: { text: '暂无数据', fontSize: 14, fill: '#888' } } } : {}),
    });
    return chart.renderToSVGString();
  } finally {
    chart.dispose();
  }
}

function axisBounds(values: number[], normal: Range | undefined): { min?: number; max?: number } {
  if (values.length === 0) return {};
  const lo = Math.min(...values, normal?.low ?? Infinity);
  const hi = Math.max(...values, normal?.high ?? -Infinity);
  const pad = (hi - lo) * 0.1 || Math.abs(hi) * 0.1 || 1;
  const step = 10 ** Math.floor(Math.log10(pad));
  const round = (x: number) => Number(x.toPrecision(8));
  return { min: round(Math.floor((lo - pad) / step) * step), max: round(Math.ceil((hi + pad) / step) * step) };
}
