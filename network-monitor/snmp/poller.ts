/**
 * Polls one target on its own timer: system group, IF-MIB tables, HOST-RESOURCES.
 * Each target has its own session and loop, so a slow or dead target never delays others.
 */
import type { Session } from './net-snmp.ts';
import type { Logger } from 'pino';
import type { Target } from '../inventory.ts';
import type { NetworkMonitorConfig } from '../config.ts';
import type { Metrics, IfCounterName } from '../metrics.ts';
import { CounterTracker, agentRestarted } from '../counters.ts';
import { OID } from './oids.ts';
import { openSession, get, subtree, classify, type SnmpPollError } from './session.ts';
import { parseInterfaces, parseStorage, parseCpuLoad, type IfSample } from './interfaces.ts';
import { toNumber, toText, toOid, isExceptionType } from './values.ts';

export interface PollerHooks {
  onTargetState(target: Target, up: boolean, reason?: string): void;
  onInterfaceState(target: Target, iface: IfSample, operUp: boolean): void;
  onRestart(target: Target, prevUptimeSeconds: number, uptimeSeconds: number): void;
  onRate(target: Target, ifName: string, direction: 'in' | 'out', bytesPerSecond: number, atMs: number): void;
}

export interface TargetStatus {
  name: string;
  up: boolean | null;
  lastError?: string;
  lastPoll?: string;
  consecutiveFailures: number;
  interfaces: number;
  sysName?: string;
}

export class TargetPoller {
  #session: Session | undefined;
  /** The last poll failed: open a fresh session at the next poll (not at once, see pollOnce). */
  #sessionStale = false;
  #timer: NodeJS.Timeout | undefined;
  #running = false;
  #stopped = false;
  #failures = 0;
  #up: boolean | null = null;
  #uptimeCs: number | undefined;
  #lastPollMs: number | undefined;
  readonly #counters = new CounterTracker();
  readonly #oper = new Map<number, boolean>();
  #status: TargetStatus;

  constructor(
    readonly target: Target,
    private readonly cfg: NetworkMonitorConfig['polling'],
    private readonly m: Metrics,
    private readonly log: Logger,
    private readonly hooks: PollerHooks,
  ) {
    this.#status = { name: target.name, up: null, consecutiveFailures: 0, interfaces: 0 };
    // Initialise per-target counters at 0 so rate() and increase() see the first failure.
    for (const reason of ['timeout', 'auth', 'malformed', 'agent_error', 'error']) m.pollErrors.inc({ target: target.name, reason }, 0);
    m.restarts.inc({ target: target.name }, 0);
  }

  get intervalMs(): number {
    return (this.target.intervalSeconds ?? this.cfg.intervalSeconds) * 1000;
  }

