/** DashboardSpec -> Grafana dashboard JSON with the foundation SDK. */
import { DashboardBuilder, RowBuilder, QueryVariableBuilder, DatasourceVariableBuilder, ThresholdsConfigBuilder, ThresholdsMode, VariableRefresh, VariableSort } from '@grafana/grafana-foundation-sdk/dashboard';
import type { Dashboard, DataSourceRef } from '@grafana/grafana-foundation-sdk/dashboard';
import { DataqueryBuilder, PromQueryFormat } from '@grafana/grafana-foundation-sdk/prometheus';
import { PanelBuilder as TimeseriesBuilder } from '@grafana/grafana-foundation-sdk/timeseries';
import { PanelBuilder as StatBuilder } from '@grafana/grafana-foundation-sdk/stat';
import { PanelBuilder as TableBuilder } from '@grafana/grafana-foundation-sdk/table';
import type { DashboardSpec, PanelSpec } from './spec.ts';

/** Dashboards reference the datasource through a variable so one JSON works everywhere. */
const DS: DataSourceRef = { type: 'prometheus', uid: '${datasource}' };

function thresholds(limit?: number) {
  const b = new ThresholdsConfigBuilder().mode(ThresholdsMode.Absolute);
  return limit === undefined
    ? b.steps([{ value: null, color: 'green' }])
    : b.steps([{ value: null, color: 'green' }, { value: limit, color: 'red' }]);
}

function panel(p: PanelSpec, gridPos: { x: number; y: number; w: number; h: number }) {
  const builder = p.kind === 'stat' ? new StatBuilder() : p.kind === 'table' ? new TableBuilder() : new TimeseriesBuilder();
  builder.id(p.id).title(p.title).datasource(DS).gridPos(gridPos).thresholds(thresholds(p.threshold));
  const desc = [p.description, p.pending ? 'Pending: the metric is defined by dashboards/ and not yet exported by any process.' : undefined].filter(Boolean).join(' ');
  if (desc) builder.description(desc);
  if (p.unit) builder.unit(p.unit);
  if (p.min !== undefined) builder.min(p.min);
  if (p.max !== undefined) builder.max(p.max);
  p.queries.forEach((q, i) => {
    const t = new DataqueryBuilder().expr(q.expr).refId(String.fromCharCode(65 + i)).datasource(DS);
    if (q.legend) t.legendFormat(q.legend);
    if (q.instant) t.instant().format(p.kind === 'table' ? PromQueryFormat.Table : PromQueryFormat.TimeSeries);
    else t.range();
    builder.withTarget(t);
  });
  return builder;
}

export function renderDashboard(spec: DashboardSpec): Dashboard {
  const d = new DashboardBuilder(spec.title)
    .uid(spec.uid)
    .description(spec.description)
    .tags(spec.tags)
    .refresh('30s')
    .time({ from: 'now-6h', to: 'now' })
    .timezone('browser')
    .editable()
    .withVariable(new DatasourceVariableBuilder('datasource').label('Data source').type('prometheus'));
  for (const v of spec.variables) {
    const qv = new QueryVariableBuilder(v.name).label(v.label).query(v.query).datasource(DS)
      .refresh(VariableRefresh.OnTimeRangeChanged).sort(VariableSort.AlphabeticalAsc).includeAll(true).allValue('.*');
    if (v.multi) qv.multi(true);
    d.withVariable(qv);
  }
  let y = 0;
  for (const row of spec.rows) {
    d.withRow(new RowBuilder(row.title).gridPos({ x: 0, y, w: 24, h: 1 }).id(1000 + y));
    y += 1;
    let x = 0;
    let rowH = 0;
    for (const p of row.panels) {
      const w = p.w ?? 12;
      const h = p.h ?? 8;
      if (x + w > 24) { x = 0; y += rowH; rowH = 0; }
      d.withPanel(panel(p, { x, y, w, h }));
      x += w;
      rowH = Math.max(rowH, h);
    }
    y += rowH;
  }
  return d.build();
}
