/**
 * One DICOM association (dcmjs-dimse `Scp` subclass). Hooks, all against dcmjs-dimse 0.3.3:
 *  - the socket's 'data' listener is replaced by our PduFramer, so every PDU is bounded
 *    (max PDU length), structurally checked, and handled one at a time with socket
 *    backpressure while a C-STORE data set is written to disk;
 *  - every command set is read by us (`readCommandSet`); C-STORE never reaches dcmjs-dimse:
 *    its data set streams into an InstanceSink (temp file + sha256 + structural walk) and
 *    the response, hand-encoded, waits for the durable rename and the caller's onInstance.
 *    Association negotiation, C-ECHO, C-FIND and release stay with dcmjs-dimse.
 */
import type { Socket } from 'node:net';
import type { Writable } from 'node:stream';
import { checkDevice, chooseTransferSyntax, normaliseHost, REJECT_FIELDS, type RejectWhy } from './association-policy.ts';
import type { DicomScpCounters } from './counters.ts';
import type { ResolvedScpOptions } from './config.ts';
import { DatasetWalker, isDatasetError } from '../../contracts/dicom/dataset-walker.ts';
import {
  Scp, constants, internals, responses,
  type DimseAssociation, type DimseCEchoRequest, type DimseCEchoResponse, type DimseCFindRequest, type DimseCFindResponse,
  type DimseNCreateRequest, type DimseNCreateResponse, type DimseNSetRequest, type DimseNSetResponse, type DimsePresentationContext,
} from './dimse.ts';
import { InstanceError, InstanceSink, StoreStatus } from './instance-sink.ts';
import { commitInstance, completeCommit, type StoreOutcome } from './commit-instance.ts';
import { RemoteSink, type StoreWorker } from './store-offload.ts';
import { answerWorklist } from './worklist-service.ts';
import { answerMpps } from './mpps-service.ts';
import { checkPdu, isPduError, joinPdu, PduFramer, PduType, pduToBuffer, readPdvSlices, type FramedPdu, type PdvSlices } from './pdu.ts';
import { C_STORE_RQ, NO_DATA_SET, readCommandSet, type CommandFields } from './command-set.ts';
import { storeResponsePdu } from './store-response.ts';
import type { DicomDevice } from './types.ts';
import { TS } from './uids.ts';

export interface ScpContext {
  opts: ResolvedScpOptions;
  counters: DicomScpCounters;
  /** Associations whose registry lookup is in progress: they hold a slot already. */
  pendingAssociations: number;
  storageClasses: ReadonlySet<string>;
  /** Work that close() waits for (stores being committed). */
  inflight: Set<Promise<unknown>>;
  /** Runs the file side of C-STOREs when several associations receive at once (store-offload.ts); null: always here. */
  storeWorker: StoreWorker | null;
  /**
   * SOP instance UIDs of the C-STOREs under way (from the command until the response, or until
   * the association drops them), with how many: whoever removes stored files (the edge's eviction)
   * must leave these alone, since a rename onto the same name may be coming.
   */
  storing: Map<string, number>;
}

function holdSop(storing: Map<string, number>, sop: string): () => void {
  storing.set(sop, (storing.get(sop) ?? 0) + 1);
  let held = true;
  return () => {
    if (!held) return;
    held = false;
    const n = (storing.get(sop) ?? 1) - 1;
    if (n > 0) storing.set(sop, n);
    else storing.delete(sop);
  };
}

const { PresentationContextResult, Status } = constants;
const MAX_COMMAND_BYTES = 64 * 1024;

interface FastStore {
  pcId: number;
  cmd: CommandFields;
  /** Here (InstanceSink) or in the store worker (RemoteSink). */
  sink: InstanceSink | RemoteSink;
  /** Ends this store's entry in ScpContext.storing (idempotent). */
  release: () => void;
}

