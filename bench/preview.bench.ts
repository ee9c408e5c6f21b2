/**
 * Previews of compressed images ([imaging]: rendered previews for the portal and the clinic's
 * study view): how long `renderPreview` (contracts/dicom) takes to make a 256-pixel tile and a
 * 1,024-pixel view of a DR frame (2,500 x 3,000, 12 bits in 16) in each syntax a DR console sends,
 * and of an ultrasound frame (640 x 480 RGB, JPEG baseline), side by side with dcmtk's `dcm2pnm`
 * and its siblings dcmj2pnm (JPEG, RLE) and dcml2pnm (JPEG-LS) (Debian; the reference tools:
 * decode, scale, write PNG) on the same
 * files. dcm2pnm runs once per conversion, so its figure includes its process start, measured
 * alone on an uncompressed 64 x 64 file and reported beside it. JPEG 2000: dcmtk has no decoder.
 * Also: the same through `PreviewRenderer` (the worker thread the services use).
 *
 *   node --import tsx bench/preview.bench.ts [--runs N]
 * Prints a markdown table; bench/RESULTS.md (Imaging, "Previews") holds a run of it.
 */
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { buildPart10, testUid } from '../device-drivers/dicom/test-support/dataset-builder.ts';
import { parsePart10 } from '../contracts/dicom/dicom-file.ts';
import { renderPreview } from '../contracts/dicom/render.ts';
import { PreviewRenderer } from '../contracts/dicom/preview-pool.ts';
import { median } from './proc-stats.ts';

