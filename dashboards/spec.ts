/** A small declarative description of dashboards; render.ts turns it into Grafana JSON. */
export interface QuerySpec {
  expr: string;
  legend?: string;
  /** Instant query (tables, stats of current state). */
  instant?: boolean;
}

export interface PanelSpec {
  /** Stable id, unique within its dashboard (Grafana provisioning prefers stable ids). */
  id: number;
  title: string;
  kind: 'timeseries' | 'stat' | 'table';
  queries: QuerySpec[];
  unit?: string;
  description?: string;
  min?: number;
  max?: number;
  /** Red above this value (stat colouring, timeseries threshold line). */
  threshold?: number;
  w?: number;
  h?: number;
  /** True when the panel must return data from a running network monitor (tested). */
  network?: boolean;
  /** Metric names this panel relies on that no process exports yet. */
  pending?: boolean;
}

export interface VariableSpec {
  name: string;
  label: string;
  query: string;
  multi?: boolean;
}

export interface DashboardSpec {
  uid: string;
  title: string;
  description: string;
  tags: string[];
  variables: VariableSpec[];
  rows: { title: string; panels: PanelSpec[] }[];
}

/** Replace Grafana template variables so an expression can be evaluated by Prometheus directly. */
export function expandTemplate(expr: string, vars: Record<string, string> = {}): string {
  return expr
    .replace(/\$__rate_interval|\$__interval|\$__range/g, '5m')
    .replace(/\$\{?(\w+)\}?/g, (_, v: string) => vars[v] ?? '.*');
}
