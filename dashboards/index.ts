/** The only import surface of `dashboards/`: specs, renderers, rules and the provisioning writer. */
export { dashboards } from './boards/index.ts';
export { renderDashboard } from './render.ts';
export { ruleGroups, rulesYaml, type AlertRule, type RuleGroup } from './rules.ts';
export { writeProvisioning, datasourceYaml, dashboardProviderYaml, type ProvisioningOptions, type WrittenFiles } from './provisioning.ts';
export { expandTemplate, type DashboardSpec, type PanelSpec, type QuerySpec, type VariableSpec } from './spec.ts';
export { netmon as netmonMetricNames, device as deviceMetricNames, pending as pendingMetricNames } from './metric-names.ts';