/** Re-wraps PDVs into one P-DATA-TF PDU for dcmjs-dimse. */
function pdataPdu(pdvs: PdvSlices[]): Buffer {
  const items = pdvs.map((p) => {
    const h = Buffer.alloc(6);
    h.writeUInt32BE(p.length + 2, 0);
    h[4] = p.presentationContextId;
    h[5] = (p.command ? 1 : 0) | (p.last ? 2 : 0);
    return Buffer.concat([h, ...p.parts]);
  });
  return pduToBuffer(PduType.PDataTf, Buffer.concat(items));
}

/** Resolves when the sink can take more, or is gone. */
function drained(w: Writable): Promise<void> {
  if (w.destroyed || !w.writableNeedDrain) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      w.off('drain', done);
      w.off('close', done);
      resolve();
    };
    w.on('drain', done);
    w.on('close', done);
  });
}

export function makeScpClass(ctx: ScpContext) {
  const { opts, counters } = ctx;
  const log = opts.log;

  return class EdgeScp extends Scp {
    private readonly framer = new PduFramer(opts.maxPduLength);
    private readonly queue: FramedPdu[] = [];
    private pumping = false;
    private state: 'idle' | 'requested' | 'accepted' | 'closed' = 'idle';
    private device: DicomDevice | null = null;
    private callingAe = '';
    private readonly remoteHost: string;
    private fastStore: FastStore | null = null;
    private heldCommand: PdvSlices[] = [];
    private expectingData = false;
    private commandBytes = 0;
    private queryBytes = 0;
    private queryWalker: DatasetWalker | null = null;
    private closing = false;

    constructor(socket: Socket) {
      super(socket, { associationTimeout: opts.associationTimeoutMs, pduTimeout: opts.pduTimeoutMs, connectTimeout: Math.max(opts.pduTimeoutMs, opts.associationTimeoutMs) * 2 });
      this.remoteHost = normaliseHost(socket.remoteAddress ?? '');
      const net = internals(this);
      net.connected = true;
      net.connectedTime = Date.now();
      // Replace dcmjs-dimse's unbounded accumulator (it was the only 'data' listener).
      socket.removeAllListeners('data');
      socket.on('data', (chunk: Buffer) => this.onData(chunk));
      socket.on('close', () => this.onClose());
      this.on('networkError', (e: Error) => {
        if (/timeout/i.test(e.message)) counters.timeouts++;
        this.fail('network', e.message);
      });
    }

    // ---- transport -------------------------------------------------------------------

    private onData(chunk: Buffer): void {
      if (this.closing) return;
      internals(this).statistics.addBytesReceived(chunk.length);
      let pdus: FramedPdu[];
      try {
        // Views into the socket's chunks: a P-DATA-TF that spans chunks is not copied, its
        // PDV values go to the instance sink as the slices they arrived in.
        pdus = this.framer.pushFramed(chunk);
      } catch (e) {
        this.protocolError(e);
        return;
      }
      if (!pdus.length) return;
      this.queue.push(...pdus);
      if (!this.pumping) void this.pump();
    }

    private async pump(): Promise<void> {
      this.pumping = true;
      const net = internals(this);
      net.socket.pause();
      try {
        while (this.queue.length && !this.closing) {
          const pdu = this.queue.shift()!;
          net.lastPduTime = Date.now();
          try {
            const pdvs = this.precheck(pdu);
            if (!pdvs) await net._processPdu(joinPdu(pdu));
            else await this.route(pdvs);
          } catch (e) {
            this.protocolError(e);
            return;
          }
        }
      } finally {
        this.pumping = false;
        if (!this.closing && !net.socket.destroyed) net.socket.resume();
      }
    }

    /** Structure and state checks; returns the PDVs of a P-DATA-TF, null for other PDUs. */
    private precheck(pdu: FramedPdu): PdvSlices[] | null {
      const type = pdu.type;
      // Every PDU but P-DATA-TF is small (<= 64 KiB): checked as one Buffer.
      if (type !== PduType.PDataTf) checkPdu(joinPdu(pdu));
      if (type === PduType.AssociateRq) {
        if (this.state !== 'idle') throw new Error('second A-ASSOCIATE-RQ');
        this.state = 'requested';
        return null;
      }
      if (type !== PduType.PDataTf) return null;
      if (this.state !== 'accepted') throw new Error('P-DATA-TF outside an accepted association');
      // Every PDV length must fit the PDU exactly before any of its PDVs is acted upon.
      const pdvs = readPdvSlices(pdu.parts, pdu.length, 6);
      for (const pdv of pdvs) {
        const pc = internals(this).association?.getPresentationContext(pdv.presentationContextId);
        if (!pc || pc.getResult() !== PresentationContextResult.Accept) throw new Error(`PDV on presentation context ${pdv.presentationContextId}, which is not accepted`);
      }
      return pdvs;
    }

    /**
     * Every command is read here. C-STORE (command and data set) never reaches dcmjs-dimse:
     * its data streams straight into an InstanceSink and the response is written by hand.
     * Everything else (C-ECHO, C-FIND, release...) is re-wrapped and handed to dcmjs-dimse.
     */
    private async route(pdvs: PdvSlices[]): Promise<void> {
      const forward: PdvSlices[] = [];
      for (const pdv of pdvs) {
        const store = this.fastStore;
        if (store) {
          if (pdv.command || pdv.presentationContextId !== store.pcId) throw new Error('PDV of another message before the C-STORE data set ended');
          let more = true;
          for (const part of pdv.parts) more = store.sink.write(part);
          if (pdv.last) {
            this.fastStore = null;
            store.sink.end();
            this.completeStore(store);
          } else if (!more) {
            await (store.sink instanceof RemoteSink ? store.sink.drained() : drained(store.sink));
          }
          continue;
        }
        if (pdv.command) {
          if (this.expectingData) throw new Error('command PDV while a data set was expected');
          this.commandBytes += pdv.length;
          if (this.commandBytes > MAX_COMMAND_BYTES) throw new Error(`command set larger than ${MAX_COMMAND_BYTES} bytes`);
          this.heldCommand.push(pdv);
          if (!pdv.last) continue;
          const cmd = readCommandSet(Buffer.concat(this.heldCommand.flatMap((p) => p.parts)));
          const held = this.heldCommand;
          this.heldCommand = [];
          this.commandBytes = 0;
          if (cmd.commandField === C_STORE_RQ && cmd.dataSetType !== NO_DATA_SET) {
            this.fastStore = this.startStore(pdv.presentationContextId, cmd);
            continue;
          }
          this.expectingData = cmd.dataSetType !== NO_DATA_SET;
          forward.push(...held);
          continue;
        }
        if (!this.expectingData) throw new Error('data set PDV without a command');
        this.checkQueryPdv(pdv);
        if (pdv.last) this.expectingData = false;
        forward.push(pdv);
      }
      if (forward.length) await internals(this)._processPdu(pdataPdu(forward));
    }

    /** Query identifiers are parsed by dcmjs in one go: bound their size and nesting first. */
    private checkQueryPdv(pdv: PdvSlices): void {
      const pc = internals(this).association!.getPresentationContext(pdv.presentationContextId);
      this.queryBytes += pdv.length;
      if (this.queryBytes > opts.maxQueryBytes) throw new Error(`query identifier larger than ${opts.maxQueryBytes} bytes`);
      this.queryWalker ??= new DatasetWalker({ explicitVr: pc.getAcceptedTransferSyntaxUid() !== TS.implicitLE, maxDepth: 8 });
      for (const part of pdv.parts) this.queryWalker.push(part);
      if (pdv.last) {
        this.queryWalker.finish();
        this.queryWalker = null;
        this.queryBytes = 0;
      }
    }

    private protocolError(e: unknown): void {
      counters.protocolErrors++;
      const msg = e instanceof Error ? e.message : String(e);
      const kind = isPduError(e) ? e.code : isDatasetError(e) ? 'dataset' : 'state';
      this.fail(kind, msg, true);
    }

    /** Abort (when associated) and close; never throws. */
    private fail(kind: string, message: string, abort = false): void {
      if (this.closing) return;
      this.closing = true;
      log.warn({ event: 'dicom.association.error', kind, message, callingAe: this.callingAe, remoteHost: this.remoteHost }, 'DICOM association closed after an error');
      const net = internals(this);
      this.dropCurrentSink();
      if (abort && !net.socket.destroyed) {
        // A-ABORT, service provider, reason 0: written raw, dcmjs-dimse may be mid-state.
        net.socket.write(Buffer.from([PduType.Abort, 0, 0, 0, 0, 4, 0, 0, 2, 0]));
        counters.aborts++;
      }
      net.socket.end();
      setTimeout(() => net.socket.destroy(), 2000).unref();
    }

    private dropCurrentSink(): void {
      const s = this.fastStore?.sink;
      // A dropped store never reaches its rename: nothing of it can land on the final name.
      this.fastStore?.release();
      this.fastStore = null;
      if (s instanceof RemoteSink) {
        s.destroy();
        // close() waits until the worker has removed the temp file
        ctx.inflight.add(s.settled);
        void s.settled.then(() => ctx.inflight.delete(s.settled));
      } else if (s && !s.writableFinished) s.destroy();
    }

    private onClose(): void {
      this.closing = true;
      this.dropCurrentSink();
      if (this.state === 'accepted') counters.activeAssociations--;
      this.state = 'closed';
    }

    // ---- association ---------------------------------------------------------------

    override associationRequested(assoc: DimseAssociation): void {
      this.callingAe = assoc.getCallingAeTitle().trim();
      const calledAe = assoc.getCalledAeTitle().trim();
      void this.decide(assoc, calledAe).catch((e: Error) => {
        log.error({ event: 'dicom.association.lookup-failed', callingAe: this.callingAe, err: e.message }, 'device lookup failed');
        this.reject('unavailable', calledAe);
      });
    }

    private async decide(assoc: DimseAssociation, calledAe: string): Promise<void> {
      if (!opts.acceptAnyCalledAe && calledAe !== opts.aeTitle) return this.reject('called-ae', calledAe);
      // Take the slot before the (possibly slow) lookup, so a burst cannot overshoot the limit.
      if (counters.activeAssociations + ctx.pendingAssociations >= opts.maxAssociations) return this.reject('limit', calledAe);
      ctx.pendingAssociations++;
      let device: DicomDevice | null;
      try {
        device = await opts.lookupDevice(this.callingAe, this.remoteHost);
      } finally {
        ctx.pendingAssociations--;
      }
      const why = checkDevice(device, this.remoteHost);
      if (why) return this.reject(why, calledAe, device);
      if (this.closing) return;
      this.device = device;
      for (const { context } of assoc.getPresentationContexts()) this.negotiate(context);
      this.state = 'accepted';
      counters.activeAssociations++;
      counters.associationsAccepted++;
      // Two associations at once: time for the store worker (started once; 'eager' has it already).
      if (counters.activeAssociations > 1 && opts.storeWorker === 'lazy') void ctx.storeWorker?.start();
      log.info({ event: 'dicom.association.accepted', callingAe: this.callingAe, remoteHost: this.remoteHost, room: device!.room }, 'DICOM association accepted');
      // dcmjs-dimse writes min(peer max, ours) into the A-ASSOCIATE-AC, but the AC must carry
      // what *we* can receive (PS3.8 D.1): advertise ours, then send within the peer's limit.
      const peerMax = assoc.getMaxPduLength();
      assoc.setMaxPduLength(opts.maxPduLength);
      this.sendAssociationAccept();
      assoc.setMaxPduLength(peerMax === 0 ? opts.maxPduLength : peerMax);
    }

    private negotiate(pc: DimsePresentationContext): void {
      const ts = chooseTransferSyntax(pc.getAbstractSyntaxUid(), pc.getTransferSyntaxUids(), ctx.storageClasses, opts.storageTransferSyntaxes, !!opts.worklistProvider, !!opts.mppsProvider);
      if (ts === 'abstract-not-supported') pc.setResult(PresentationContextResult.RejectAbstractSyntaxNotSupported);
      else if (ts === null) pc.setResult(PresentationContextResult.RejectTransferSyntaxesNotSupported);
      else pc.setResult(PresentationContextResult.Accept, ts);
    }

    private reject(why: RejectWhy, calledAe: string, device: DicomDevice | null = null): void {
      const f = REJECT_FIELDS[why];
      counters.associationsRejected++;
      const key = ({ 'called-ae': 'rejectedCalledAe', 'unknown-ae': 'rejectedUnknownAe', 'host-mismatch': 'rejectedHostMismatch', disabled: 'rejectedDisabled', limit: 'rejectedLimit', unavailable: 'rejectedUnavailable' } as const)[why];
      counters[key]++;
      log.warn({ event: 'dicom.association.rejected', reason: why, callingAe: this.callingAe, calledAe, remoteHost: this.remoteHost }, 'DICOM association rejected');
      this.state = 'closed';
      this.sendAssociationReject(f.result, f.source, f.reason);
      const s = internals(this).socket;
      s.end();
      setTimeout(() => s.destroy(), 2000).unref();
      try {
        opts.onAssociationRejected({ reason: why, callingAe: this.callingAe, calledAe, remoteHost: this.remoteHost, device, at: new Date().toISOString() });
      } catch (e) {
        log.error({ event: 'dicom.association.rejected-hook-failed', err: (e as Error).message }, 'onAssociationRejected threw (ignored)');
      }
    }

    override associationReleaseRequested(): void {
      this.sendAssociationReleaseResponse();
    }

    override abort(): void {
      counters.aborts++;
      log.warn({ event: 'dicom.association.aborted-by-peer', callingAe: this.callingAe, remoteHost: this.remoteHost }, 'peer aborted the association');
      this.dropCurrentSink();
      internals(this).socket.destroy();
    }

    // ---- services ------------------------------------------------------------------

    override cEchoRequest(request: DimseCEchoRequest, callback: (r: DimseCEchoResponse) => void): void {
      counters.echoes++;
      const r = responses.CEchoResponse.fromRequest(request);
      r.setStatus(Status.Success);
      callback(r);
    }

    private startStore(pcId: number, cmd: CommandFields): FastStore {
      const pc = internals(this).association!.getPresentationContext(pcId);
      const sinkOpts = {
        root: opts.storageDir,
        transferSyntaxUid: pc.getAcceptedTransferSyntaxUid() ?? TS.implicitLE,
        sopClassUid: cmd.affectedSopClassUid,
        sopInstanceUid: cmd.affectedSopInstanceUid,
        callingAe: this.callingAe,
        maxInstanceBytes: opts.maxInstanceBytes,
        maxHeaderBytes: opts.maxHeaderBytes,
        fsync: opts.fsync,
      };
      const onTooLarge = () => {
        counters.storesTooLarge++;
        this.fail('too-large', `instance over ${opts.maxInstanceBytes} bytes`, true);
      };
      const release = holdSop(ctx.storing, cmd.affectedSopInstanceUid);
      // Refused before any byte is written (disk below the edge's reserve): the data set is read and discarded.
      const refusal = this.admission();
      // With company (or always, storeWorker 'all') the file side runs in the store worker.
      const worker = ctx.storeWorker;
      if (worker?.usable && (opts.storeWorker === 'all' || counters.activeAssociations > 1)) {
        const sink = worker.open(sinkOpts, onTooLarge);
        counters.storesInWorker++;
        if (pc.getAbstractSyntaxUid() !== cmd.affectedSopClassUid || !ctx.storageClasses.has(cmd.affectedSopClassUid)) {
          sink.refuse(new InstanceError(`SOP class ${cmd.affectedSopClassUid} not accepted on presentation context ${pcId}`, StoreStatus.SopClassNotSupported, 'mismatch'));
        } else if (refusal) sink.refuse(refusal);
        return { pcId, cmd, sink, release };
      }
      const sink = new InstanceSink(sinkOpts);
      sink.on('error', () => {}); // failures surface through sink.done
      if (pc.getAbstractSyntaxUid() !== cmd.affectedSopClassUid || !ctx.storageClasses.has(cmd.affectedSopClassUid)) {
        sink.refuse(new InstanceError(`SOP class ${cmd.affectedSopClassUid} not accepted on presentation context ${pcId}`, StoreStatus.SopClassNotSupported, 'mismatch'));
      } else if (refusal) sink.refuse(refusal);
      sink.once('too-large', onTooLarge);
      return { pcId, cmd, sink, release };
    }

    /** The caller's admitStore: a refusal as the device's 0xA700 with the caller's words; a throw admits. */
    private admission(): InstanceError | null {
      let why: string | null;
      try {
        why = opts.admitStore();
      } catch (e) {
        log.error({ event: 'dicom.admit.failed', err: (e as Error).message }, 'admitStore threw; the instance is admitted');
        return null;
      }
      if (!why) return null;
      log.warn({ event: 'dicom.store.refused', reason: 'no-space', message: why, callingAe: this.callingAe }, 'C-STORE refused: storage below its reserve');
      return new InstanceError(why, StoreStatus.OutOfResources, 'no-space');
    }

    private completeStore(s: FastStore): void {
      const work = this.store(s).then((status) => {
        const socket = internals(this).socket;
        if (socket.destroyed || this.closing) return;
        socket.write(storeResponsePdu({
          presentationContextId: s.pcId,
          sopClassUid: s.cmd.affectedSopClassUid,
          sopInstanceUid: s.cmd.affectedSopInstanceUid,
          messageIdBeingRespondedTo: s.cmd.messageId,
          status: status.code,
          errorComment: status.comment,
        }));
      });
      ctx.inflight.add(work);
      void work.finally(() => {
        ctx.inflight.delete(work);
        s.release();
      });
    }

    private store({ sink, cmd }: FastStore): Promise<StoreOutcome> {
      const who = { callingAe: this.callingAe, remoteHost: this.remoteHost, device: this.device! };
      if (sink instanceof RemoteSink) {
        return completeCommit(sink.published, { sopClassUid: cmd.affectedSopClassUid, sopInstanceUid: sink.sopInstanceUid, transferSyntaxUid: sink.transferSyntaxUid }, who, opts, counters);
      }
      return commitInstance(sink, cmd.affectedSopClassUid, who, opts, counters);
    }

    override nCreateRequest(request: DimseNCreateRequest, callback: (r: DimseNCreateResponse) => void): void {
      const work = answerMpps('create', request, responses.NCreateResponse.fromRequest(request), { callingAe: this.callingAe, device: this.device! }, opts, counters).then(callback);
      ctx.inflight.add(work);
      void work.finally(() => ctx.inflight.delete(work));
    }

    override nSetRequest(request: DimseNSetRequest, callback: (r: DimseNSetResponse) => void): void {
      const work = answerMpps('set', request, responses.NSetResponse.fromRequest(request), { callingAe: this.callingAe, device: this.device! }, opts, counters).then(callback);
      ctx.inflight.add(work);
      void work.finally(() => ctx.inflight.delete(work));
    }

    override cFindRequest(request: DimseCFindRequest, callback: (r: DimseCFindResponse[]) => void): void {
      const ts = internals(this).association?.getAcceptedPresentationContextFromRequest(request)?.getAcceptedTransferSyntaxUid() ?? TS.implicitLE;
      const work = answerWorklist(request, ts, { callingAe: this.callingAe, device: this.device! }, opts, counters).then(callback);
      ctx.inflight.add(work);
      void work.finally(() => ctx.inflight.delete(work));
    }
  };
}