const RUNS = process.argv.includes('--runs') ? Number(process.argv[process.argv.indexOf('--runs') + 1]) : 5;
const dir = mkdtempSync(join(tmpdir(), 'preview-bench-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));

function log(s: string): void {
  process.stderr.write(`[bench] ${s}\n`);
}

// ------------------------------------------------------------------ inputs
const DX = '1.2.840.10008.5.1.4.1.1.1.1';
const US = '1.2.840.10008.5.1.4.1.1.6.1';
const W = 2500, H = 3000;
log(`making a ${W} x ${H} DR frame (12 bits) and a 640 x 480 ultrasound frame`);
const dr = Buffer.alloc(W * H * 2);
let seed = 7;
for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) {
  seed = (seed * 1103515245 + 12345) >>> 0;
  const body = Math.hypot(x - W / 2, (y - H / 2) * 0.8) < 1100 ? 2600 : 400;
  dr.writeUInt16LE(Math.min(4095, body + ((x * 3 + y) % 700) + (seed >>> 28)), (y * W + x) * 2);
}
const usPx = Buffer.alloc(640 * 480 * 3);
for (let y = 0; y < 480; y++) for (let x = 0; x < 640; x++) {
  const o = (y * 640 + x) * 3;
  const fan = Math.abs(x - 320) < y * 0.7 ? 90 + ((x * 7 + y * 13) % 60) : 0;
  usPx[o] = fan; usPx[o + 1] = fan; usPx[o + 2] = fan + (x > 560 && y < 60 ? 120 : 0);
}
const drNative = join(dir, 'dr.dcm');
writeFileSync(drNative, buildPart10({ sopClassUid: DX, sopInstanceUid: testUid(), studyInstanceUid: testUid(), seriesInstanceUid: testUid(), modality: 'DX', rows: H, columns: W, bitsAllocated: 16, bitsStored: 12, pixels: dr }));
const usNative = join(dir, 'us.dcm');
writeFileSync(usNative, buildPart10({ sopClassUid: US, sopInstanceUid: testUid(), studyInstanceUid: testUid(), seriesInstanceUid: testUid(), modality: 'US', rows: 480, columns: 640, samplesPerPixel: 3, pixels: usPx }));
const tiny = join(dir, 'tiny.dcm');
writeFileSync(tiny, buildPart10({ sopClassUid: DX, sopInstanceUid: testUid(), studyInstanceUid: testUid(), seriesInstanceUid: testUid(), modality: 'DX', rows: 64, columns: 64 }));

/** dcmtk's converter for the file: dcm2pnm (uncompressed), dcmj2pnm (JPEG, RLE), dcml2pnm (JPEG-LS); null: none. */
const files: { name: string; path: string; dcmtk: string | null }[] = [];
const make = (name: string, tool: string, args: string[], src: string, reader: string) => {
  const out = join(dir, `${name.replace(/\W+/g, '-')}.dcm`);
  execFileSync(tool, [...args, src, out]);
  files.push({ name, path: out, dcmtk: reader });
};
files.push({ name: 'DR uncompressed', path: drNative, dcmtk: 'dcm2pnm' });
make('DR JPEG lossless SV1', 'dcmcjpeg', [], drNative, 'dcmj2pnm');
make('DR JPEG-LS lossless', 'dcmcjpls', [], drNative, 'dcml2pnm');
make('DR RLE', 'dcmcrle', [], drNative, 'dcmj2pnm');
{
  type Enc = { getDecodedBuffer(fi: object): Uint8Array; setDecompositions(n: number): void; encode(): void; getEncodedBuffer(): Uint8Array; delete(): void };
  const m = await (createRequire(import.meta.url)('@cornerstonejs/codec-openjpeg/wasmjs') as (o: object) => Promise<{ J2KEncoder: new () => Enc }>)({ print: () => {}, printErr: () => {} });
  const e = new m.J2KEncoder();
  e.getDecodedBuffer({ width: W, height: H, bitsPerSample: 16, componentCount: 1, isSigned: false, isUsingColorTransform: false }).set(dr);
  e.setDecompositions(5);
  e.encode();
  const path = join(dir, 'dr-j2k.dcm');
  writeFileSync(path, buildPart10({ sopClassUid: DX, sopInstanceUid: testUid(), studyInstanceUid: testUid(), seriesInstanceUid: testUid(), modality: 'DX', rows: H, columns: W, bitsAllocated: 16, bitsStored: 12, transferSyntaxUid: '1.2.840.10008.1.2.4.90', pixels: Buffer.from(e.getEncodedBuffer()) }));
  e.delete();
  files.push({ name: 'DR JPEG 2000 lossless (5 levels)', path, dcmtk: null });
}
make('US JPEG baseline (RGB)', 'dcmcjpeg', ['+eb'], usNative, 'dcmj2pnm');

// ------------------------------------------------------------------ measurements
async function timeIt(fn: () => Promise<unknown> | unknown): Promise<number> {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}
const dcm2pnm = (path: string, size: number, tool = 'dcm2pnm') => execFileSync(tool, ['--write-png', '+Sxv', String(size), path, join(dir, 'out.png')], { stdio: 'ignore' });

const startup = median(await Promise.all(Array.from({ length: RUNS }, () => timeIt(() => dcm2pnm(tiny, 64)))).then((x) => x));
log(`dcm2pnm process start + a 64 x 64 file: ${startup.toFixed(0)} ms`);
const pool = new PreviewRenderer();
const rows: string[] = [];
for (const f of files) {
  const size = readFileSync(f.path).length;
  for (const px of [256, 1024]) {
    // Warm the codecs and the thread once per file and size.
    await renderPreview(parsePart10(readFileSync(f.path)), px);
    await pool.render(f.path, px);
    const ours: number[] = [];
    const threaded: number[] = [];
    const ref: number[] = [];
    for (let r = 0; r < RUNS; r++) {
      ours.push(await timeIt(async () => renderPreview(parsePart10(readFileSync(f.path)), px)));
      threaded.push(await timeIt(() => pool.render(f.path, px)));
      if (f.dcmtk) ref.push(await timeIt(() => dcm2pnm(f.path, px, f.dcmtk!)));
    }
    const o = median(ours), th = median(threaded), d = f.dcmtk ? median(ref) : null;
    log(`${f.name} -> ${px}: renderPreview ${o.toFixed(0)} ms, through the thread ${th.toFixed(0)} ms, ${f.dcmtk ?? 'dcmtk'} ${d === null ? 'n/a' : `${d.toFixed(0)} ms`}`);
    rows.push(`| ${f.name} | ${(size / 1e6).toFixed(1)} MB | ${px} | ${o.toFixed(0)} ms | ${th.toFixed(0)} ms | ${d === null ? 'no decoder' : `${d.toFixed(0)} ms (${f.dcmtk})`} | ${d === null ? '—' : `${(d / th).toFixed(2)}x${d > startup ? ` (${((d - startup) / th).toFixed(2)}x without its start)` : ''}`} |`);
  }
}
await pool.close();
console.log(`Run ${new Date().toISOString()}, median of ${RUNS}; dcm2pnm's process start with a 64 x 64 file: ${startup.toFixed(0)} ms; load ${loadavg().map((x) => x.toFixed(1)).join(' ')}.\n`);
console.log('| file | size | preview (px) | renderPreview | through PreviewRenderer | dcmtk | dcmtk / PreviewRenderer |');
console.log('|---|---:|---:|---:|---:|---:|---:|');
for (const r of rows) console.log(r);
