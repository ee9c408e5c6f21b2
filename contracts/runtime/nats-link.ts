/**
 * A process's connection to the hub, made in the background: the edge agent and central both
 * start without the hub and attach what needs it when it answers (the reason logged meanwhile,
 * instead of nats.js's silent first-connect loop); `status()` also follows an established
 * connection that is lost and being re-made, and `onReconnect` runs what must follow a reconnection.
 *
 * The clinic must work when the district network is down, including after the appliance
 * restarts during the outage (a power cut at a station is the usual case). nats.js either
 * fails `connect()` at once when no server answers, or (`waitOnFirstConnect`) does not resolve
 * until one does, with no way to cancel it: an agent that awaited it did not open its web UI,
 * its device drivers or its DICOM SCP until the hub answered. Here the first connection is
 * retried by us (backoff to `maxDelayMs`, cancellable by `close()`) while the agent starts
 * without it; what needs the connection (receipts, heartbeats, the stream followers, the relay's
 * in-process fallback) takes `ready` or `onReady`. Once connected, nats.js reconnects by itself
 * for as long as the process runs (`maxReconnectAttempts: -1`).
 */
import { connect, type ConnectionOptions, type NatsConnection } from '@nats-io/transport-node';
import type { Logger } from './logger.ts';

/** A connection, or one that will exist: what the stream followers and the relay accept. */
export type NatsSource = NatsConnection | Promise<NatsConnection>;

export class NatsLink {
  /** Resolves with the connection once the hub answered; rejects only if `close()` came first. */
  readonly ready: Promise<NatsConnection>;
  /**
   * Settles when the first attempt ended, connected or not (at most the connection `timeout`): the
   * agent waits for it, so a hub that answers is connected when the start returns (its first
   * heartbeat and receipt subscription go out at once), and one that does not costs one attempt.
   */
  readonly firstAttempt: Promise<void>;
  private firstDone!: () => void;
  private nc: NatsConnection | null = null;
  private closed = false;
  private wake: (() => void) | null = null;
  private attempts = 0;
  private lastError: string | null = null;
  /** When the connection was lost (nats.js reconnects by itself); null while connected. */
  private lostAt: number | null = null;
  private readonly reconnected: (() => void)[] = [];

  /**
   * `say.waiting`: what the log says the process does meanwhile; `say.offline`: what `status()`
   * adds to the reason (the edge works offline; central serves without taking anything in).
   */
  constructor(private readonly opts: ConnectionOptions, private readonly log: Logger, private readonly say = { waiting: 'the clinic works offline', offline: 'working offline' }, private readonly delays = { firstDelayMs: 500, maxDelayMs: 5_000, logEveryMs: 300_000 }) {
    this.firstAttempt = new Promise((resolve) => { this.firstDone = resolve; });
    this.ready = this.loop();
    this.ready.then(() => this.firstDone(), () => this.firstDone());
    this.ready.catch(() => undefined); // closed before connecting: nobody needs to hear it
  }

  /** The connection, or null while the hub has not been reached since start. */
  current(): NatsConnection | null {
    return this.nc;
  }

  /** Runs `fn` with the connection once it exists (never, if closed first). */
  onReady(fn: (nc: NatsConnection) => void): void {
    if (this.nc && !this.closed) {
      fn(this.nc); // connected already: at once, not a microtask later
      return;
    }
    this.ready.then((nc) => { if (!this.closed) fn(nc); }, () => undefined);
  }

  /** Runs `fn` after every reconnection (not the first connection: see `onReady`). */
  onReconnect(fn: () => void): void {
    this.reconnected.push(fn);
  }

  /** For /healthz and the portal: whether the hub answers, and if it has not since start, why and what that means. */
  status(): { connected: boolean; detail: string } {
    if (this.nc) {
      if (this.nc.isClosed()) return { connected: false, detail: 'closed' };
      if (this.lostAt !== null) return { connected: false, detail: `connection to the hub lost ${Math.round((Date.now() - this.lostAt) / 1000)} s ago, reconnecting; ${this.say.offline}` };
      return { connected: true, detail: 'connected to the hub' };
    }
    return { connected: false, detail: `hub not reached since start (${this.attempts} attempt(s)${this.lastError ? `, last: ${this.lastError}` : ''}); ${this.say.offline}` };
  }

  async close(): Promise<void> {
    this.closed = true;
    this.wake?.();
    const nc = this.nc;
    if (nc && !nc.isClosed()) await nc.drain().catch(() => nc.close());
  }

  /** Follows disconnections and reconnections (for `status()` and the log). */
  private async watch(nc: NatsConnection): Promise<void> {
    try {
      for await (const s of nc.status()) {
        if (s.type === 'disconnect') this.lostAt ??= Date.now();
        else if (s.type === 'reconnect') this.lostAt = null;
        else continue;
        this.log.info({ status: s.type }, 'nats connection');
        if (s.type === 'reconnect' && !this.closed) for (const fn of this.reconnected) fn();
      }
    } catch {
      // the iterator ends with the connection
    }
  }

  private async loop(): Promise<NatsConnection> {
    let delay = this.delays.firstDelayMs;
    let lastLog = 0;
    for (;;) {
      if (this.closed) throw new Error('closed before the hub was reached');
      this.attempts++;
      try {
        // waitOnFirstConnect off: a hub that does not answer fails this attempt at once (after
        // `timeout` at most), and the retry is ours, so close() can end it.
        const nc = await connect({ ...this.opts, waitOnFirstConnect: false, maxReconnectAttempts: -1 });
        if (this.closed) {
          await nc.close().catch(() => undefined);
          throw new Error('closed before the hub was reached');
        }
        this.nc = nc;
        if (this.attempts > 1) this.log.info({ attempts: this.attempts }, 'connected to the hub');
        void this.watch(nc);
        return nc;
      } catch (e) {
        this.firstDone();
        if (this.closed) throw e;
        const msg = (e as Error).message;
        const now = Date.now();
        // The first failure and then every few minutes (an outage can last hours): the clinic
        // works meanwhile, and a TLS or credentials problem is named, not retried in silence.
        if (this.attempts === 1 || msg !== this.lastError || now - lastLog >= this.delays.logEveryMs) {
          this.log.warn({ attempts: this.attempts, err: msg, servers: this.opts.servers }, `hub not reachable: ${this.say.waiting}; retrying`);
          lastLog = now;
        }
        this.lastError = msg;
      }
      await new Promise<void>((resolve) => {
        const done = () => { clearTimeout(t); this.wake = null; resolve(); };
        const t = setTimeout(done, delay);
        this.wake = done;
      });
      delay = Math.min(delay * 2, this.delays.maxDelayMs);
    }
  }
}
