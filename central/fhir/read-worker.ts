/** A FHIR reader thread (see readers.ts): answers reads and searches on its own warehouse connection. */
import { parentPort, workerData } from 'node:worker_threads';
import { isOperationOutcomeError } from './outcome.ts';
import { answerRead, type ReadRequest } from './read.ts';
import type { ReaderReply } from './readers.ts';
import { readerStore, type ReaderSource } from './store.ts';

const port = parentPort!;
const { store } = readerStore((workerData as { source: ReaderSource }).source);

port.on('message', (m: { id: number; r: ReadRequest }) => {
  answerRead(store, m.r).then(
    (answer) => port.postMessage({ id: m.id, ok: true, answer } satisfies ReaderReply),
    (e: unknown) => port.postMessage((isOperationOutcomeError(e)
      ? { id: m.id, ok: false, outcome: { status: e.status, code: e.code, message: e.message, expression: e.expression } }
      : { id: m.id, ok: false, message: e instanceof Error ? e.message : String(e) }) satisfies ReaderReply),
  );
});
