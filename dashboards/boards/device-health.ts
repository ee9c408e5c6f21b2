/**
 * Medical devices at the clinics (monitoring devices, lab analysers, imaging). The
 * device_* names are defined in metric-names.ts `pending`: no process exports them yet.
 */
import { netmon as n, pending as p } from '../metric-names.ts';
import type { DashboardSpec } from '../spec.ts';

const C = 'clinic=~"$clinic"';
const RI = '$__rate_interval';

export const deviceHealth: DashboardSpec = {
  uid: 'device-health',
  title: 'Medical device health',
  description: 'Device drivers and imaging (DICOM) per clinic, and devices cut off by network faults.',
  tags: ['health-network', 'devices'],
  variables: [{ name: 'clinic', label: 'Clinic', query: `label_values(${p.deviceUp}, clinic)`, multi: true }],
  rows: [{
    title: 'Devices',
    panels: [
      { id: 1, title: 'Devices cut off by the network', kind: 'table', queries: [{ expr: `${n.impactDevice}{${C}}`, instant: true }], w: 24 },
      { id: 2, title: 'Devices connected', kind: 'table', pending: true, queries: [{ expr: `${p.deviceUp}{${C}}`, instant: true }] },
      { id: 3, title: 'Readings per minute', kind: 'timeseries', pending: true, queries: [{ expr: `sum by (clinic, kind) (rate(${p.deviceReadings}{${C}}[${RI}])) * 60`, legend: '{{clinic}} {{kind}}' }] },
      { id: 4, title: 'Read errors', kind: 'timeseries', pending: true, queries: [{ expr: `sum by (clinic, device, reason) (rate(${p.deviceErrors}{${C}}[${RI}]))`, legend: '{{clinic}} {{device}} {{reason}}' }] },
      { id: 5, title: 'Time since last reading', kind: 'timeseries', unit: 's', pending: true, queries: [{ expr: `time() - ${p.deviceLastReading}{${C}}`, legend: '{{clinic}} {{device}}' }] },
    ],
  }, {
    title: 'Imaging (DICOM)',
    panels: [
      { id: 10, title: 'Instances stored per minute', kind: 'timeseries', pending: true, queries: [{ expr: `sum by (clinic, modality) (rate(${p.dicomStored}{${C}}[${RI}])) * 60`, legend: '{{clinic}} {{modality}}' }] },
      { id: 11, title: 'Associations by result', kind: 'timeseries', pending: true, queries: [{ expr: `sum by (clinic, result) (rate(${p.dicomAssociations}{${C}}[${RI}]))`, legend: '{{clinic}} {{result}}' }] },
    ],
  }],
};
