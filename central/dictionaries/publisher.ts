/** Publishes dictionary snapshots to the DICTIONARIES stream (last value per dictionary). */
import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { DICTIONARY_NAMES, STREAMS, dictionarySnapshotSchema, subjects, type DictionaryName, type DictionarySnapshot } from '../../contracts/index.ts';
import { jsonOrNull, type Logger } from '../../contracts/runtime/index.ts';
import type { Warehouse } from '../warehouse/types.ts';

export async function publishDictionary(js: JetStreamClient, snap: DictionarySnapshot, timeoutMs: number): Promise<void> {
  // The msg id makes a re-publish of the same version (after restarts) a no-op at the broker.
  await js.publish(subjects.dictionary(snap.name), JSON.stringify(snap), { msgID: `dict:${snap.name}:${snap.version}`, timeout: timeoutMs });
}

/**
 * Take back from the dictionaries stream what the warehouse lacks: after central was restored
 * from a backup (or starts on a new warehouse) the stream still holds the latest version of each
 * dictionary, and the edges hold it too. Without this the next publish would reuse that version
 * number for other content, and edges that hold it would keep the old content as current.
 * Returns the snapshots taken back, and the version of each dictionary the stream holds (null:
 * none), which the reconcile compares with the warehouse's. A broker without the stream yet:
 * nothing to take back.
 */
export async function recoverDictionaries(jsm: JetStreamManager, wh: Pick<Warehouse, 'latestDictionaries' | 'importDictionary'>, log: Logger): Promise<{ taken: DictionarySnapshot[]; inStream: Map<DictionaryName, number | null> }> {
  const held = new Map((await wh.latestDictionaries()).map((d) => [d.name, d.version]));
  const taken: DictionarySnapshot[] = [];
  const inStream = new Map<DictionaryName, number | null>();
  for (const name of DICTIONARY_NAMES) {
    const snap = await lastInStream(jsm, name, log);
    inStream.set(name, snap?.version ?? null);
    if (!snap || snap.version <= (held.get(name) ?? 0)) continue;
    if (await wh.importDictionary(snap)) {
      taken.push(snap);
      log.warn({ dictionary: name, version: snap.version, warehouseHad: held.get(name) ?? 0 }, 'dictionary version taken back from the stream: the warehouse lacked it (restored from a backup, or a new warehouse); versions between were lost from its history');
    }
  }
  return { taken, inStream };
}

/** The last snapshot of a dictionary in the stream; null when it holds none, no stream exists, or it is not a valid snapshot. */
async function lastInStream(jsm: JetStreamManager, name: DictionaryName, log: Logger): Promise<DictionarySnapshot | null> {
  let data: Uint8Array;
  try {
    const sm = await jsm.streams.getMessage(STREAMS.dictionaries, { last_by_subj: subjects.dictionary(name) });
    if (!sm) return null;
    data = sm.data;
  } catch (e) {
    if (/not found/i.test((e as Error).message)) return null;
    throw e;
  }
  const parsed = dictionarySnapshotSchema.safeParse(jsonOrNull(data));
  if (!parsed.success || parsed.data.name !== name) {
    log.warn({ dictionary: name }, 'the last message of the dictionary in the stream is not a valid snapshot: not taken back');
    return null;
  }
  return parsed.data;
}

/** What `DictionaryDistribution.publish` answers: whether the version reached the stream now. */
export interface Distributed {
  distributed: boolean;
  /** Why not, when not (the hub not reached since start, or the broker's error). */
  reason?: string;
}

/**
 * Central's side of dictionary distribution, with the warehouse as the truth: a version is saved
 * first and then published; when the hub does not answer (central started during a hub outage,
 * or the broker is down), the version is kept as pending and published once it answers. On every
 * connection and reconnection the stream and the warehouse are reconciled both ways: what the
 * stream holds beyond the warehouse is taken back (`recoverDictionaries`), and what the warehouse
 * holds beyond the stream is published. A failed publish used to answer 500 after the version had
 * been saved, without an audit entry, and the version reached the edges only when a later one did.
 */
