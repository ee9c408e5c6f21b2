/**
 * Writes everything Grafana and Prometheus need into one output directory:
 *   grafana/provisioning/datasources/health-network.yaml   Prometheus datasource
 *   grafana/provisioning/dashboards/health-network.yaml    file provider for the JSON below
 *   grafana/dashboards/<uid>.json                           one file per dashboard
 *   prometheus/rules/health-network.rules.yml               alerting rules
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { renderDashboard } from './render.ts';
import { rulesYaml } from './rules.ts';
import { dashboards } from './boards/index.ts';

export interface ProvisioningOptions {
  /** Prometheus URL as Grafana sees it. */
  prometheusUrl?: string;
  /** Where Grafana will find the dashboard JSON files (path on the Grafana host). */
  dashboardsPath?: string;
  folder?: string;
}

export interface WrittenFiles {
  datasource: string;
  provider: string;
  dashboards: string[];
  rules: string;
}

export function datasourceYaml(url: string): string {
  return stringify({
    apiVersion: 1,
    datasources: [{ name: 'Prometheus', type: 'prometheus', uid: 'prometheus', access: 'proxy', url, isDefault: true, editable: false, jsonData: { timeInterval: '30s', httpMethod: 'POST' } }],
  });
}

export function dashboardProviderYaml(path: string, folder: string): string {
  return stringify({
    apiVersion: 1,
    providers: [{ name: 'health-network', orgId: 1, folder, type: 'file', disableDeletion: true, allowUiUpdates: false, updateIntervalSeconds: 60, options: { path, foldersFromFilesStructure: false } }],
  });
}

export function writeProvisioning(outDir: string, o: ProvisioningOptions = {}): WrittenFiles {
  const dsDir = join(outDir, 'grafana/provisioning/datasources');
  const provDir = join(outDir, 'grafana/provisioning/dashboards');
  const dashDir = join(outDir, 'grafana/dashboards');
  const rulesDir = join(outDir, 'prometheus/rules');
  for (const d of [dsDir, provDir, dashDir, rulesDir]) mkdirSync(d, { recursive: true });
  const datasource = join(dsDir, 'health-network.yaml');
  writeFileSync(datasource, datasourceYaml(o.prometheusUrl ?? 'http://127.0.0.1:9090'));
  const provider = join(provDir, 'health-network.yaml');
  writeFileSync(provider, dashboardProviderYaml(o.dashboardsPath ?? '/var/lib/grafana/dashboards/health-network', o.folder ?? 'Health network'));
  const files = dashboards.map((spec) => {
    const f = join(dashDir, `${spec.uid}.json`);
    writeFileSync(f, JSON.stringify(renderDashboard(spec), null, 2) + '\n');
    return f;
  });
  const rules = join(rulesDir, 'health-network.rules.yml');
  writeFileSync(rules, rulesYaml());
  return { datasource, provider, dashboards: files, rules };
}
