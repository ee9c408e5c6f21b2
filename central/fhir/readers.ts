/**
 * Reader threads for the FHIR facade's reads and searches. The main thread keeps everything that
 * must be exact for the whole process — HTTP, bearer tokens and scopes, per-client rate limits, the
 * audit log (group commit) and writes — and hands the read-side work (SQL, mapping to FHIR, JSON
 * text) to a pool of worker threads, each with its own connection to the warehouse (SQLite in WAL
 * mode: readers beside the one writer; PostgreSQL: a small pool each). A request goes to the thread
 * with the fewest requests in flight; the answer comes back as the response's JSON text. Requests
 * of one event-loop turn travel to a thread in one message, and its answers of one turn come back in
 * one (a message wakes the other thread: one wake-up per batch, not per request).
 *
 * Nothing about a request's guarantees changes: the route checks the token, scope and rate before
 * it asks a reader, and answers only after the access's audit entry is stored.
 * Directory types (Organization, Practitioner, Device) stay on the main thread (the staff
 * dictionary lives behind the warehouse object). If a thread cannot start or dies, its requests
 * in flight run again on the main thread (reads have no side effects) and so do later ones when no
 * thread is left; `onError` is told.
 *
 *   const readers = new ReadPool({ kind: 'sqlite', file }, 2, fhirStoreFor(wh));
 *   const answer = await readers.answer({ op: 'read', type: 'Patient', id });
 *   await readers.close();
 */
import { Worker } from 'node:worker_threads';
import { workerBootstrap } from '../../contracts/runtime/ts-worker.ts';
import { OperationOutcomeError, type HttpStatus, type IssueType } from './outcome.ts';
import { answerRead, isDirectory, type ReadAnswer, type ReadRequest } from './read.ts';
import type { FhirStore, ReaderSource } from './store.ts';

/** What a reader thread posts back. */
export type ReaderReply =
  | { id: number; ok: true; answer: ReadAnswer }
  | { id: number; ok: false; outcome?: { status: HttpStatus; code: IssueType; message: string; expression?: string }; message?: string };

const ENTRY = new URL('./read-worker.ts', import.meta.url);

interface Waiting { r: ReadRequest; resolve: (a: ReadAnswer) => void; reject: (e: Error) => void }
/** `outbox`: requests of this event-loop turn, posted together (one message, one wake-up of the thread). */
interface Thread { w: Worker; inflight: Map<number, Waiting>; outbox: { id: number; r: ReadRequest }[]; dead: boolean }

export class ReadPool {
  private readonly threads: Thread[] = [];
  private ids = 0;
  private closing = false;
  /** Requests answered by reader threads / on the main thread; threads lost. */
  readonly stats = { threaded: 0, local: 0, failures: 0 };

  constructor(private readonly source: ReaderSource, size: number, private readonly local: FhirStore, private readonly onError?: (err: Error) => void) {
    for (let i = 0; i < size; i++) this.threads.push(this.start());
  }

  /** Threads alive. */
  get size(): number {
    return this.threads.filter((t) => !t.dead).length;
  }

  answer(r: ReadRequest): Promise<ReadAnswer> {
    let best: Thread | undefined;
    if (!isDirectory(r.type)) for (const t of this.threads) if (!t.dead && (!best || t.inflight.size < best.inflight.size)) best = t;
    if (!best || this.closing) {
      this.stats.local++;
      return answerRead(this.local, r);
    }
    const t = best;
    return new Promise((resolve, reject) => {
      const id = ++this.ids;
      if (t.inflight.size === 0) t.w.ref(); // a request in flight keeps the process alive; an idle pool does not
      t.inflight.set(id, { r, resolve, reject });
      t.outbox.push({ id, r });
      if (t.outbox.length === 1) setImmediate(() => this.post(t));
    });
  }

  /** Post the turn's requests to the thread in one message (they are in `inflight` already). */
  private post(t: Thread): void {
    const batch = t.outbox;
    t.outbox = [];
    if (!t.dead && batch.length) t.w.postMessage(batch);
  }

  private start(): Thread {
    const w = new Worker(workerBootstrap(ENTRY, 'throw'), { eval: true, workerData: { source: this.source } });
    w.unref();
    const t: Thread = { w, inflight: new Map(), outbox: [], dead: false };
    w.on('message', (replies: ReaderReply[]) => {
      for (const m of replies) {
        const q = t.inflight.get(m.id);
        if (!q) continue;
        t.inflight.delete(m.id);
        this.stats.threaded++;
        if (m.ok) q.resolve(m.answer);
        else if (m.outcome) q.reject(new OperationOutcomeError(m.outcome.status, m.outcome.code, m.outcome.message, m.outcome.expression));
        else q.reject(new Error(m.message ?? 'reader thread failed'));
      }
      if (t.inflight.size === 0) w.unref();
    });
    const fail = (err: Error) => {
      if (t.dead) return;
      t.dead = true;
      if (this.closing) return;
      this.stats.failures++;
      this.onError?.(err);
      // Reads have no side effects: whatever the thread had in flight is answered here instead.
      for (const q of t.inflight.values()) answerRead(this.local, q.r).then(q.resolve, q.reject);
      t.inflight.clear();
      t.outbox = [];
    };
    w.on('error', (e) => fail(e));
    w.on('exit', (code) => fail(new Error(`FHIR reader thread exited with code ${code}`)));
    return t;
  }

  /** Stop the threads (requests in flight are answered first, for at most `graceMs`). */
  async close(graceMs = 5000): Promise<void> {
    this.closing = true;
    const until = Date.now() + graceMs;
    while (this.threads.some((t) => !t.dead && t.inflight.size > 0) && Date.now() < until) await new Promise((r) => setTimeout(r, 10));
    await Promise.all(this.threads.map(async (t) => {
      if (t.dead) return;
      t.dead = true;
      for (const q of t.inflight.values()) answerRead(this.local, q.r).then(q.resolve, q.reject);
      t.inflight.clear();
      t.outbox = [];
      await t.w.terminate();
    }));
  }
}
