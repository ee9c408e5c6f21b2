/**
 * One writer at a time across central's threads on a SQLite warehouse.
 *
 * SQLite has one write lock per database. When two threads of central write (the ingest on the
 * main thread, the analytics fact worker on its own connection), the one that finds the lock
 * taken waits in SQLite's busy handler, which sleeps 1, 2, 5, 10 ... 100 ms between retries:
 * the two sides lose whole sleeps to each other, and the ingest latency p99 went from 0.2 s to
 * 1-2 s during an analytics catch-up. This gate is a mutex in shared memory that the writers
 * take around their write transactions; a waiter is woken the moment the holder is done
 * (Atomics.notify), so the lock changes hands without sleeps.
 *
 * Inactive (a no-op) until a thread joins: the main thread creates the gate when it starts the
 * fact worker on a SQLite warehouse and passes the buffer in workerData. A holder that dies
 * cannot block the others: the host releases the gate when the worker exits, and a waiter
 * gives up after 5 s and falls back to SQLite's own busy handling.
 */
let cell: Int32Array | null = null;
/** This thread holds the gate (its `fn` is running). */
let held = false;

/** The gate's shared buffer, created on first use (main thread). */
export function writeGateBuffer(): SharedArrayBuffer {
  cell ??= new Int32Array(new SharedArrayBuffer(4));
  return cell.buffer as SharedArrayBuffer;
}

/** Join the gate created by another thread. */
export function joinWriteGate(buf: SharedArrayBuffer): void {
  cell = new Int32Array(buf);
}

/** Release the gate whoever holds it (the host, after a worker that may have held it exited). */
export function releaseWriteGate(): void {
  if (!cell) return;
  Atomics.store(cell, 0, 0);
  Atomics.notify(cell, 0);
}

/** Waits that gave up after 5 s (exposed for metrics and tests). */
export const writeGateStats = { acquired: 0, waited: 0, gaveUp: 0 };

/** Run the synchronous write transaction `fn` holding the gate (just `fn()` when no gate is set). */
export function withWriteGate<T>(fn: () => T): T {
  const c = cell;
  if (!c) return fn();
  // Already held by this thread (a gated write inside a gated transaction): the gate is not
  // re-entrant, so waiting here would wait for ourselves until the 5 s give-up.
  if (held) return fn();
  if (Atomics.compareExchange(c, 0, 0, 1) !== 0) {
    writeGateStats.waited++;
    const deadline = Date.now() + 5_000;
    while (Atomics.compareExchange(c, 0, 0, 1) !== 0) {
      if (Date.now() > deadline) {
        writeGateStats.gaveUp++;
        return fn();
      }
      Atomics.wait(c, 0, 1, 50);
    }
  }
  writeGateStats.acquired++;
  held = true;
  try {
    return fn();
  } finally {
    held = false;
    Atomics.store(c, 0, 0);
    Atomics.notify(c, 0, 1);
  }
}
