/**
 * Wires the parts into one running monitor: pollers, trap receiver, probes, impact,
 * anomaly detector, HTTP. `startNetworkMonitor(config)` is the programmatic entry.
 */
import type { AddressInfo } from 'node:net';
import { serve, type ServerType } from '@hono/node-server';
import type { Logger } from 'pino';
import { parseConfig, type NetworkMonitorConfig, type NetworkMonitorConfigInput } from './config.ts';
import { loadInventoryFile, parseInventory, type Inventory, type Target } from './inventory.ts';
import { computeImpact, rootFaults, type Fault, type ImpactEntry } from './impact.ts';
import { createMetrics, type Metrics } from './metrics.ts';
import { EventLog, type NetEvent } from './events.ts';
import { createLogger } from './logger.ts';
import { createApp } from './http.ts';
import { TargetPoller, type PollerHooks } from './snmp/poller.ts';
import { startTrapReceiver, type Trap, type TrapReceiverHandle } from './snmp/traps.ts';
import { probeSpecs, runProbe, type ProbeResult } from './probes.ts';
import type { AnomalyDetector } from './anomaly/detector.ts';

export interface NetworkMonitorHandle {
  /** Base URL of the HTTP server, e.g. http://127.0.0.1:9470 */
  url: string;
  /** UDP port of the trap receiver (undefined when disabled). */
  trapPort: number | undefined;
  config: NetworkMonitorConfig;
  inventory: Inventory;
  events: EventLog;
  metrics: Metrics;
  detector: AnomalyDetector | undefined;
  /** Poll every target once now (tests, demo). */
  pollAll(): Promise<void>;
  /** Run every probe once now. */
  probeAll(): Promise<ProbeResult[]>;
  impact(): ImpactEntry[];
  stop(): Promise<void>;
}

export interface StartOptions {
  logger?: Logger;
  /** Do not start timers (tests drive pollAll/probeAll themselves). */
  manual?: boolean;
}

