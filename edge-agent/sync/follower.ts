/**
 * `StreamFollower`: the edge's one loop that follows a stream central publishes (EMPI person
 * changes, dictionaries, health-record transfers) and applies every message to the edge SQLite.
 * Semantics (see README.md in this folder, "Stream followers"):
 *
 * - **Position.** The stream sequence of the last message dealt with (applied or parked) is kept
 *   in `sync_position`, written in the SAME transaction as the apply. A message whose seq is at or
 *   below the position is never applied again (exactly-once apply, even when the apply itself is
 *   not idempotent); after a restart the follower resumes at position + 1.
 * - **A failed apply is never skipped silently.** A decode failure (not JSON, fails the schema) or
 *   a `PermanentApplyError` cannot succeed on retry; any other error is retried in place with
 *   backoff (`retryDelayMs`, doubling, up to `maxRetryDelayMs`). What happens after `maxAttempts`
 *   depends on the stream's `onFailure`:
 *   - `park`: the message is stored in `sync_dead_letter` with the reason and the attempts, and the
 *     position moves past it in the same transaction; the rest of the stream continues. Parked
 *     messages are counted (`edge_sync_dead_letters`), logged as errors, listed by `deadLetters()`
 *     and can be applied again with `replay(id)` once the cause is fixed, or closed with
 *     `discard(id, note)`.
 *   - `block`: the follower keeps retrying the same message (at the longest delay) and reports
 *     itself `blocked` (metric, health) until it applies, or until someone calls `parkBlocked()`.
 *     For streams whose later messages depend on the earlier ones.
 * - **Broker restarts.** On every reconnect, and whenever the consumer ends (stream deleted, server
 *   gone), the follower drops its consumer and creates a new ordered consumer from its durable
 *   position. Before that it reads the stream's info: a stream created again (another `created`
 *   time: the broker's store was wiped) is followed from its start again (the appliers are
 *   idempotent by content, and the position guard is reset with it); a stream whose last seq is
 *   below the position (it lost its tail) is followed from that last seq.
 */
import { DeliverPolicy, jetstream, jetstreamManager, type ConsumerMessages, type JsMsg } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import type { NatsSource } from '../../contracts/runtime/nats-link.ts';
import { Counter, Gauge, type Registry } from 'prom-client';
import { metricNames } from '../../contracts/index.ts';
import type { Db, Logger } from '../../contracts/runtime/index.ts';

/** Thrown by `decode` or `apply` when retrying cannot help (the message itself is wrong). */
export class PermanentApplyError extends Error {
  override readonly name = 'PermanentApplyError';
}

export type FailurePolicy = 'park' | 'block';

export interface FollowerOptions<T, R = unknown> {
  /** Key of the position and dead letters, and the metrics label (unique per database). */
  name: string;
  stream: string;
  /** One filter subject (nats-server 2.9 has no `filter_subjects` list). */
  filterSubject?: string;
  /**
   * `all` (default): from position + 1, every message. `last_per_subject`: the newest message of
   * each subject (messages at or below the position are passed over): for streams of full
   * snapshots, where only the newest counts.
   */
  deliver?: 'all' | 'last_per_subject';
  /** Bytes -> message; throw (any error) for a message that can never be applied. */
  decode: (data: Uint8Array, subject: string) => T;
  /** Apply one message. Runs inside the follower's IMMEDIATE transaction; throw to roll back. */
  apply: (value: T, meta: { seq: number; subject: string }) => R;
  /** After a successful commit (logging, notifications). */
  onApplied?: (value: T, result: R, meta: { seq: number; subject: string }) => void;
  onFailure: FailurePolicy;
  /** Attempts before a message is parked (`park`) or the follower reports itself blocked (`block`). Default 5. */
  maxAttempts?: number;
  /** First retry delay, doubled each attempt. Default 200 ms. */
  retryDelayMs?: number;
  /** Longest retry / reconnect delay. Default 5 s. */
  maxRetryDelayMs?: number;
  /** Messages buffered by the consumer. Default 64. */
  batch?: number;
}

