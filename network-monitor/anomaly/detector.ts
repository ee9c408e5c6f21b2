/**
 * Per-interface traffic history in fixed buckets, baseline training when enough history
 * exists, scoring of the current bucket, and persistence of models and history.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync, renameSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { BaselineModel, type BaselineMeta } from './model.ts';
import { toLog } from './features.ts';

export interface SeriesKey {
  target: string;
  ifName: string;
  direction: 'in' | 'out';
}

export interface DetectorOptions {
  bucketSeconds: number;
  historyDays: number;
  minHistoryBuckets: number;
  retrainHours: number;
  epochs: number;
  threshold: number;
  stateDir?: string | undefined;
  utcOffsetHours?: number;
}

interface Series {
  key: SeriesKey;
  /** Closed buckets: start time (ms) and mean log rate. */
  history: { t: number; y: number }[];
  open?: { t: number; sum: number; n: number };
  model?: BaselineModel;
  lastScore?: number;
}

const keyOf = (k: SeriesKey) => `${k.target}|${k.ifName}|${k.direction}`;
const fileOf = (k: string) => createHash('sha256').update(k).digest('hex').slice(0, 24);

function atomicWrite(file: string, data: string | Uint8Array): void {
  writeFileSync(file + '.tmp', data);
  renameSync(file + '.tmp', file);
}

export class AnomalyDetector {
  readonly #series = new Map<string, Series>();
  readonly #bucketMs: number;
  readonly #utc: number;

  constructor(readonly opts: DetectorOptions) {
    this.#bucketMs = opts.bucketSeconds * 1000;
    this.#utc = opts.utcOffsetHours ?? 8;
  }