export async function startNetworkMonitor(input: NetworkMonitorConfigInput | NetworkMonitorConfig, opts: StartOptions = {}): Promise<NetworkMonitorHandle> {
  const cfg = parseConfig(input);
  const inv = cfg.inventory ? parseInventory(cfg.inventory) : loadInventoryFile(cfg.inventoryFile!);
  const log = opts.logger ?? createLogger(cfg.logLevel);
  const m = createMetrics();
  const events = new EventLog(cfg.events.capacity, (e: NetEvent) => {
    m.events.inc({ type: e.type, severity: e.severity });
    log.info({ event: e }, e.message);
  });
  const timers: NodeJS.Timeout[] = [];
  for (const t of inv.targets) for (const l of t.links) for (const c of l.clinics) m.linkInfo.set({ target: t.name, ifName: l.ifName ?? `if${l.ifIndex}`, clinic: c }, 1);
  let started = false;

  // ---- faults and clinical impact
  const faults = new Map<string, Fault>();
  let impact: ImpactEntry[] = [];
  const linkState = new Map<string, boolean>();
  const isInventoryLink = (t: Target, ifIndex: number, ifName: string) => t.links.some((l) => l.ifIndex === ifIndex || l.ifName === ifName);
  const recomputeImpact = () => {
    const next = computeImpact(inv, rootFaults(inv, [...faults.values()]));
    m.impactDown.reset();
    m.impactDevice.reset();
    for (const e of next) {
      for (const stream of e.streams) m.impactDown.set({ target: e.target, ifName: e.ifName ?? '', clinic: e.clinic, stream }, 1);
      for (const d of e.devices) m.impactDevice.set({ target: e.target, ifName: e.ifName ?? '', clinic: e.clinic, device: d.id, kind: d.kind }, 1);
    }
    m.impactClinics.set(new Set(next.map((e) => e.clinic)).size);
    if (JSON.stringify(next) !== JSON.stringify(impact)) {
      const gone = next.length === 0;
      events.add({
        type: 'impact', severity: gone ? 'info' : 'critical', impact: next,
        message: gone ? 'no clinics cut off' : `cut off: ${[...new Set(next.map((e) => e.clinic))].join(', ')} (${next.reduce((s, e) => s + e.devices.length, 0)} devices, ${next.reduce((s, e) => s + e.streams.length, 0)} streams)`,
      });
    }
    impact = next;
  };
  const setLink = (t: Target, ifIndex: number, ifName: string, up: boolean, via: 'poll' | 'trap') => {
    const key = `${t.name}/${ifIndex}`;
    const prev = linkState.get(key);
    linkState.set(key, up);
    const known = isInventoryLink(t, ifIndex, ifName);
    if (prev === up || (prev === undefined && up)) return;
    if (prev === undefined && !known) return; // unused ports that were always down are not news
    events.add({ type: up ? 'link_up' : 'link_down', severity: up ? 'info' : known ? 'critical' : 'warning', target: t.name, ifIndex, ifName, message: `${t.name} ${ifName} ${up ? 'up' : 'down'} (${via})` });
    if (!known) return;
    if (up) faults.delete(`link:${key}`);
    else faults.set(`link:${key}`, { target: t.name, ifIndex, ifName });
    recomputeImpact();
  };

  // ---- anomaly detection
  // TensorFlow.js is loaded only when the anomaly model is on (it takes seconds to load).
  const detector = cfg.anomaly.enabled ? new (await import('./anomaly/detector.ts')).AnomalyDetector({ ...cfg.anomaly }) : undefined;
  if (detector) {
    try {
      const n = await detector.load((f, err) => log.warn({ file: f, err: err.message }, 'anomaly model skipped'));
      m.anomalyModels.set(detector.modelCount);
      if (n) log.info({ models: n }, 'anomaly models reloaded');
    } catch (err) {
      log.warn({ err: (err as Error).message }, 'anomaly state unreadable; starting without models');
    }
  }
  const anomalous = new Set<string>();

  // ---- pollers
  const hooks: PollerHooks = {
    onTargetState(t, up, reason) {
      events.add({ type: up ? 'target_up' : 'target_down', severity: up ? 'info' : 'critical', target: t.name, message: up ? `${t.name} answers SNMP` : `${t.name} down: ${reason ?? 'no answer'}` });
      if (up) faults.delete(`target:${t.name}`);
      else faults.set(`target:${t.name}`, { target: t.name });
      recomputeImpact();
    },
    onInterfaceState(t, i, up) {
      if (!up && i.adminStatus !== undefined && i.adminStatus !== 1) return; // administratively down: intended
      setLink(t, i.ifIndex, i.ifName, up, 'poll');
    },
    onRestart(t, prev, now) {
      events.add({ type: 'agent_restart', severity: 'warning', target: t.name, message: `${t.name} restarted (sysUpTime ${prev.toFixed(0)} s -> ${now.toFixed(0)} s); counters re-baselined` });
    },
    onRate(t, ifName, direction, rate, at) {
      if (!detector) return;
      if (cfg.anomaly.scope === 'links' && !t.links.some((l) => l.ifName === ifName)) return;
      const score = detector.observe({ target: t.name, ifName, direction }, rate, at);
      if (score === undefined) return;
      m.anomalyScore.set({ target: t.name, ifName, direction }, score);
      const k = `${t.name}/${ifName}/${direction}`;
      if (detector.isAnomalous(score) && !anomalous.has(k)) {
        anomalous.add(k);
        events.add({ type: 'anomaly', severity: 'warning', target: t.name, ifName, message: `${t.name} ${ifName} ${direction} traffic off its baseline (score ${score.toFixed(1)})` });
      } else if (!detector.isAnomalous(score)) anomalous.delete(k);
    },
  };
  const childLog = log.child({ part: 'poller' });
  const pollers = inv.targets.map((t) => new TargetPoller(t, cfg.polling, m, childLog, hooks));

  // ---- traps
  const targetForTrap = (tr: Trap): Target | undefined => {
    const cands = inv.targets.filter((t) => (t.trapAddress ?? t.host) === tr.source);
    if (cands.length <= 1) return cands[0];
    const byCreds = cands.filter((t) => (t.snmp.version === '2c' ? t.snmp.community === tr.community : t.snmp.user === tr.user));
    return byCreds[0] ?? cands[0];
  };
  let traps: TrapReceiverHandle | undefined;
  if (cfg.traps.enabled) {
    traps = await startTrapReceiver(cfg.traps, (tr) => {
      const t = targetForTrap(tr);
      const name = t?.name ?? 'unknown';
      m.traps.inc({ target: name, type: tr.kind });
      const ifName = tr.ifName ?? (tr.ifIndex !== undefined ? `if${tr.ifIndex}` : undefined);
      if (tr.kind === 'authenticationFailure') {
        events.add({ type: 'auth_failure', severity: 'warning', target: name, source: tr.source, trap: tr.kind, message: `authentication failure reported by ${name} (${tr.source}): possible intrusion attempt` });
      } else {
        events.add({
          type: 'trap', severity: tr.kind === 'linkDown' ? 'critical' : tr.kind === 'coldStart' || tr.kind === 'warmStart' ? 'warning' : 'info',
          target: name, source: tr.source, trap: tr.kind,
          ...(tr.ifIndex !== undefined ? { ifIndex: tr.ifIndex } : {}), ...(ifName ? { ifName } : {}),
          message: `${tr.pduType} ${tr.kind === 'other' ? tr.trapOid : tr.kind} from ${name} (${tr.source})${ifName ? ' ' + ifName : ''}`,
        });
      }
      if (t && tr.ifIndex !== undefined && (tr.kind === 'linkDown' || tr.kind === 'linkUp')) {
        const known = t.links.find((l) => l.ifIndex === tr.ifIndex || (tr.ifName !== undefined && l.ifName === tr.ifName));
        setLink(t, tr.ifIndex, tr.ifName ?? known?.ifName ?? `if${tr.ifIndex}`, tr.kind === 'linkUp', 'trap');
      }
    }, (reason, err) => {
      m.trapErrors.inc({ reason });
      log.warn({ reason, err: err.message, from: (err as Error & { rinfo?: { address: string } }).rinfo?.address }, 'bad notification');
    });
  }

  // ---- probes
  const specs = probeSpecs(inv);
  let probeResults: ProbeResult[] = [];
  const probeState = new Map<string, boolean>();
  const probeAll = async () => {
    const results = await Promise.all(specs.map((s) => runProbe(s, cfg.probes.timeoutMs)));
    for (const r of results) {
      const l = { probe: r.probe, clinic: r.clinic, url: r.url };
      m.probeUp.set(l, r.up ? 1 : 0);
      m.probeDuration.set(l, r.durationSeconds);
      const k = `${r.probe}|${r.url}`;
      const prev = probeState.get(k);
      probeState.set(k, r.up);
      if (prev !== r.up && !(prev === undefined && r.up)) {
        events.add({ type: r.up ? 'probe_up' : 'probe_down', severity: r.up ? 'info' : 'critical', message: `${r.probe} ${r.clinic} ${r.url} ${r.up ? 'reachable' : `unreachable: ${r.error}`}` });
      }
    }
    probeResults = results;
    return results;
  };

  // ---- HTTP
  const app = createApp({
    registry: m.registry, events,
    targets: () => pollers.map((p) => p.status()),
    impact: () => impact,
    probes: () => probeResults,
    started: () => started,
  });
  const server: ServerType = await new Promise((resolve, reject) => {
    const s = serve({ fetch: app.fetch, port: cfg.http.port, hostname: cfg.http.host }, () => resolve(s));
    s.once('error', reject);
  });
  const port = (server.address() as AddressInfo).port;
  const url = `http://${cfg.http.host.includes(':') ? `[${cfg.http.host}]` : cfg.http.host}:${port}`;

  if (!opts.manual) {
    // Stagger first polls so hundreds of targets do not fire in the same millisecond.
    pollers.forEach((p, i) => p.start(Math.min(p.intervalMs, (i * 997) % Math.max(1000, p.intervalMs))));
    if (specs.length) {
      void probeAll();
      const pt = setInterval(() => void probeAll(), cfg.probes.intervalSeconds * 1000);
      pt.unref();
      timers.push(pt);
    }
    if (detector) {
      let training = false;
      const tt = setInterval(() => {
        if (training) return;
        training = true;
        void detector.trainDue().then(async (n) => {
          m.anomalyModels.set(detector.modelCount);
          if (n) m.anomalyTrainings.inc({ outcome: 'ok' }, n);
          await detector.save(); // history too, so a crash loses at most one tick
        }).catch((err: Error) => { m.anomalyTrainings.inc({ outcome: 'error' }); log.warn({ err: err.message }, 'anomaly training failed'); })
          .finally(() => { training = false; });
      }, 10 * 60_000);
      tt.unref();
      timers.push(tt);
    }
  }
  started = true;
  log.info({ url, trapPort: traps?.port, targets: inv.targets.length, clinics: inv.clinics.length }, 'network monitor started');

  let stopping: Promise<void> | undefined;
  return {
    url,
    trapPort: traps?.port,
    config: cfg,
    inventory: inv,
    events,
    metrics: m,
    detector,
    pollAll: async () => { await Promise.all(pollers.map((p) => p.pollOnce())); },
    probeAll,
    impact: () => impact,
    stop() {
      stopping ??= (async () => {
        started = false;
        timers.forEach((t) => clearInterval(t));
        pollers.forEach((p) => p.stop());
        await traps?.close();
        await new Promise<void>((r) => server.close(() => r()));
        if (detector) {
          try { await detector.save(); } catch (err) { log.warn({ err: (err as Error).message }, 'anomaly state not saved'); }
          detector.dispose();
        }
        log.info('network monitor stopped');
      })();
      return stopping;
    },
  };
}