export interface DeadLetter {
  id: number; follower: string; stream: string; streamSeq: number; subject: string; data: Buffer; reason: string;
  attempts: number; firstFailedAt: string; parkedAt: string; resolvedAt: string | null; resolution: string | null;
}

type DeadLetterRow = { id: number; follower: string; stream: string; stream_seq: number; subject: string; data: Buffer; reason: string; attempts: number; first_failed_at: string; parked_at: string; resolved_at: string | null; resolution: string | null };
/** The follower gives the event loop a turn after applying for this long (see the consume loop). */
const YIELD_AFTER_MS = 5;

const deadLetterOf = (r: DeadLetterRow): DeadLetter => ({ id: r.id, follower: r.follower, stream: r.stream, streamSeq: r.stream_seq, subject: r.subject, data: r.data, reason: r.reason, attempts: r.attempts, firstFailedAt: r.first_failed_at, parkedAt: r.parked_at, resolvedAt: r.resolved_at, resolution: r.resolution });

export interface FollowerCounters {
  /** Messages applied (committed with the position). */
  applied: number;
  /** Failed attempts that were retried. */
  retries: number;
  /** Messages parked in the dead-letter table by this process. */
  parked: number;
  /** Messages at or below the position that were delivered again and passed over. */
  duplicates: number;
  /** Consumers created (the first, and one per reconnect / stream change). */
  consumers: number;
  /** Times the stream was found created again or truncated below the position. */
  streamResets: number;
}

export type FollowerState = 'stopped' | 'connecting' | 'following' | 'retrying' | 'blocked';

export class StreamFollower<T, R = unknown> {
  readonly name: string;
  readonly counters: FollowerCounters = { applied: 0, retries: 0, parked: 0, duplicates: 0, consumers: 0, streamResets: 0 };
  state: FollowerState = 'stopped';
  /** The last failure of the message being retried (or that blocks), for health and logs. */
  lastError: string | null = null;

  private readonly o: Required<Omit<FollowerOptions<T, R>, 'filterSubject' | 'onApplied'>> & Pick<FollowerOptions<T, R>, 'filterSubject' | 'onApplied'>;
  private running = false;
  private done: Promise<void> = Promise.resolve();
  private current: ConsumerMessages | null = null;
  private wake: (() => void) | null = null;
  private parkRequested: string | null = null;
  /** Rejects when stop() is called: JetStream API requests in flight are not waited for. */
  private stopped: Promise<never> = new Promise<never>(() => {});
  private signalStop: () => void = () => {};
  private readonly st;

  /** Set once the hub was reached (the agent starts without it: `NatsLink`). */
  private nc!: NatsConnection;
  private readonly ncSource: NatsSource;

  constructor(private readonly db: Db, nc: NatsSource, opts: FollowerOptions<T, R>, private readonly log: Logger) {
    this.ncSource = nc;
    this.name = opts.name;
    this.o = { deliver: 'all', maxAttempts: 5, retryDelayMs: 200, maxRetryDelayMs: 5_000, batch: 64, ...opts };
    this.st = {
      pos: db.prepare<[string], { stream_seq: number; stream_created: string | null }>('SELECT stream_seq, stream_created FROM sync_position WHERE follower = ?'),
      setPos: db.prepare<[string, string, number, string | null, string]>(`INSERT INTO sync_position (follower, stream, stream_seq, stream_created, updated_at) VALUES (?, ?, ?, ?, ?)
        ON CONFLICT (follower) DO UPDATE SET stream = excluded.stream, stream_seq = excluded.stream_seq, stream_created = coalesce(excluded.stream_created, sync_position.stream_created), updated_at = excluded.updated_at`),
      park: db.prepare<[string, string, number, string, Buffer, string, number, string, string]>(`INSERT INTO sync_dead_letter (follower, stream, stream_seq, subject, data, reason, attempts, first_failed_at, parked_at)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`),
      open: db.prepare<[string], { n: number }>('SELECT count(*) AS n FROM sync_dead_letter WHERE follower = ? AND resolved_at IS NULL'),
      list: db.prepare<[string, number], DeadLetterRow>('SELECT * FROM sync_dead_letter WHERE follower = ? AND (? = 0 OR resolved_at IS NULL) ORDER BY id'),
      one: db.prepare<[number, string], DeadLetterRow>('SELECT * FROM sync_dead_letter WHERE id = ? AND follower = ?'),
      resolve: db.prepare<[string, string, number]>('UPDATE sync_dead_letter SET resolved_at = ?, resolution = ? WHERE id = ? AND resolved_at IS NULL'),
    };
  }

