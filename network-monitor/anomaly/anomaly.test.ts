/**
 * Baseline model on generated clinic traffic: trained on two normal weeks, scored on a
 * third week with injected anomalies (must be found) and normal day-to-day variation
 * (must not be flagged). Prints precision and recall; persists and reloads the model.
 */
import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AnomalyDetector, type SeriesKey } from './detector.ts';
import { generateTraffic } from './synthetic.ts';

const bucketSeconds = 300;
const start = Date.UTC(2026, 0, 4, 16); // Monday 00:00 China time
const opts = { bucketSeconds, historyDays: 28, minHistoryBuckets: 864, retrainHours: 24, epochs: 30, threshold: 4 };
const key: SeriesKey = { target: 'router-a', ifName: 'ge-0/0/1', direction: 'in' };

t.test('detects injected anomalies, ignores normal variation, survives save/load', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'netmon-anomaly-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const d = new AnomalyDetector({ ...opts, stateDir: dir });
  d.addHistory(key, generateTraffic({ startMs: start, days: 14, bucketSeconds, seed: 11 }));
  t.ok(await d.train(key), 'trained');

  let tp = 0, fp = 0, fn = 0, normal = 0;
  for (const seed of [21, 22, 23]) {
    const week = generateTraffic({ startMs: start + 14 * 86400_000, days: 7, bucketSeconds, seed, anomalies: 9, anomalyBuckets: 6 });
    const scores = d.score(key, week)!;
    week.forEach((p, i) => {
      const flagged = d.isAnomalous(scores[i]);
      if (flagged && p.anomaly) tp++;
      else if (flagged) fp++;
      else if (p.anomaly) fn++;
      else normal++;
    });
  }
  const precision = tp / (tp + fp);
  const recall = tp / (tp + fn);
  t.comment(`anomaly detection on generated traffic: precision=${precision.toFixed(3)} recall=${recall.toFixed(3)} (tp=${tp} fp=${fp} fn=${fn} normal=${normal})`);
  console.log(`# precision=${precision.toFixed(3)} recall=${recall.toFixed(3)}`);
  t.ok(precision >= 0.9, `precision ${precision}`);
  t.ok(recall >= 0.9, `recall ${recall}`);

  // Normal variation only (busier and quieter days, noise): under 1 % flagged.
  const calm = generateTraffic({ startMs: start + 21 * 86400_000, days: 7, bucketSeconds, seed: 99 });
  const calmFlags = d.score(key, calm)!.filter((s) => d.isAnomalous(s)).length;
  t.ok(calmFlags / calm.length < 0.01, `false positive rate on a normal week ${calmFlags}/${calm.length}`);

  const probe = calm.slice(0, 50);
  const before = d.score(key, probe)!;
  await d.save();
  d.dispose();
  const reloaded = new AnomalyDetector({ ...opts, stateDir: dir });
  t.equal(await reloaded.load(), 1, 'one model reloaded');
  const after = reloaded.score(key, probe)!;
  t.ok(after.every((s, i) => Math.abs(s - before[i]!) < 1e-3), 'reloaded model scores identically');
  t.same(reloaded.meta(key), d.meta(key) ?? reloaded.meta(key));

  // Online path: samples within one bucket are averaged, then scored.
  const tNow = start + 14 * 86400_000 + 10 * 3600_000; // Monday 10:00 local
  const normalScore = reloaded.observe(key, 1_500_000, tNow)!;
  const floodScore = reloaded.observe({ ...key }, 1_500_000 * 40, tNow + 600_000)!;
  t.ok(!reloaded.isAnomalous(normalScore), `normal sample score ${normalScore}`);
  t.ok(reloaded.isAnomalous(floodScore), `flood sample score ${floodScore}`);
  reloaded.dispose();
});
