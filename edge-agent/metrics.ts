/** Prometheus metrics of one edge agent. Values are read at scrape time. */
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import { metricNames } from '../contracts/index.ts';
import type { EdgeStore } from './store/store.ts';
import type { Relay } from './sync/relay.ts';

const m = metricNames.edge;

export function edgeMetrics(store: EdgeStore, relay: () => Relay | null): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ clinic: store.clinicId });
  collectDefaultMetrics({ register: registry });
  new Gauge({
    name: m.outboxDepth, help: 'Records in the outbox not yet confirmed applied by central', registers: [registry],
    collect() { this.set(store.stats().outboxDepth); },
  });
  new Gauge({ name: m.lastSeq, help: 'Highest outbox sequence number written', registers: [registry], collect() { this.set(store.stats().lastSeq); } });
  new Gauge({ name: m.receiptSeq, help: 'Applied watermark last received from central', registers: [registry], collect() { this.set(store.receiptSeq()); } });
  new Gauge({
    name: m.oldestPendingAge, help: 'Age of the oldest record not yet applied at central', registers: [registry],
    collect() { const o = store.stats().oldestPendingAt; this.set(o ? Math.max(0, (Date.now() - Date.parse(o)) / 1000) : 0); },
  });
  new Gauge({
    name: m.lastReceipt, help: 'Unix time of the last receipt from central', registers: [registry],
    collect() { const r = relay(); this.set(r?.lastReceiptAt ? r.lastReceiptAt / 1000 : 0); },
  });
  new Gauge({ name: m.relayState, help: '1 when the relay is publishing normally', registers: [registry], collect() { this.set(relay()?.state === 'connected' ? 1 : 0); } });
  const counterFrom = (name: string, help: string, pick: (r: Relay) => number) => {
    let last = 0;
    new Counter({
      name, help, registers: [registry],
      collect() { const r = relay(); if (!r) return; const v = pick(r); if (v > last) this.inc(v - last); last = v; },
    });
  };
  new Gauge({
    name: m.centralRegressed, help: '1 while central\'s receipts have stayed below the one this edge holds for the grace period: central lost applied records', registers: [registry],
    collect() { this.set(relay()?.centralRegressed ? 1 : 0); },
  });
  const reseeded = { rebuilt: 0, superseded: 0, not_kept: 0, resent_new_seq: 0 };
  new Counter({
    name: m.reseededSeqs, help: 'Seqs put back into the outbox by operator re-seeds of central (sync/reseed.ts): re-sent with their record (rebuilt) or as lost (superseded, not_kept); records without a seq (written before edge migration 6) sent again at new seqs (resent_new_seq)', labelNames: ['outcome'], registers: [registry],
    collect() {
      const r = relay();
      if (!r) return;
      const now = { rebuilt: r.reseeded.rebuilt, superseded: r.reseeded.superseded, not_kept: r.reseeded.notKept, resent_new_seq: r.reseeded.resentAtNewSeq };
      for (const k of ['rebuilt', 'superseded', 'not_kept', 'resent_new_seq'] as const) {
        this.inc({ outcome: k }, Math.max(0, now[k] - reseeded[k]));
        reseeded[k] = now[k];
      }
    },
  });
  counterFrom(m.staleReceipts, 'Receipts from central that arrived below the one held and were ignored (out of order)', (r) => r.staleReceipts);
  counterFrom(m.published, 'Records published and acknowledged by the broker', (r) => r.counters.published);
  counterFrom(m.republished, 'Records sent again because the watermark did not cover them', (r) => r.counters.republished);
  counterFrom(m.publishErrors, 'Publish attempts that failed', (r) => r.counters.publishErrors);
  const writes = new Counter({ name: m.writes, help: 'Records written to the outbox (domain writes that will replicate)', registers: [registry] });
  store.on('written', (n: number) => writes.inc(n));
  const dict = new Gauge({ name: m.dictionaryVersion, help: 'Dictionary version held by this edge', labelNames: ['dictionary'], registers: [registry],
    collect() { for (const [k, v] of Object.entries(store.dictionaryVersions())) dict.set({ dictionary: k }, v); } });
  return registry;
}
