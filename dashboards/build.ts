/**
 * CLI: generate Grafana provisioning files, dashboards and Prometheus rules.
 *   node --import tsx dashboards/build.ts --out DIR [--prometheus-url URL] [--dashboards-path PATH] [--folder NAME]
 */
import { parseArgs } from 'node:util';
import { resolve } from 'node:path';
import { writeProvisioning } from './provisioning.ts';

// `npx tap dashboards/` loads every file in the folder: without --out under tap, do nothing.
if (process.env.TAP === '1' && !process.argv.includes('--out')) process.exit(0);

const { values } = parseArgs({
  options: {
    out: { type: 'string' },
    'prometheus-url': { type: 'string' },
    'dashboards-path': { type: 'string' },
    folder: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  },
});
if (values.help || !values.out) {
  console.log('usage: dashboards/build.ts --out DIR [--prometheus-url URL] [--dashboards-path PATH] [--folder NAME]');
  process.exit(values.help ? 0 : 2);
}
const out = resolve(values.out!);
const w = writeProvisioning(out, {
  ...(values['prometheus-url'] ? { prometheusUrl: values['prometheus-url'] } : {}),
  dashboardsPath: values['dashboards-path'] ?? resolve(out, 'grafana/dashboards'),
  ...(values.folder ? { folder: values.folder } : {}),
});
console.log(JSON.stringify({ out, ...w }, null, 2));