export class DictionaryDistribution {
  private nc: NatsConnection | null = null;
  /** Dictionaries whose latest version may not be in the stream yet. */
  private readonly pending = new Set<DictionaryName>();
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private stopped = false;
  private lastError: string | null = null;

  constructor(private readonly wh: Pick<Warehouse, 'latestDictionaries' | 'importDictionary'>, private readonly log: Logger, private readonly opts = { retryMs: 10_000, publishTimeoutMs: 3_000 }) {}

  /** The hub answered: reconcile now (and call `reconcileNow` after every reconnection). */
  async attach(nc: NatsConnection): Promise<void> {
    this.nc = nc;
    await this.reconcile();
  }

  /** Publishes a saved version; when the hub does not take it now, it is pending and retried. */
  async publish(snap: DictionarySnapshot): Promise<Distributed> {
    const nc = this.nc;
    if (!nc || nc.isClosed()) return this.defer(snap.name, 'the hub has not been reached since central started');
    try {
      await publishDictionary(jetstream(nc), snap, this.opts.publishTimeoutMs);
      return { distributed: true };
    } catch (e) {
      return this.defer(snap.name, `the hub did not confirm the publication within ${this.opts.publishTimeoutMs} ms (${(e as Error).message})`);
    }
  }

  /** Names of the dictionaries whose latest version has not reached the stream yet. */
  pendingNames(): DictionaryName[] {
    return [...this.pending];
  }

  /** For /healthz: pending distribution is reported, not a failure of central. */
  status(): { ok: boolean; detail: string } {
    if (this.pending.size === 0) return { ok: true, detail: 'every latest version is in the stream' };
    return { ok: true, detail: `not distributed yet: ${[...this.pending].join(', ')}${this.lastError ? ` (last: ${this.lastError})` : ''}` };
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.running;
  }

  private defer(name: DictionaryName, reason: string): Distributed {
    this.pending.add(name);
    this.log.warn({ dictionary: name, err: reason }, 'dictionary version saved but not distributed yet: published when the hub answers');
    this.schedule();
    return { distributed: false, reason };
  }

  private schedule(): void {
    if (this.stopped || this.timer) return;
    this.timer = setTimeout(() => { this.timer = null; this.kick(); }, this.opts.retryMs);
  }

  /** One reconcile at a time; a pending set left after it is retried later. */
  private kick(): void {
    if (this.stopped || this.running) return;
    this.running = this.reconcile().finally(() => { this.running = null; });
  }

  /** Reconcile now (the records stream was recreated: the dictionaries stream may be new too). */
  async reconcileNow(): Promise<void> {
    await this.running;
    this.kick();
    await this.running;
  }

  private async reconcile(): Promise<void> {
    const nc = this.nc;
    if (!nc || this.stopped) return;
    try {
      const jsm = await jetstreamManager(nc, { checkAPI: false });
      const { inStream: held } = await recoverDictionaries(jsm, this.wh, this.log);
      const js = jetstream(nc);
      for (const snap of await this.wh.latestDictionaries()) {
        const inStream = held.get(snap.name) ?? null;
        if (inStream !== null && inStream >= snap.version) { this.pending.delete(snap.name); continue; }
        await publishDictionary(js, snap, this.opts.publishTimeoutMs);
        this.pending.delete(snap.name);
        this.log.info({ dictionary: snap.name, version: snap.version, streamHad: inStream }, 'dictionary version distributed');
      }
      this.lastError = null;
    } catch (e) {
      const msg = (e as Error).message;
      // Once per distinct error: a hub outage can last hours and the retry runs every few seconds.
      if (msg !== this.lastError) this.log.warn({ err: msg, pending: [...this.pending] }, 'dictionaries not reconciled with the stream yet; retrying');
      this.lastError = msg;
    }
    if (this.pending.size > 0 || this.lastError) this.schedule();
  }
}
