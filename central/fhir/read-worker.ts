/** A FHIR reader thread (see readers.ts): answers reads and searches on its own warehouse connection. */
import { parentPort, workerData } from 'node:worker_threads';
import { isOperationOutcomeError } from './outcome.ts';
import { answerRead, type ReadRequest } from './read.ts';
import type { ReaderReply } from './readers.ts';
import { readerStore, type ReaderSource } from './store.ts';

const port = parentPort!;
const { store, snapshot } = readerStore((workerData as { source: ReaderSource }).source);

/** Answers of this event-loop turn, posted together (one message, one wake-up of the main thread). */
let out: ReaderReply[] = [];
const reply = (m: ReaderReply) => {
  out.push(m);
  if (out.length === 1) {
    setImmediate(() => {
      const batch = out;
      out = [];
      port.postMessage(batch);
    });
  }
};

// A batch's requests read one snapshot (one read transaction: see `snapshot` in store.ts).
port.on('message', (batch: { id: number; r: ReadRequest }[]) => {
  void snapshot(() => Promise.all(batch.map((m) => answerRead(store, m.r).then(
    (answer) => reply({ id: m.id, ok: true, answer }),
    (e: unknown) => reply(isOperationOutcomeError(e)
      ? { id: m.id, ok: false, outcome: { status: e.status, code: e.code, message: e.message, expression: e.expression } }
      : { id: m.id, ok: false, message: e instanceof Error ? e.message : String(e) }),
  )))).catch((e: unknown) => {
    // BEGIN or COMMIT failed (the answers, if any, were already sent): answer what is left with the error.
    for (const m of batch) reply({ id: m.id, ok: false, message: e instanceof Error ? e.message : String(e) });
  });
});
