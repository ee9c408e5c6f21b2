/**
 * Reading parts of a large stored instance ([imaging]: DICOMweb metadata and frames of a cine for
 * the district hospital's viewer, previews): `contracts/dicom/instance-reader.ts` (the header up
 * to Pixel Data, single frames by position) against the whole-file dcmjs parse the services used
 * before (and still use for files the reader does not handle), and dcmtk's `dcmdump -M` (Debian;
 * reads the header, long values not loaded; one process per read, its start included) for the
 * header. WADO-RS bulk data of Pixel Data: the multipart body sent from the file's spans (1 MiB
 * per pull) against the native value read into one buffer first and the encapsulated one taken
 * from the whole-file parse (what the service did before).
 *
 * Files: an ultrasound cine of 300 frames 640 x 480 RGB uncompressed (~276 MB) and the same in
 * JPEG baseline (dcmcjpeg, with a Basic Offset Table). Each variant runs in a child process of
 * its own so that its peak RSS (VmHWM) is its own.
 *
 *   node --import tsx bench/instance-read.bench.ts [--runs N]
 * Prints a markdown table; bench/RESULTS.md (Imaging, "Reading large instances") holds a run.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { readPart10 } from '../contracts/dicom/dicom-file.ts';
import { frameCount, frameSpans, pixelDataSpans, readFrames, readTrailing, readLayout, readNativePixelData } from '../contracts/dicom/instance-reader.ts';
import { multipartOctets, type OctetPart } from '../central/imaging/dicomweb.ts';
import { open } from 'node:fs/promises';
import { median } from './proc-stats.ts';

const arg = (name: string) => (process.argv.includes(name) ? process.argv[process.argv.indexOf(name) + 1] : undefined);
const RUNS = Number(arg('--runs') ?? 5);
const FRAME = 150;

type Variant = 'header-reader' | 'header-whole' | 'frame-reader' | 'frame-whole' | 'bulk-range' | 'bulk-buffer' | 'frames-range' | 'frames-buffer';

/** One variant, RUNS times, in this (child) process: prints {ms, hwm}. */
async function child(variant: Variant, path: string): Promise<void> {
  const ms: number[] = [];
  let check = 0;
  for (let r = 0; r < RUNS; r++) {
    const t0 = performance.now();
    if (variant === 'header-reader') {
      // What DICOMweb metadata reads: the header, and the elements after Pixel Data (for
      // encapsulated Pixel Data found through its item headers).
      const l = await readLayout(path);
      if (!l) throw new Error(`${path}: the reader declined the file`);
      check += Object.keys(l.header.dict).length + Object.keys(await readTrailing(path, l)).length;
    } else if (variant === 'header-whole') {
      check += Object.keys((await readPart10(path)).dict).length;
    } else if (variant === 'frame-reader') {
      const l = await readLayout(path);
      if (!l) throw new Error(`${path}: the reader declined the file`);
      check += (await readFrames(path, l, [FRAME]))[0]!.length;
    } else if (variant === 'frames-range' || variant === 'frames-buffer') {
      // WADO-RS frames 1..N of the cine in one request, body drained: sent from the file's spans
      // with one handle (now) or every frame read into memory first (before).
      const l = await readLayout(path);
      if (!l) throw new Error(`${path}: the reader declined the file`);
      const all = Array.from({ length: frameCount(l.header) }, (_, k) => k + 1);
      let parts: OctetPart[];
      if (variant === 'frames-range') {
        const fh = await open(path, 'r');
        parts = (await frameSpans(fh, l, all)).map((spans) => ({ fh, spans, length: spans.reduce((n, s) => n + s.length, 0) }));
      } else {
        parts = await readFrames(path, l, all);
      }
      const m = multipartOctets(parts, 'application/octet-stream');
      let got = 0;
      for await (const c of m.body as unknown as AsyncIterable<Uint8Array>) got += c.length;
      if (got !== m.length) throw new Error(`body ${got} bytes, Content-Length ${m.length}`);
      check += got;
    } else if (variant === 'bulk-range' || variant === 'bulk-buffer') {
      // WADO-RS bulk data of Pixel Data, the multipart body drained as a client would take it:
      // sent from the file's spans (now), or before: native read into one buffer, encapsulated
      // from the whole-file parse.
      const l = await readLayout(path);
      if (!l) throw new Error(`${path}: the reader declined the file`);
      let part: OctetPart;
      if (variant === 'bulk-range') {
        const fh = await open(path, 'r');
        const spans = await pixelDataSpans(fh, l);
        part = { fh, spans, length: spans.reduce((n, s) => n + s.length, 0) };
      } else if (l.header.transferSyntaxUid.endsWith('.1.2.1')) {
        part = await readNativePixelData(path, l);
      } else {
        part = Buffer.concat(((await readPart10(path)).dict['7FE00010']?.Value ?? []).map((v) => Buffer.from(v as ArrayBuffer)));
      }
      const m = multipartOctets([part], 'application/octet-stream');
      let got = 0;
      for await (const c of m.body as unknown as AsyncIterable<Uint8Array>) got += c.length;
      if (got !== m.length) throw new Error(`body ${got} bytes, Content-Length ${m.length}`);
      check += got;
    } else {
      // The services' former path: parse everything, then cut frame k out of Pixel Data.
      const f = await readPart10(path);
      const v = f.dict['7FE00010']?.Value ?? [];
      const n = (tag: string) => Number(f.dict[tag]?.Value?.[0] ?? 0);
      if (f.transferSyntaxUid.endsWith('.1.2.1')) {
        const len = n('00280010') * n('00280011') * n('00280002');
        check += Buffer.from(v[0] as ArrayBuffer).subarray((FRAME - 1) * len, FRAME * len).length;
      } else {
        check += (v[FRAME - 1] as ArrayBuffer).byteLength;
      }
    }
    ms.push(performance.now() - t0);
  }
  const hwm = Number(/VmHWM:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? NaN) / 1024;
  process.stdout.write(JSON.stringify({ ms: median(ms), hwm, check }));
}

