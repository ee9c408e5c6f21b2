/**
 * The edge DICOM SCP: a plain `net.Server` that hands each socket (TCP no-delay set) to
 * one EdgeScp (dcmjs-dimse Scp subclass). We own the listener rather than using
 * dcmjs-dimse's `Server` to bind one interface, cap connections before any byte is read,
 * set no-delay, and close gracefully (wait for stores being committed).
 */
import { createServer, type Server, type Socket } from 'node:net';
import { mkdir } from 'node:fs/promises';
import { releaseDirHandles } from './atomic-file.ts';
import { resolveOptions, type DicomScpOptions } from './config.ts';
import { newCounters, type DicomScpCounters } from './counters.ts';
import { dimseLog, Implementation, quietAssociationText } from './dimse.ts';
import { makeScpClass, type ScpContext } from './scp-connection.ts';
import { StoreWorker } from './store-offload.ts';
import { silentLogger } from './types.ts';

export interface DicomScpServer extends AsyncDisposable {
  readonly host: string;
  /** The bound port (the OS-chosen one when started with port 0). */
  readonly port: number;
  readonly aeTitle: string;
  /** Live counters; read them, do not write. */
  readonly counters: Readonly<DicomScpCounters>;
  /** The store worker (options.storeWorker): 'off', not started yet or gone ('stopped'), 'starting', 'ready'. */
  readonly storeWorker: 'off' | 'starting' | 'ready' | 'stopped';
  /**
   * Is a C-STORE of this SOP instance under way (command received, response not yet sent)? Read
   * on the main thread right before removing a stored file: while it answers false, no rename onto
   * that file's name can happen until the caller yields the event loop.
   */
  isStoring(sopInstanceUid: string): boolean;
  /** Stops accepting, closes every association, waits for stores being committed. */
  close(): Promise<void>;
}

/** Starts the SCP and resolves once it listens. */
export async function startDicomScp(options: DicomScpOptions): Promise<DicomScpServer> {
  const opts = resolveOptions(options, options.log ?? silentLogger);
  await mkdir(opts.storageDir, { recursive: true });
  // dcmjs-dimse logs every association at info level; our logger reports what matters.
  dimseLog.setLevel('silent');
  quietAssociationText();
  // Process-wide in dcmjs-dimse: the largest PDU we advertise.
  Implementation.setMaxPduLength(opts.maxPduLength);
  const counters = newCounters();
  const storeWorker = opts.storeWorker === 'off' ? null : new StoreWorker({ storageDir: opts.storageDir }, opts.log);
  if (storeWorker && opts.storeWorker !== 'lazy') await storeWorker.start();
  const ctx: ScpContext = { opts, counters, pendingAssociations: 0, storageClasses: new Set(opts.storageSopClasses), inflight: new Set(), storeWorker, storing: new Map() };
  const EdgeScp = makeScpClass(ctx);
  const sockets = new Set<Socket>();
  const perHost = new Map<string, number>();

  const server: Server = createServer((socket) => {
    counters.connections++;
    const host = socket.remoteAddress ?? '';
    const fromHost = perHost.get(host) ?? 0;
    // one misbehaving host must not take every slot from the other devices
    if (sockets.size >= opts.maxConnections || fromHost >= opts.maxConnectionsPerHost) {
      counters.connectionsRefused++;
      socket.destroy();
      return;
    }
    perHost.set(host, fromHost + 1);
    socket.setNoDelay(true);
    socket.on('error', () => {}); // reported through the Scp's networkError
    sockets.add(socket);
    counters.activeConnections++;
    socket.once('close', () => {
      sockets.delete(socket);
      counters.activeConnections--;
      const n = (perHost.get(host) ?? 1) - 1;
      if (n <= 0) perHost.delete(host);
      else perHost.set(host, n);
    });
    try {
      new EdgeScp(socket);
    } catch (e) {
      opts.log.error({ event: 'dicom.connection.setup-failed', err: (e as Error).message }, 'could not set up DICOM connection');
      socket.destroy();
    }
  });
  server.on('error', (e) => opts.log.error({ event: 'dicom.server.error', err: e.message }, 'DICOM server error'));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: opts.host, port: opts.port }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const addr = server.address();
  const port = addr && typeof addr === 'object' ? addr.port : opts.port;
  opts.log.info({ event: 'dicom.server.listening', host: opts.host, port, aeTitle: opts.aeTitle }, 'DICOM SCP listening');

  let closed: Promise<void> | null = null;
  const handle: DicomScpServer = {
    host: opts.host,
    port,
    aeTitle: opts.aeTitle,
    counters,
    get storeWorker() {
      return storeWorker ? storeWorker.state : 'off';
    },
    isStoring: (sop) => ctx.storing.has(sop),
    close() {
      closed ??= (async () => {
        const done = new Promise<void>((r) => server.close(() => r()));
        await Promise.allSettled([...ctx.inflight]);
        for (const s of sockets) s.destroy();
        await done;
        // stores aborted by the destroys above: the worker removes their temp files first
        await Promise.allSettled([...ctx.inflight]);
        await storeWorker?.stop();
        releaseDirHandles(opts.storageDir);
      })();
      return closed;
    },
    [Symbol.asyncDispose]() {
      return handle.close();
    },
  };
  return handle;
}
