/**
 * Medical devices at the clinics (monitoring devices, lab analysers, imaging): device
 * driver metrics (names as device-drivers exports them), DICOM panels on pending names.
 */
import { netmon as n, device as dv, pending as p } from '../metric-names.ts';
import type { DashboardSpec } from '../spec.ts';

const C = 'clinic=~"$clinic"';
const RI = '$__rate_interval';

export const deviceHealth: DashboardSpec = {
  uid: 'device-health',
  title: 'Medical device health',
  description: 'Device drivers and imaging (DICOM) per clinic, and devices cut off by network faults.',
  tags: ['health-network', 'devices'],
  variables: [{ name: 'clinic', label: 'Clinic', query: `label_values(${dv.up}, clinic)`, multi: true }],
  rows: [{
    title: 'Devices',
    panels: [
      { id: 1, title: 'Devices cut off by the network', kind: 'table', queries: [{ expr: `${n.impactDevice}{${C}}`, instant: true }], w: 24 },
      { id: 2, title: 'Devices up (1) / down (0)', kind: 'table', queries: [{ expr: `${dv.up}{${C}}`, instant: true }] },
      { id: 3, title: 'Readings per minute', kind: 'timeseries', queries: [{ expr: `sum by (clinic, protocol) (rate(${dv.readings}{${C}}[${RI}])) * 60`, legend: '{{clinic}} {{protocol}}' }] },
      { id: 4, title: 'Errors per minute', kind: 'timeseries', queries: [{ expr: `sum by (clinic, device) (rate(${dv.errors}{${C}}[${RI}])) * 60`, legend: '{{clinic}} {{device}}' }] },
      { id: 5, title: 'Time since last reading', kind: 'timeseries', unit: 's', queries: [{ expr: `time() - ${dv.lastSeen}{${C}}`, legend: '{{clinic}} {{device}}' }] },
      { id: 6, title: 'Poll latency', kind: 'timeseries', unit: 's', queries: [{ expr: `${dv.latency}{${C}}`, legend: '{{clinic}} {{device}}' }] },
      { id: 7, title: 'Protocol events (bad frames, NAKs, timeouts)', kind: 'timeseries', queries: [{ expr: `sum by (clinic, protocol, event) (rate(${dv.driverEvents}{${C}}[${RI}]))`, legend: '{{clinic}} {{protocol}} {{event}}' }] },
    ],
  }, {
    title: 'Imaging (DICOM)',
    panels: [
      { id: 10, title: 'Instances stored per minute', kind: 'timeseries', queries: [{ expr: `sum by (clinic, modality) (rate(${p.dicomStored}{${C}}[${RI}])) * 60`, legend: '{{clinic}} {{modality}}' }] },
      { id: 11, title: 'Associations by result', kind: 'timeseries', queries: [{ expr: `sum by (clinic, result) (rate(${p.dicomAssociations}{${C}}[${RI}]))`, legend: '{{clinic}} {{result}}' }] },
    ],
  }],
};