if (process.argv[2] === '--child') {
  await child(process.argv[3] as Variant, process.argv[4]!);
} else {
  const log = (s: string) => process.stderr.write(`[bench] ${s}\n`);
  const { buildPart10, testUid } = await import('../device-drivers/dicom/test-support/dataset-builder.ts');
  const dir = mkdtempSync(join(tmpdir(), 'instance-read-bench-'));
  process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  const W = 640, H = 480, N = 300;
  log(`making a ${N}-frame ${W} x ${H} RGB ultrasound cine`);
  const px = Buffer.alloc(W * H * 3 * N);
  for (let k = 0; k < N; k++) for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) {
    const o = ((k * H + y) * W + x) * 3;
    const fan = Math.abs(x - 320) < y * 0.7 ? 90 + ((x * 7 + y * 13 + k * 5) % 60) : 0;
    px[o] = fan; px[o + 1] = fan; px[o + 2] = fan;
  }
  const native = join(dir, 'cine.dcm');
  writeFileSync(native, buildPart10({ sopClassUid: '1.2.840.10008.5.1.4.1.1.3.1', sopInstanceUid: testUid(), studyInstanceUid: testUid(), seriesInstanceUid: testUid(), modality: 'US', rows: H, columns: W, samplesPerPixel: 3, frames: N, pixels: px }));
  log('compressing it with dcmcjpeg (JPEG baseline, Basic Offset Table)');
  const jpeg = join(dir, 'cine-jpeg.dcm');
  execFileSync('dcmcjpeg', ['+eb', native, jpeg]);
  const self = fileURLToPath(import.meta.url);
  const run = (v: Variant, path: string) => JSON.parse(execFileSync(process.execPath, ['--import', 'tsx', self, '--child', v, path, '--runs', String(RUNS)], { maxBuffer: 1 << 20 }).toString()) as { ms: number; hwm: number };
  const dcmdump = (path: string) => {
    const ms: number[] = [];
    for (let r = 0; r < RUNS; r++) {
      const t0 = performance.now();
      execFileSync('dcmdump', ['-M', path], { stdio: 'ignore' });
      ms.push(performance.now() - t0);
    }
    return median(ms);
  };
  const rows: string[] = [];
  for (const [name, path] of [['US cine uncompressed', native], ['US cine JPEG baseline', jpeg]] as const) {
    const mb = (statSync(path).size / 1e6).toFixed(0);
    log(`${name} (${mb} MB): header`);
    const hr = run('header-reader', path), hw = run('header-whole', path), dd = dcmdump(path);
    rows.push(`| ${name} | ${mb} MB | header (metadata) | ${hr.ms.toFixed(1)} ms, ${hr.hwm.toFixed(0)} MB | ${hw.ms.toFixed(0)} ms, ${hw.hwm.toFixed(0)} MB | ${(hw.ms / hr.ms).toFixed(0)}x | dcmdump -M ${dd.toFixed(0)} ms (${(dd / hr.ms).toFixed(1)}x) |`);
    log(`${name}: frame ${FRAME}`);
    const fr = run('frame-reader', path), fw = run('frame-whole', path);
    rows.push(`| ${name} | ${mb} MB | frame ${FRAME} | ${fr.ms.toFixed(1)} ms, ${fr.hwm.toFixed(0)} MB | ${fw.ms.toFixed(0)} ms, ${fw.hwm.toFixed(0)} MB | ${(fw.ms / fr.ms).toFixed(0)}x | — |`);
    log(`${name}: all frames in one request`);
    const ar = run('frames-range', path), ab = run('frames-buffer', path);
    rows.push(`| ${name} | ${mb} MB | frames 1-300 in one request (body drained) | ${ar.ms.toFixed(0)} ms, ${ar.hwm.toFixed(0)} MB (from the file) | ${ab.ms.toFixed(0)} ms, ${ab.hwm.toFixed(0)} MB (frames read first) | ${(ab.ms / ar.ms).toFixed(1)}x | — |`);
    log(`${name}: Pixel Data bulk data`);
    const br = run('bulk-range', path), bb = run('bulk-buffer', path);
    rows.push(`| ${name} | ${mb} MB | bulk data 7FE00010 (body drained) | ${br.ms.toFixed(0)} ms, ${br.hwm.toFixed(0)} MB (from the file) | ${bb.ms.toFixed(0)} ms, ${bb.hwm.toFixed(0)} MB (${path === native ? 'read into one buffer' : 'whole-file parse'}) | ${(bb.ms / br.ms).toFixed(1)}x | — |`);
  }
  console.log(`Run ${new Date().toISOString()}, median of ${RUNS} reads per variant, each variant in a process of its own (peak RSS = VmHWM of that process, Node's own ~50 MB included); load ${loadavg().map((x) => x.toFixed(1)).join(' ')}.\n`);
  console.log('| file | size | read | instance-reader (time, peak RSS) | whole-file dcmjs parse | whole / reader | dcmtk |');
  console.log('|---|---:|---|---:|---:|---:|---|');
  for (const r of rows) console.log(r);
}
