/**
 * Medical devices at the clinics (monitoring devices, lab analysers, imaging): device
 * driver metrics (names as device-drivers exports them), DICOM panels on pending names.
 */
import { netmon as n, device as dv, pending as p, edge as e, central as c } from '../metric-names.ts';
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
      { id: 12, title: 'Image disk: free space, eviction line, reserve', kind: 'timeseries', unit: 'bytes', description: 'Below the eviction line, images the central archive holds are removed; below the reserve new images are refused (alerts EdgeImagingDiskLow, EdgeImagingRefusing)', queries: [
        { expr: `${e.imagingDiskFree}{${C}}`, legend: '{{clinic}} free' },
        { expr: `${e.imagingDiskEvictBelow}{${C}}`, legend: '{{clinic}} eviction line' },
        { expr: `${e.imagingDiskReserve}{${C}}`, legend: '{{clinic}} reserve' },
      ] },
      { id: 13, title: 'Images on the clinic disk, by state', kind: 'timeseries', unit: 'bytes', description: 'pending: waiting for upload (the only copy, never removed); uploaded: also at central (removable)', queries: [{ expr: `${e.imagingLocalBytes}{${C}}`, legend: '{{clinic}} {{state}}' }] },
      { id: 14, title: 'Images refused for lack of space (1 h)', kind: 'table', queries: [{ expr: `sum by (clinic) (increase(${e.dicomNoSpace}{${C}}[1h]))`, instant: true }] },
      { id: 15, title: 'Central image archive: free space and kept free', kind: 'timeseries', unit: 'bytes', description: 'Below the kept free space (CENTRAL_IMAGING_MIN_FREE) uploads are refused with 507 (alert CentralArchiveRefusing)', queries: [
        { expr: `${c.archiveDiskFree}`, legend: 'free' },
        { expr: `${c.archiveMinFree}`, legend: 'kept free' },
      ] },
    ],
  }],
};
