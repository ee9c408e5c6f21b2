/**
 * One per-interface baseline: a small TensorFlow.js model predicting log traffic from
 * time features, plus a robust residual scale. Score = |observed - predicted| / scale.
 * Saved with withSaveHandler (no file:// handler without tfjs-node) and loaded with
 * fromMemory from a real ArrayBuffer (a Node Buffer loads but predicts garbage).
 */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { FEATURE_COUNT, timeFeatures } from './features.ts';

let ready: Promise<void> | undefined;
/** Select the wasm backend once per process. */
export function tfReady(): Promise<void> {
  ready ??= (async () => {
    await tf.setBackend('wasm');
    await tf.ready();
  })();
  return ready;
}

export interface BaselineMeta {
  yMean: number;
  yStd: number;
  /** Robust scale (1.4826 x MAD) of training residuals in log units. */
  scale: number;
  trainedAt: number;
  samples: number;
  utcOffsetHours: number;
}

export interface SavedBaseline {
  meta: BaselineMeta;
  modelTopology: unknown;
  weightSpecs: unknown;
  weightData: ArrayBuffer;
}

function build(): tf.LayersModel {
  const m = tf.sequential();
  m.add(tf.layers.dense({ units: 1, inputShape: [FEATURE_COUNT], kernelInitializer: 'zeros' }));
  m.compile({ optimizer: tf.train.adam(0.05), loss: 'meanSquaredError' });
  return m;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const n = s.length;
  return n === 0 ? 0 : n % 2 ? s[(n - 1) / 2]! : (s[n / 2 - 1]! + s[n / 2]!) / 2;
}

/** Fisher-Yates with a fixed-seed LCG (tf's shuffle uses Math.random). */
function shuffled<T>(xs: readonly T[]): T[] {
  const out = [...xs];
  let seed = 0x2545f491;
  for (let i = out.length - 1; i > 0; i--) {
    seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
    const j = seed % (i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

export class BaselineModel {
  private constructor(private readonly model: tf.LayersModel, readonly meta: BaselineMeta) {}

  /** Train on (time, log rate) points. Minimum scale keeps a flat series from flagging noise. */
  static async train(points: readonly { t: number; y: number }[], opts: { epochs: number; utcOffsetHours: number; minScale?: number }): Promise<BaselineModel> {
    await tfReady();
    points = shuffled(points); // deterministic order: the same history gives the same model
    const n = points.length;
    const ys = points.map((p) => p.y);
    const yMean = ys.reduce((a, b) => a + b, 0) / n;
    const yStd = Math.sqrt(ys.reduce((a, b) => a + (b - yMean) ** 2, 0) / n) || 1;
    const xBuf = new Float32Array(n * FEATURE_COUNT);
    const f = new Float32Array(FEATURE_COUNT);
    points.forEach((p, i) => xBuf.set(timeFeatures(p.t, opts.utcOffsetHours, f), i * FEATURE_COUNT));
    const x = tf.tensor2d(xBuf, [n, FEATURE_COUNT]);
    const y = tf.tensor2d(ys.map((v) => (v - yMean) / yStd), [n, 1]);
    const model = build();
    try {
      await model.fit(x, y, { epochs: opts.epochs, batchSize: 256, shuffle: false, verbose: 0 });
      const pred = tf.tidy(() => model.predict(x) as tf.Tensor).dataSync();
      const resid = ys.map((v, i) => v - (pred[i]! * yStd + yMean));
      const med = median(resid);
      const scale = Math.max(opts.minScale ?? 0.05, 1.4826 * median(resid.map((r) => Math.abs(r - med))));
      return new BaselineModel(model, { yMean, yStd, scale, trainedAt: Date.now(), samples: n, utcOffsetHours: opts.utcOffsetHours });
    } finally {
      x.dispose();
      y.dispose();
    }
  }

  /** Expected log rate at each time. */
  predict(ts: readonly number[]): number[] {
    const xBuf = new Float32Array(ts.length * FEATURE_COUNT);
    const f = new Float32Array(FEATURE_COUNT);
    ts.forEach((t, i) => xBuf.set(timeFeatures(t, this.meta.utcOffsetHours, f), i * FEATURE_COUNT));
    const out = tf.tidy(() => (this.model.predict(tf.tensor2d(xBuf, [ts.length, FEATURE_COUNT])) as tf.Tensor).dataSync());
    return Array.from(out, (v) => v * this.meta.yStd + this.meta.yMean);
  }

  /** Anomaly scores of observed log rates. */
  score(points: readonly { t: number; y: number }[]): number[] {
    const pred = this.predict(points.map((p) => p.t));
    return points.map((p, i) => Math.abs(p.y - pred[i]!) / this.meta.scale);
  }

  async save(): Promise<SavedBaseline> {
    let saved: SavedBaseline | undefined;
    await this.model.save(tf.io.withSaveHandler(async (a) => {
      const wd = a.weightData;
      const parts = wd === undefined ? [] : Array.isArray(wd) ? wd : [wd];
      const total = parts.reduce((s, p) => s + p.byteLength, 0);
      const buf = new Uint8Array(total);
      let off = 0;
      for (const p of parts) { buf.set(new Uint8Array(p), off); off += p.byteLength; }
      saved = { meta: this.meta, modelTopology: a.modelTopology, weightSpecs: a.weightSpecs, weightData: buf.buffer };
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }));
    if (!saved) throw new Error('model save produced no artifacts');
    return saved;
  }

  static async load(s: SavedBaseline): Promise<BaselineModel> {
    await tfReady();
    const model = await tf.loadLayersModel(tf.io.fromMemory({
      modelTopology: s.modelTopology as tf.io.ModelArtifacts['modelTopology'],
      weightSpecs: s.weightSpecs as tf.io.WeightsManifestEntry[],
      weightData: s.weightData,
    }));
    return new BaselineModel(model, s.meta);
  }

  dispose(): void {
    this.model.dispose();
  }
}
