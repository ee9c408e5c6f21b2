/** Generated US and DX Part 10 files (GB18030 names) and helpers shared by the imaging tests. */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import iconv from 'iconv-lite';
import { buildPart10, testUid } from '../../device-drivers/dicom/test-support/dataset-builder.ts';
import { makeResident, prng } from '../../edge-agent/sim/generate.ts';
import type { EdgeAgent } from '../../edge-agent/agent.ts';
import { runningImaging, type ImagingHandle } from '../../edge-agent/imaging/index.ts';
import type { RecordPayload } from '../../contracts/index.ts';

export { run } from '../../device-drivers/dicom/test-support/harness.ts';
export { testUid };

export const US_SOP = '1.2.840.10008.5.1.4.1.1.6.1';
export const DX_SOP = '1.2.840.10008.5.1.4.1.1.1.1';

/** A gradient with a bright square: easy to recognise in a thumbnail. */
function pattern(rows: number, cols: number, bits: 8 | 16): Buffer {
  const b = Buffer.alloc(rows * cols * (bits / 8));
  for (let y = 0; y < rows; y++) for (let x = 0; x < cols; x++) {
    const inSquare = x > cols / 3 && x < (2 * cols) / 3 && y > rows / 3 && y < (2 * rows) / 3;
    const v = inSquare ? 1 : (x + y) / (rows + cols);
    if (bits === 8) b[y * cols + x] = Math.round(v * 255);
    else b.writeUInt16LE(Math.round(v * 4095), (y * cols + x) * 2);
  }
  return b;
}

export interface GenFile { path: string; sop: string; study: string; series: string; bytes: Buffer }

/** Writes one instance; the name is GB18030-encoded as Chinese devices send it. */
export function writeInstance(dir: string, o: { modality: 'US' | 'DX'; name: string; patientId: string; accession?: string; study?: string; series?: string; charset?: string; studyDate?: string; instanceNumber?: number }): GenFile {
  const sop = testUid();
  const study = o.study ?? testUid();
  const series = o.series ?? testUid();
  const us = o.modality === 'US';
  const bytes = buildPart10({
    sopClassUid: us ? US_SOP : DX_SOP, sopInstanceUid: sop, studyInstanceUid: study, seriesInstanceUid: series, modality: o.modality,
    specificCharacterSet: o.charset ?? 'GB18030', patientName: iconv.encode(o.name, 'gb18030'), patientId: o.patientId, accessionNumber: o.accession ?? '', ...(o.studyDate ? { studyDate: o.studyDate } : {}), ...(o.instanceNumber ? { instanceNumber: o.instanceNumber } : {}),
    rows: us ? 96 : 160, columns: us ? 128 : 128, bitsAllocated: us ? 8 : 16, pixels: pattern(us ? 96 : 160, 128, us ? 8 : 16),
  });
  const path = join(dir, `${sop}.dcm`);
  writeFileSync(path, bytes);
  return { path, sop, study, series, bytes };
}

export function imaging(edge: EdgeAgent): ImagingHandle {
  const h = runningImaging.get(edge.config.clinicId);
  if (!h) throw new Error('imaging module not running');
  return h;
}

/** A resident with a Chinese name, written through the spine like the registration desk would. */
export function addResident(edge: EdgeAgent, seed: number, name: string): RecordPayload<'resident'> {
  const r = { ...makeResident(prng(seed)), name };
  edge.store.write('resident', r.residentId, r);
  return r;
}

/** Sets the imaging module's environment for the next edge started in this process. */
export function imagingEnv(vars: Record<string, string | undefined>): void {
  for (const [k, v] of Object.entries(vars)) {
    if (v === undefined) delete process.env[`EDGE_DICOM_${k}`];
    else process.env[`EDGE_DICOM_${k}`] = v;
  }
}

/** Splits a multipart/related body into its parts' bodies. */
export function multipartParts(body: Buffer, contentType: string): Buffer[] {
  const boundary = /boundary=("?)([^";]+)\1/.exec(contentType)?.[2];
  if (!boundary) throw new Error(`no boundary in ${contentType}`);
  const delim = Buffer.from(`--${boundary}`);
  const parts: Buffer[] = [];
  let pos = body.indexOf(delim);
  while (pos >= 0) {
    const start = pos + delim.length;
    if (body.subarray(start, start + 2).toString() === '--') break;
    const headerEnd = body.indexOf('\r\n\r\n', start);
    const next = body.indexOf(delim, headerEnd);
    parts.push(body.subarray(headerEnd + 4, next - 2));
    pos = next;
  }
  return parts;
}
