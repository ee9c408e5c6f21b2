/**
 * How far a cumulative acknowledgement may go (central's ingest consumer uses AckPolicy.All).
 *
 * With AckPolicy.All an ack of stream sequence S settles every message of the consumer at or
 * below S. That is sound only if every one of them is applied and durable at central. "Batches
 * are settled in delivery order" is not enough: a message the server delivered can be lost on
 * the way (the connection dropped while it was in flight, e.g. a broker restart); the server
 * then holds it as pending and redelivers it only after the ack wait, and a later cumulative ack
 * would settle it unseen. The edge's re-send would not help either: JetStream drops the copy as a
 * duplicate (same Nats-Msg-Id within the duplicate window), so the record would stall at central
 * until that window passed.
 *
 * So the ingest tracks stream sequences: `floor` is the highest sequence at or below which
 * everything is settled (applied and durable, or known not to exist); the ack goes to the
 * highest delivered message at or below the floor. A sequence above the floor that was neither
 * received nor settled is missing (`missing()`): the ingest fetches it from the stream directly
 * (or the server redelivers it after the ack wait) and settles it like any other.
 *
 * This class only does the bookkeeping (no I/O), so that it can be tested exhaustively.
 */

export interface Settled<M> {
  seq: number;
  /** The delivered message, to acknowledge; null for one fetched from the stream directly. */
  msg: M | null;
}

export class AckFloor<M> {
  /** Every sequence at or below is settled. */
  floor: number;
  /** Received (delivered or fetched) and not settled yet. */
  private readonly held = new Set<number>();
  /** Settled above the floor, with the delivered message where there is one. */
  private readonly done = new Map<number, M | null>();
  /** Highest sequence received or settled so far. */
  private top: number;
  /** The delivered message with the highest sequence at or below the floor not acked yet. */
  private ackable: { seq: number; msg: M } | null = null;

  constructor(floor: number) {
    this.floor = floor;
    this.top = floor;
  }

  /**
   * A message arrived. 'new': apply it. 'below': a redelivery of something at or below the floor:
   * acknowledging it again is harmless and lets the server forget it. 'copy': a redelivered copy
   * of a message being applied, or settled above the floor: drop it without an ack (its first
   * copy is or will be covered; acknowledging the copy now would settle lower sequences unseen).
   */
  receive(seq: number): 'new' | 'copy' | 'below' {
    if (seq <= this.floor) return 'below';
    if (this.held.has(seq) || this.done.has(seq)) return 'copy';
    this.held.add(seq);
    if (seq > this.top) this.top = seq;
    return 'new';
  }

  /**
   * Messages applied and durable (or known absent from the stream). Returns the delivered
   * message to acknowledge cumulatively, or null when the floor did not pass a new one.
   */
  settle(items: Iterable<Settled<M>>): M | null {
    for (const { seq, msg } of items) {
      this.held.delete(seq);
      if (seq <= this.floor) continue;
      this.done.set(seq, msg);
      if (seq > this.top) this.top = seq;
    }
    for (;;) {
      const next = this.floor + 1;
      if (!this.done.has(next)) break;
      const msg = this.done.get(next)!;
      this.done.delete(next);
      this.floor = next;
      if (msg !== null) this.ackable = { seq: next, msg };
    }
    const a = this.ackable;
    this.ackable = null;
    return a ? a.msg : null;
  }

  /** A held message will not be settled by this holder (it gave up on it): forget it. */
  release(seq: number): void {
    this.held.delete(seq);
  }

  /**
   * Sequences above the floor and below the highest one seen that were neither received nor
   * settled, lowest first, at most `limit`: delivered and lost on the way, or never delivered.
   */
  missing(limit: number): number[] {
    const out: number[] = [];
    for (let s = this.floor + 1; s < this.top && out.length < limit; s++) {
      if (!this.held.has(s) && !this.done.has(s)) out.push(s);
    }
    return out;
  }

  /** Settled above the floor, waiting for a lower sequence (what a gap holds back). */
  get waiting(): number {
    return this.done.size;
  }

  get inFlight(): number {
    return this.held.size;
  }
}