  status(): TargetStatus {
    return { ...this.#status };
  }

  start(initialDelayMs = 0): void {
    this.#stopped = false;
    this.#schedule(initialDelayMs);
  }

  stop(): void {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#closeSession();
  }

  #schedule(ms: number): void {
    if (this.#stopped) return;
    this.#timer = setTimeout(() => { void this.pollOnce().finally(() => this.#schedule(this.#nextDelay())); }, ms);
    this.#timer.unref?.();
  }

  /** Back off on failures: interval x 2^(failures-1), capped at maxBackoffFactor. */
  #nextDelay(): number {
    if (this.#failures === 0) return this.intervalMs;
    return this.intervalMs * Math.min(this.cfg.maxBackoffFactor, 2 ** (this.#failures - 1));
  }

  #closeSession(): void {
    try { this.#session?.close(); } catch { /* already closed */ }
    this.#session = undefined;
  }

  #openSession(): Session {
    if (this.#session && this.#sessionStale) this.#closeSession();
    this.#sessionStale = false;
    if (this.#session) return this.#session;
    const s = openSession(this.target.snmp, {
      host: this.target.host, port: this.target.port,
      timeoutMs: this.target.timeoutMs ?? this.cfg.timeoutMs,
      retries: this.target.retries ?? this.cfg.retries,
      backoff: this.cfg.backoff,
    });
    // A garbage datagram makes net-snmp emit 'error'; without a listener that would crash.
    s.on('error', (err) => {
      this.m.pollErrors.inc({ target: this.target.name, reason: 'malformed' });
      this.log.warn({ target: this.target.name, err: err.message }, 'malformed SNMP message from target');
    });
    this.#session = s;
    return s;
  }

  /** One poll; never throws. Overlapping calls are skipped. */
  async pollOnce(): Promise<void> {
    if (this.#running) return;
    this.#running = true;
    const t0 = performance.now();
    const name = this.target.name;
    this.m.polls.inc({ target: name });
    try {
      const oids = await this.#collect();
      this.m.oids.inc({ target: name }, oids);
      this.#failures = 0;
      this.m.lastPoll.set({ target: name }, Date.now() / 1000);
      this.#status = { ...this.#status, up: true, consecutiveFailures: 0, lastPoll: new Date().toISOString() };
      delete this.#status.lastError;
      this.#setUp(true);
    } catch (err) {
      const e: SnmpPollError = classify(err);
      this.#failures++;
      // A fresh session re-discovers the v3 engine after an agent restart. It is opened at the
      // next poll: until then the old one stays open, so a late malformed answer is still
      // read and counted (closing at once dropped it when the answer came after the timeout).
      this.#sessionStale = true;
      this.m.pollErrors.inc({ target: name, reason: e.reason });
      this.#status = { ...this.#status, consecutiveFailures: this.#failures, lastError: e.message };
      this.log.warn({ target: name, reason: e.reason, err: e.message, failures: this.#failures }, 'SNMP poll failed');
      if (this.#failures >= this.cfg.downAfterFailures) this.#setUp(false, e.message);
    } finally {
      this.m.pollDuration.set({ target: name }, (performance.now() - t0) / 1000);
      this.#running = false;
    }
  }

  #setUp(up: boolean, reason?: string): void {
    this.m.targetUp.set({ target: this.target.name, kind: this.target.kind }, up ? 1 : 0);
    this.#status.up = up;
    if (this.#up !== up) {
      this.#up = up;
      this.hooks.onTargetState(this.target, up, reason);
    }
  }

  async #collect(): Promise<number> {
    const s = this.#openSession();
    const name = this.target.name;
    const maxRep = this.cfg.maxRepetitions;
    const sys = await get(s, [OID.sysDescr, OID.sysObjectID, OID.sysUpTime, OID.sysName]);
    const uptimeVb = sys.find((v) => v.oid === OID.sysUpTime);
    const uptimeCs = uptimeVb && !isExceptionType(uptimeVb.type) ? toNumber(uptimeVb) : null;
    if (uptimeCs === null || uptimeCs < 0) throw classify(Object.assign(new Error('sysUpTime missing or invalid'), { name: 'ResponseInvalidError' }));
    const restarted = agentRestarted(this.#uptimeCs, uptimeCs);
    if (restarted) {
      this.m.restarts.inc({ target: name });
      this.hooks.onRestart(this.target, (this.#uptimeCs ?? 0) / 100, uptimeCs / 100);
    }
    this.#uptimeCs = uptimeCs;
    this.m.uptime.set({ target: name }, uptimeCs / 100);
    const text = (oid: string) => { const vb = sys.find((v) => v.oid === oid); return vb ? toText(vb, 128) ?? '' : ''; };
    const objId = sys.find((v) => v.oid === OID.sysObjectID);
    const sysName = text(OID.sysName);
    this.m.targetInfo.set({ target: name, sysName, sysDescr: text(OID.sysDescr), sysObjectID: (objId && toOid(objId)) || '', snmpVersion: this.target.snmp.version }, 1);
    this.#status.sysName = sysName;

    const ifTable = await subtree(s, OID.ifTable, maxRep);
    const ifXTable = await subtree(s, OID.ifXTable, maxRep);
    let count = sys.length + ifTable.length + ifXTable.length;
    const nowMs = Date.now();
    const elapsedS = this.#lastPollMs === undefined ? undefined : (nowMs - this.#lastPollMs) / 1000;
    this.#lastPollMs = nowMs;
    const ifaces = parseInterfaces(ifTable, ifXTable);
    this.#status.interfaces = ifaces.length;
    for (const i of ifaces) this.#recordInterface(i, restarted, elapsedS, nowMs);

    if (this.target.hostResources) {
      const cpu = await subtree(s, OID.hrProcessorLoad, maxRep).catch(() => []);
      const storage = await subtree(s, OID.hrStorageTable, maxRep).catch(() => []);
      count += cpu.length + storage.length;
      for (const c of parseCpuLoad(cpu)) this.m.cpuLoad.set({ target: name, cpu: c.cpu }, c.ratio);
      for (const st of parseStorage(storage)) {
        this.m.storageSize.set({ target: name, storage: st.descr, type: st.type }, st.sizeBytes);
        this.m.storageUsed.set({ target: name, storage: st.descr, type: st.type }, st.usedBytes);
      }
    }
    return count;
  }

  #recordInterface(i: IfSample, restarted: boolean, elapsedS: number | undefined, nowMs: number): void {
    const name = this.target.name;
    const labels = { target: name, ifIndex: String(i.ifIndex), ifName: i.ifName };
    if (i.speedBps !== undefined) this.m.ifSpeed.set(labels, i.speedBps);
    if (i.adminStatus !== undefined) this.m.ifAdminStatus.set(labels, i.adminStatus);
    if (i.operStatus !== undefined) {
      const up = i.operStatus === 1;
      this.m.ifOperStatus.set(labels, i.operStatus);
      this.m.ifOperUp.set(labels, up ? 1 : 0);
      const prev = this.#oper.get(i.ifIndex);
      this.#oper.set(i.ifIndex, up);
      if (prev !== up) this.hooks.onInterfaceState(this.target, i, up);
    }
    for (const [k, r] of Object.entries(i.counters) as [IfCounterName, { raw: bigint; width: 32 | 64 }][]) {
      // A Counter32 wrap is plausible only up to twice what the link can carry in the interval.
      const maxPlausible = k.endsWith('Octets') && i.speedBps && elapsedS ? BigInt(Math.ceil((i.speedBps / 8) * elapsedS * 2)) : undefined;
      const step = this.#counters.step(`${i.ifIndex}/${k}`, r.raw, r.width, restarted, maxPlausible);
      const counter = this.m.ifCounters[k];
      if (step.outcome === 'first') counter.inc(labels, Number(r.raw)); // start at the device's value
      else if (step.outcome === 'discontinuity') { this.m.discontinuities.inc({ target: name }); counter.inc(labels, 0); }
      else counter.inc(labels, Number(step.delta));
      if (step.outcome === 'wrap') this.m.counterWraps.inc({ target: name });
      if ((k === 'inOctets' || k === 'outOctets') && (step.outcome === 'normal' || step.outcome === 'wrap') && elapsedS && elapsedS > 0) {
        this.hooks.onRate(this.target, i.ifName, k === 'inOctets' ? 'in' : 'out', Number(step.delta) / elapsedS, nowMs);
      }
    }
  }
}