  #get(key: SeriesKey): Series {
    const k = keyOf(key);
    let s = this.#series.get(k);
    if (!s) this.#series.set(k, (s = { key, history: [] }));
    return s;
  }

  get modelCount(): number {
    let n = 0;
    for (const s of this.#series.values()) if (s.model) n++;
    return n;
  }

  seriesKeys(): SeriesKey[] {
    return [...this.#series.values()].map((s) => s.key);
  }

  /** Append closed buckets of history (e.g. imported from Prometheus or generated). */
  addHistory(key: SeriesKey, points: readonly { t: number; bytesPerSecond: number }[]): void {
    const s = this.#get(key);
    for (const p of points) s.history.push({ t: p.t, y: toLog(p.bytesPerSecond) });
    this.#trim(s);
  }

  #trim(s: Series): void {
    const max = Math.ceil((this.opts.historyDays * 86400) / this.opts.bucketSeconds);
    if (s.history.length > max) s.history.splice(0, s.history.length - max);
  }

  /**
   * Record one rate sample; returns the anomaly score of the current bucket's mean, or
   * undefined while the series has no model.
   */
  observe(key: SeriesKey, bytesPerSecond: number, atMs: number): number | undefined {
    if (!Number.isFinite(bytesPerSecond) || bytesPerSecond < 0) return undefined;
    const s = this.#get(key);
    const b = Math.floor(atMs / this.#bucketMs) * this.#bucketMs;
    if (s.open && s.open.t !== b) {
      s.history.push({ t: s.open.t, y: s.open.sum / s.open.n });
      this.#trim(s);
      s.open = undefined;
    }
    s.open ??= { t: b, sum: 0, n: 0 };
    s.open.sum += toLog(bytesPerSecond);
    s.open.n++;
    if (!s.model) return undefined;
    const score = s.model.score([{ t: b + this.#bucketMs / 2, y: s.open.sum / s.open.n }])[0]!;
    s.lastScore = score;
    return score;
  }

  /** Score arbitrary points against a series' model (tests, backfills). */
  score(key: SeriesKey, points: readonly { t: number; bytesPerSecond: number }[]): number[] | undefined {
    const m = this.#series.get(keyOf(key))?.model;
    return m?.score(points.map((p) => ({ t: p.t, y: toLog(p.bytesPerSecond) })));
  }

  isAnomalous(score: number | undefined): boolean {
    return score !== undefined && score > this.opts.threshold;
  }

  async train(key: SeriesKey): Promise<boolean> {
    const s = this.#series.get(keyOf(key));
    if (!s || s.history.length < this.opts.minHistoryBuckets) return false;
    const model = await BaselineModel.train(s.history, { epochs: this.opts.epochs, utcOffsetHours: this.#utc });
    s.model?.dispose();
    s.model = model;
    return true;
  }

  /** Train every series whose model is missing or older than retrainHours. One at a time. */
  async trainDue(nowMs = Date.now()): Promise<number> {
    let n = 0;
    for (const s of this.#series.values()) {
      const stale = !s.model || nowMs - s.model.meta.trainedAt > this.opts.retrainHours * 3600_000;
      if (stale && s.history.length >= this.opts.minHistoryBuckets && (await this.train(s.key))) n++;
    }
    return n;
  }

  meta(key: SeriesKey): BaselineMeta | undefined {
    return this.#series.get(keyOf(key))?.model?.meta;
  }

  /** Persist models (topology + weights) and history under stateDir/anomaly. */
  async save(): Promise<void> {
    if (!this.opts.stateDir) return;
    const dir = join(this.opts.stateDir, 'anomaly');
    mkdirSync(dir, { recursive: true });
    const index: Record<string, { key: SeriesKey; file?: string; t: string; y: string }> = {};
    for (const [k, s] of this.#series) {
      // Binary history (base64 Float64 times, Float32 values): 12 bytes a bucket instead of ~30 in JSON.
      const t = Buffer.from(new Float64Array(s.history.map((p) => p.t)).buffer).toString('base64');
      const y = Buffer.from(new Float32Array(s.history.map((p) => p.y)).buffer).toString('base64');
      const entry: (typeof index)[string] = { key: s.key, t, y };
      if (s.model) {
        const saved = await s.model.save();
        const f = fileOf(k);
        atomicWrite(join(dir, `${f}.bin`), new Uint8Array(saved.weightData));
        atomicWrite(join(dir, `${f}.json`), JSON.stringify({ meta: saved.meta, modelTopology: saved.modelTopology, weightSpecs: saved.weightSpecs }));
        entry.file = f;
      }
      index[k] = entry;
    }
    atomicWrite(join(dir, 'index.json'), JSON.stringify({ version: 2, series: index }));
  }

  /** Reload what save() wrote; returns the number of models loaded. Corrupt files are skipped. */
  async load(onSkip?: (file: string, err: Error) => void): Promise<number> {
    if (!this.opts.stateDir) return 0;
    const dir = join(this.opts.stateDir, 'anomaly');
    if (!existsSync(join(dir, 'index.json'))) return 0;
    let loaded = 0;
    const idx = JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8')) as { version: number; series: Record<string, { key: SeriesKey; file?: string; t: string; y: string }> };
    if (idx.version !== 2) throw new Error(`anomaly state version ${idx.version} not supported`);
    for (const e of Object.values(idx.series)) {
      const s = this.#get(e.key);
      const tb = Buffer.from(e.t, 'base64');
      const yb = Buffer.from(e.y, 'base64');
      const ts = new Float64Array(tb.buffer.slice(tb.byteOffset, tb.byteOffset + tb.byteLength));
      const ys = new Float32Array(yb.buffer.slice(yb.byteOffset, yb.byteOffset + yb.byteLength));
      s.history = Array.from(ts, (t, i) => ({ t, y: ys[i] ?? 0 }));
      if (!e.file) continue;
      try {
        const j = JSON.parse(readFileSync(join(dir, `${e.file}.json`), 'utf8')) as { meta: BaselineMeta; modelTopology: unknown; weightSpecs: unknown };
        const b = readFileSync(join(dir, `${e.file}.bin`));
        const weightData = b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;
        s.model?.dispose();
        s.model = await BaselineModel.load({ ...j, weightData });
        loaded++;
      } catch (err) {
        onSkip?.(e.file, err instanceof Error ? err : new Error(String(err)));
      }
    }
    return loaded;
  }

  dispose(): void {
    for (const s of this.#series.values()) s.model?.dispose();
  }
}
