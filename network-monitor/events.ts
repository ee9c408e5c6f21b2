/** Bounded in-memory event log (traps, target up/down, restarts, impact, anomalies). */
import type { ImpactEntry } from './impact.ts';

export type EventType = 'trap' | 'target_down' | 'target_up' | 'link_down' | 'link_up' | 'agent_restart' | 'impact' | 'probe_down' | 'probe_up' | 'anomaly' | 'auth_failure';
export type Severity = 'info' | 'warning' | 'critical';

export interface NetEvent {
  id: number;
  time: string;
  type: EventType;
  severity: Severity;
  target?: string;
  ifIndex?: number;
  ifName?: string;
  trap?: string;
  message: string;
  impact?: ImpactEntry[];
  source?: string;
}

export class EventLog {
  readonly #buf: NetEvent[] = [];
  #next = 1;
  constructor(readonly capacity: number, private readonly onAdd?: (e: NetEvent) => void) {}

  add(e: Omit<NetEvent, 'id' | 'time'>): NetEvent {
    const ev: NetEvent = { id: this.#next++, time: new Date().toISOString(), ...e };
    this.#buf.push(ev);
    if (this.#buf.length > this.capacity) this.#buf.splice(0, this.#buf.length - this.capacity);
    this.onAdd?.(ev);
    return ev;
  }

  /** Events with id > since, oldest first, optionally of one type, at most `limit`. */
  list(q: { since?: number; type?: string; target?: string; limit?: number } = {}): NetEvent[] {
    const out = this.#buf.filter((e) => (q.since === undefined || e.id > q.since) && (!q.type || e.type === q.type) && (!q.target || e.target === q.target));
    return q.limit !== undefined ? out.slice(-q.limit) : out;
  }

  get size(): number {
    return this.#buf.length;
  }
}