  /** Stream sequence of the last message applied or parked (0: none yet). */
  position(): number {
    return this.st.pos.get(this.name)?.stream_seq ?? 0;
  }

  /** Dead letters not yet replayed or discarded. */
  openDeadLetters(): number {
    return this.st.open.get(this.name)!.n;
  }

  deadLetters(opts: { open?: boolean } = {}): DeadLetter[] {
    return this.st.list.all(this.name, opts.open === false ? 0 : 1).map(deadLetterOf);
  }

  /**
   * Apply a parked message again (after the cause was fixed), in one transaction with marking it
   * resolved. Throws what the apply throws (the row stays open). The position does not move:
   * the message is already behind it.
   */
  replay(id: number, note = 'replayed'): R {
    const row = this.st.one.get(id, this.name);
    if (!row) throw new Error(`no dead letter ${id} for ${this.name}`);
    if (row.resolved_at) throw new Error(`dead letter ${id} was already resolved (${row.resolution})`);
    const value = this.o.decode(row.data, row.subject);
    const meta = { seq: row.stream_seq, subject: row.subject };
    const result = this.db.transaction(() => {
      const r = this.o.apply(value, meta);
      this.st.resolve.run(new Date().toISOString(), note, id);
      return r;
    }).immediate();
    this.log.info({ follower: this.name, id, seq: row.stream_seq }, 'dead letter replayed');
    this.o.onApplied?.(value, result, meta);
    return result;
  }

  /** Close a dead letter without applying it (someone decided it does not apply). */
  discard(id: number, note: string): void {
    if (!note.trim()) throw new Error('say why the message is discarded');
    if (this.st.resolve.run(new Date().toISOString(), `discarded: ${note.trim()}`, id).changes === 0) throw new Error(`no open dead letter ${id}`);
    this.log.warn({ follower: this.name, id, note }, 'dead letter discarded');
  }

  /** `block` streams: park the message the follower is blocked on, so it moves on. */
  parkBlocked(reason: string): void {
    this.parkRequested = reason || 'parked by an operator';
    this.wake?.();
  }

  health(): { ok: boolean; detail: string } {
    const open = this.openDeadLetters();
    const parts = [`${this.state}`, `position ${this.position()}`, `${this.counters.applied} applied`];
    if (open) parts.push(`${open} dead letter(s)`);
    if (this.lastError && (this.state === 'retrying' || this.state === 'blocked')) parts.push(`last error: ${this.lastError}`);
    // Dead letters are named in the detail but keep the check ok: /healthz is also the network
    // monitor's reachability probe (network-monitor/probes.ts), and a parked message is not an edge
    // that is down; edge_sync_dead_letters is what to alert on. A blocked follower is not ok.
    return { ok: this.state !== 'blocked', detail: `${this.name}: ${parts.join(', ')}` };
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.stopped = new Promise<never>((_, reject) => { this.signalStop = () => reject(new Error('follower stopped')); });
    this.stopped.catch(() => undefined);
    this.state = 'connecting';
    this.done = (async () => {
      // An edge started while the hub is unreachable: follow once it answers (or not, if stopped first).
      this.nc = await this.untilStopped(Promise.resolve(this.ncSource));
      if (!this.running) return;
      await Promise.all([this.loop(), this.watchConnection()]);
    })().catch((e: Error) => {
      if (this.running) this.log.error({ follower: this.name, err: e.message }, 'follower ended');
    });
  }

