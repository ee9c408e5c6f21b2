/**
 * A lean JetStream publisher for the relay. A JetStream publish is a core NATS request to
 * the stream's subject, answered with a PubAck on the reply subject; `js.publish()` builds a
 * request object, two Error objects (with stack traces) and a timer per message, which at
 * thousands of records per second is most of the relay's CPU. Here: one wildcard
 * subscription for every PubAck, one map of pending publishes, one sweep timer for timeouts.
 * Same wire traffic as `js.publish(subject, data, { msgID })`.
 */
import { headers, type NatsConnection, type Subscription } from '@nats-io/transport-node';
import { randomBytes } from 'node:crypto';

export type PublishDone = (err: Error | null, duplicate: boolean) => void;

export class PublishError extends Error {
  override name = 'PublishError';
  constructor(message: string, readonly code?: number) {
    super(message);
  }
}

interface Pending { done: PublishDone; deadline: number }

export class AckPublisher {
  private readonly prefix: string;
  private readonly sub: Subscription;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private readonly sweep: NodeJS.Timeout;

  /** `inboxPrefix` must be a prefix this connection may subscribe to (the clinic's inbox). */
  constructor(private readonly nc: NatsConnection, inboxPrefix: string, private readonly timeoutMs: number) {
    this.prefix = `${inboxPrefix}.relay.${randomBytes(6).toString('hex')}`;
    this.sub = nc.subscribe(`${this.prefix}.*`, {
      callback: (err, msg) => {
        if (err) return;
        const id = Number(msg.subject.slice(this.prefix.length + 1));
        const p = this.pending.get(id);
        if (!p) return; // timed out already
        this.pending.delete(id);
        if (msg.headers?.hasError) {
          p.done(new PublishError(msg.headers.code === 503 ? 'no responders: no stream listens on this subject' : `broker status ${msg.headers.code} ${msg.headers.description}`, msg.headers.code), false);
          return;
        }
        try {
          const ack = JSON.parse(msg.string()) as { error?: { code?: number; description?: string }; duplicate?: boolean };
          if (ack.error) p.done(new PublishError(`JetStream error: ${ack.error.description ?? 'unknown'}`, ack.error.code), false);
          else p.done(null, ack.duplicate === true);
        } catch {
          p.done(new PublishError('malformed PubAck'), false);
        }
      },
    });
    this.sweep = setInterval(() => this.expire(Date.now()), Math.max(50, Math.min(1000, timeoutMs / 4)));
    this.sweep.unref();
  }

  /** Publish `data` with `Nats-Msg-Id: msgId`; `done` is called once, with the PubAck or an error. */
  publish(subject: string, data: string | Uint8Array, msgId: string, done: PublishDone): void {
    const id = this.nextId++;
    const h = headers();
    h.set('Nats-Msg-Id', msgId);
    this.pending.set(id, { done, deadline: Date.now() + this.timeoutMs });
    try {
      this.nc.publish(subject, data, { reply: `${this.prefix}.${id}`, headers: h });
    } catch (e) {
      this.pending.delete(id);
      done(e instanceof Error ? e : new PublishError(String(e)), false);
    }
  }

  get inflight(): number {
    return this.pending.size;
  }

  private expire(now: number): void {
    // Deadlines grow with insertion order (one timeout for all), so stop at the first live one.
    for (const [id, p] of this.pending) {
      if (p.deadline > now) break;
      this.pending.delete(id);
      p.done(new PublishError(`no PubAck within ${this.timeoutMs} ms`), false);
    }
  }

  /** Fail everything still pending and stop listening. */
  close(): void {
    clearInterval(this.sweep);
    for (const [id, p] of this.pending) {
      this.pending.delete(id);
      p.done(new PublishError('publisher closed'), false);
    }
    try { this.sub.unsubscribe(); } catch { /* connection already closed */ }
  }
}
