/**
 * WADO-RS transcoding (contracts/dicom/transcode.ts) against dcmtk's decompressors on the same files:
 * a stored instance given in Explicit VR Little Endian, median of five, in this process (the route runs
 * it in the preview thread). dcmtk's times include its process start (~10 ms). Prints; does not write
 * RESULTS.md.
 *   node --import tsx bench/transcode.bench.ts
 */
import { writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { buildPart10, testUid } from '../device-drivers/dicom/test-support/dataset-builder.ts';
import { transcodeInstance } from '../contracts/dicom/transcode.ts';
const dir = mkdtempSync(join(tmpdir(), 'tcb-'));
const cases = [
  { name: 'US 800x600 RGB, JPEG baseline', rows: 600, cols: 800, spp: 3, bits: 8, tool: ['dcmcjpeg', '+eb', '+un'], dec: 'dcmdjpeg' },
  { name: 'DX 2500x2048 12-bit, JPEG lossless', rows: 2500, cols: 2048, spp: 1, bits: 16, tool: ['dcmcjpeg', '+un'], dec: 'dcmdjpeg' },
  { name: 'DX 2500x2048 12-bit, JPEG-LS lossless', rows: 2500, cols: 2048, spp: 1, bits: 16, tool: ['dcmcjpls'], dec: 'dcmdjpls' },
  { name: 'DX 2500x2048 12-bit, RLE', rows: 2500, cols: 2048, spp: 1, bits: 16, tool: ['dcmcrle'], dec: 'dcmdrle' },
];
for (const c of cases) {
  const px = Buffer.alloc(c.rows * c.cols * c.spp * (c.bits / 8));
  if (c.bits === 16) for (let i = 0; i < c.rows * c.cols; i++) px.writeUInt16LE(Math.round(2048 + 1500 * Math.sin(i / 5000) + ((i * 7) % 50)), i * 2);
  else for (let i = 0; i < px.length; i++) px[i] = (Math.round(128 + 100 * Math.sin(i / 3000)) + (i % 7)) & 0xff;
  const src = join(dir, 'src.dcm'), st = join(dir, 'st.dcm');
  writeFileSync(src, buildPart10({ sopClassUid: '1.2.840.10008.5.1.4.1.1.1.1', sopInstanceUid: testUid(), studyInstanceUid: testUid(), seriesInstanceUid: testUid(), modality: 'DX', rows: c.rows, columns: c.cols, samplesPerPixel: c.spp, bitsAllocated: c.bits, bitsStored: c.bits === 16 ? 12 : 8, pixels: px }));
  execFileSync(c.tool[0]!, [...c.tool.slice(1), src, st]);
  await transcodeInstance(st); // warm the codec
  const ours: number[] = [], theirs: number[] = [];
  for (let k = 0; k < 5; k++) {
    let t0 = performance.now(); await transcodeInstance(st); ours.push(performance.now() - t0);
    t0 = performance.now(); execFileSync(c.dec, [st, join(dir, 'out.dcm')]); theirs.push(performance.now() - t0);
  }
  const med = (a: number[]) => a.sort((x, y) => x - y)[2]!;
  console.log(`${c.name}: transcode ${med(ours).toFixed(0)} ms, ${c.dec} ${med(theirs).toFixed(0)} ms (process start included), ratio ${(med(theirs) / med(ours)).toFixed(2)}x`);
}