  async stop(): Promise<void> {
    this.running = false;
    this.signalStop();
    this.wake?.();
    this.statusIter?.stop();
    void this.current?.close().catch(() => undefined);
    await this.done;
    this.state = 'stopped';
  }

  private statusIter: { stop(): void } | null = null;

  /** After a reconnect the broker may have restarted, lost or recreated the stream: start over from the durable position. */
  private async watchConnection(): Promise<void> {
    const status = this.nc.status();
    // The iterator the client returns is a QueuedIterator with stop(); its type says only AsyncIterable.
    this.statusIter = status as unknown as { stop(): void };
    if (!this.running) return;
    for await (const s of status) {
      if (!this.running) break;
      if (s.type === 'reconnect') {
        this.log.debug({ follower: this.name }, 'reconnected: recreating the consumer from the stored position');
        void this.current?.close().catch(() => undefined);
      }
    }
  }

  private untilStopped<V>(p: Promise<V>): Promise<V> {
    p.catch(() => undefined); // settles after stop(): nobody awaits it any more
    return Promise.race([p, this.stopped]);
  }

  /** Waits `ms`, or less when stop() or parkBlocked() wakes it. */
  private pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => { clearTimeout(timer); if (this.wake === done) this.wake = null; resolve(); };
      const timer = setTimeout(done, ms);
      this.wake = done;
    });
  }

  private async loop(): Promise<void> {
    const js = jetstream(this.nc);
    let delay = this.o.retryDelayMs;
    while (this.running && !this.nc.isClosed()) {
      this.state = 'connecting';
      try {
        // A request the broker does not answer (restarting, stream gone) would hold stop() up to
        // the client's request timeout: race each one against stop.
        const from = await this.untilStopped(this.checkStream());
        const last = this.o.deliver === 'last_per_subject';
        const consumer = await this.untilStopped(js.consumers.get(this.o.stream, {
          ...(this.o.filterSubject ? { filter_subjects: this.o.filterSubject } : {}),
          ...(last ? { deliver_policy: DeliverPolicy.LastPerSubject } : from > 0 ? { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: from + 1 } : { deliver_policy: DeliverPolicy.All }),
        }));
        // Stream or consumer gone: end the iterator, so this loop looks at the stream again.
        const consuming = consumer.consume({ max_messages: this.o.batch, abort_on_missing_resource: true });
        consuming.then((m) => { if (!this.running) void m.close().catch(() => undefined); }, () => undefined);
        const messages = await this.untilStopped(consuming);
        this.current = messages;
        this.counters.consumers++;
        this.state = 'following';
        delay = this.o.retryDelayMs;
        let turnStart = performance.now();
        for await (const m of messages) {
          if (!this.running) break;
          await this.handle(m);
          if (!this.running) break;
          // The consumer hands over what it has buffered (up to `batch` messages) without a turn of
          // the event loop, and each apply commits with an fsync on this thread: give the loop a
          // turn every few ms, so device writes and UI requests are not held for a whole batch (2,000
          // EMPI person changes after a bulk registration held the edge's main thread 419 ms).
          if (performance.now() - turnStart > YIELD_AFTER_MS) {
            await new Promise((r) => setImmediate(r));
            turnStart = performance.now();
          }
        }
      } catch (e) {
        if (!this.running) break;
        this.log.debug({ follower: this.name, err: (e as Error).message }, 'stream not available; retrying');
      }
      this.current = null;
      if (!this.running) break;
      await this.pause(delay);
      delay = Math.min(delay * 2, this.o.maxRetryDelayMs);
    }
  }

  /** Compares the stored position with the stream; returns the position to resume from. */
  private async checkStream(): Promise<number> {
    const jsm = await jetstreamManager(this.nc, { checkAPI: false });
    const info = await jsm.streams.info(this.o.stream);
    const pos = this.st.pos.get(this.name);
    const created = info.created;
    const now = new Date().toISOString();
    if (!pos) {
      this.st.setPos.run(this.name, this.o.stream, 0, created, now);
      return 0;
    }
    if (pos.stream_created && pos.stream_created !== created) {
      this.counters.streamResets++;
      this.log.warn({ follower: this.name, stream: this.o.stream, position: pos.stream_seq, was: pos.stream_created, created }, 'stream was created again (broker store lost): following it from its start');
      this.st.setPos.run(this.name, this.o.stream, 0, created, now);
      return 0;
    }
    if (pos.stream_seq > info.state.last_seq) {
      this.counters.streamResets++;
      this.log.warn({ follower: this.name, stream: this.o.stream, position: pos.stream_seq, lastSeq: info.state.last_seq }, 'stream ends below the stored position (broker lost its tail): following from its last message');
      this.st.setPos.run(this.name, this.o.stream, info.state.last_seq, created, now);
      return info.state.last_seq;
    }
    if (!pos.stream_created) this.st.setPos.run(this.name, this.o.stream, pos.stream_seq, created, now);
    return pos.stream_seq;
  }

  private async handle(m: JsMsg): Promise<void> {
    const seq = m.seq;
    const subject = m.subject;
    const meta = { seq, subject };
    let attempts = 0;
    let firstFailedAt: string | null = null;
    for (;;) {
      let permanent = false;
      try {
        let value: T;
        try {
          value = this.o.decode(m.data, subject);
        } catch (e) {
          throw e instanceof PermanentApplyError ? e : new PermanentApplyError(`invalid message: ${(e as Error).message}`);
        }
        const out = this.db.transaction((): { dup: true } | { dup: false; result: R } => {
          if (seq <= (this.st.pos.get(this.name)?.stream_seq ?? 0)) return { dup: true };
          const result = this.o.apply(value, meta);
          this.st.setPos.run(this.name, this.o.stream, seq, null, new Date().toISOString());
          return { dup: false, result };
        }).immediate();
        if (out.dup) { this.counters.duplicates++; return; }
        this.counters.applied++;
        this.lastError = null;
        if (this.state !== 'following') this.log.info({ follower: this.name, seq, attempts: attempts + 1 }, 'message applied after retries');
        this.state = 'following';
        try {
          this.o.onApplied?.(value, out.result, meta);
        } catch (e) {
          this.log.error({ follower: this.name, seq, err: (e as Error).message }, 'onApplied failed (the message is applied)');
        }
        return;
      } catch (e) {
        attempts++;
        firstFailedAt ??= new Date().toISOString();
        permanent = e instanceof PermanentApplyError;
        this.lastError = (e as Error).message;
      }
      const reason = `${permanent ? 'permanent' : 'failed'} after ${attempts} attempt(s): ${this.lastError}`;
      if (this.parkRequested !== null || (this.o.onFailure === 'park' && (permanent || attempts >= this.o.maxAttempts))) {
        const why = this.parkRequested !== null ? `${this.parkRequested} (${reason})` : reason;
        this.parkRequested = null;
        if (this.park(m, why, attempts, firstFailedAt)) return;
        // the park itself failed (database): keep retrying like any failure
      }
      if (!this.running) return; // not applied, position not moved: delivered again on the next start
      const blocked = this.o.onFailure === 'block' && (permanent || attempts >= this.o.maxAttempts);
      if (blocked && this.state !== 'blocked') this.log.error({ follower: this.name, seq, subject, attempts, err: this.lastError }, 'follower blocked: this message must apply before the next ones (parkBlocked() moves past it)');
      else if (!blocked) this.log.warn({ follower: this.name, seq, subject, attempts, err: this.lastError }, 'apply failed; retrying');
      this.state = blocked ? 'blocked' : 'retrying';
      this.counters.retries++;
      await this.pause(Math.min(this.o.retryDelayMs * 2 ** (attempts - 1), this.o.maxRetryDelayMs));
      if (!this.running) return;
    }
  }

  /** Dead letter + position in one transaction. False if that failed too. */
  private park(m: JsMsg, reason: string, attempts: number, firstFailedAt: string | null): boolean {
    const now = new Date().toISOString();
    try {
      const parked = this.db.transaction(() => {
        if (m.seq <= (this.st.pos.get(this.name)?.stream_seq ?? 0)) return false;
        this.st.park.run(this.name, this.o.stream, m.seq, m.subject, Buffer.from(m.data), reason, attempts, firstFailedAt ?? now, now);
        this.st.setPos.run(this.name, this.o.stream, m.seq, null, now);
        return true;
      }).immediate();
      if (parked) {
        this.counters.parked++;
        this.log.error({ follower: this.name, seq: m.seq, subject: m.subject, attempts, reason }, 'message parked in the dead-letter table (sync_dead_letter); the stream continues');
      }
      this.state = 'following';
      this.lastError = null;
      return true;
    } catch (e) {
      this.log.error({ follower: this.name, seq: m.seq, err: (e as Error).message }, 'could not park the message');
      return false;
    }
  }
}

/** JSON + schema decode, for `decode`. */
export function jsonDecoder<T>(schema: { parse(v: unknown): T }): (data: Uint8Array) => T {
  return (data) => {
    let v: unknown;
    try {
      v = JSON.parse(Buffer.from(data).toString('utf8'));
    } catch {
      throw new PermanentApplyError('not JSON');
    }
    try {
      return schema.parse(v);
    } catch (e) {
      const issues = (e as { issues?: { path: (string | number)[]; message: string }[] }).issues;
      throw new PermanentApplyError(issues ? `schema: ${issues.slice(0, 3).map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}` : (e as Error).message);
    }
  };
}

// Metrics: one set per registry, labelled by follower, read at scrape time.
const metricSets = new WeakMap<Registry, Set<FollowerView>>();

/** What the metrics read of a follower (any message type). */
export interface FollowerView { readonly name: string; readonly counters: FollowerCounters; readonly state: FollowerState; position(): number; openDeadLetters(): number }

/** Exposes the follower on the agent's /metrics (edge_sync_*{follower}); returns the undo. */
export function registerFollowerMetrics(registry: Registry, f: FollowerView): () => void {
  let set = metricSets.get(registry);
  if (!set) {
    const followers = new Set<FollowerView>();
    set = followers;
    metricSets.set(registry, followers);
    const n = metricNames.edge;
    const counter = (name: string, help: string, pick: (c: FollowerCounters) => number) => {
      const last = new Map<string, number>();
      new Counter({
        name, help, labelNames: ['follower'], registers: [registry],
        collect() {
          for (const x of followers) {
            const v = pick(x.counters);
            const before = last.get(x.name) ?? 0;
            if (v > before) this.inc({ follower: x.name }, v - before);
            else this.inc({ follower: x.name }, 0);
            last.set(x.name, v);
          }
        },
      });
    };
    counter(n.syncApplied, 'Messages from central applied by a stream follower', (c) => c.applied);
    counter(n.syncRetries, 'Failed applies that a stream follower retried', (c) => c.retries);
    counter(n.syncParked, 'Messages a stream follower parked in the dead-letter table', (c) => c.parked);
    counter(n.syncStreamResets, 'Times a followed stream was found created again or truncated below the position', (c) => c.streamResets);
    new Gauge({ name: n.syncDeadLetters, help: 'Parked messages not yet replayed or discarded (sync_dead_letter)', labelNames: ['follower'], registers: [registry],
      collect() { for (const x of followers) this.set({ follower: x.name }, x.openDeadLetters()); } });
    new Gauge({ name: n.syncPosition, help: 'Stream sequence of the last message applied or parked', labelNames: ['follower'], registers: [registry],
      collect() { for (const x of followers) this.set({ follower: x.name }, x.position()); } });
    new Gauge({ name: n.syncBlocked, help: '1 when a follower is stuck on a message that must apply before the next ones', labelNames: ['follower'], registers: [registry],
      collect() { for (const x of followers) this.set({ follower: x.name }, x.state === 'blocked' ? 1 : 0); } });
  }
  set.add(f);
  return () => { set.delete(f); };
}
