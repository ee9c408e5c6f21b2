/**
 * Modbus TCP client written on the MBAP codec in pdu.ts, so every response is validated:
 * protocol id, length, transaction id, unit id, function echo, byte count vs quantity.
 * (modbus-serial's TCP port accepts any protocol id and buffers any announced length.)
 * One request in flight per connection, as most devices expect.
 */
import { connect, type Socket } from 'node:net';
import { DeviceProtocolError, DeviceTimeoutError, ModbusExceptionError } from '../errors.ts';
import { fromBuffer, ModbusFrameError, parseReadResponse, readRequestPdu, toBuffer, type ReadFunction } from './pdu.ts';
import { newTransportCounters, type ModbusTransport, type TransportCounters } from './transport.ts';

interface Pending {
  tid: number;
  unitId: number;
  fc: ReadFunction;
  quantity: number;
  resolve: (v: number[]) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
}

export class ModbusTcpClient implements ModbusTransport {
  private buf: Buffer = Buffer.alloc(0);
  private tid = Math.floor(Math.random() * 0xffff);
  private pending: Pending | undefined;
  private chain: Promise<unknown> = Promise.resolve();
  private queued = 0;
  private closed = false;

  private constructor(private readonly sock: Socket, readonly counters: TransportCounters) {
    sock.setNoDelay(true);
    sock.on('data', (c: Buffer) => this.onData(c));
    sock.on('error', () => undefined); // surfaced via 'close'
    sock.on('close', () => {
      this.closed = true;
      this.fail(new DeviceProtocolError('connection closed', 'modbus', 'closed'));
    });
  }

  /** Connect to host:port (rejects after `timeoutMs`). */
  static connect(host: string, port: number, timeoutMs = 3000, counters: TransportCounters = newTransportCounters()): Promise<ModbusTcpClient> {
    return new Promise((resolve, reject) => {
      const s = connect({ host, port });
      const t = setTimeout(() => { s.destroy(); reject(new DeviceTimeoutError(`connect to ${host}:${port} timed out`, 'modbus', timeoutMs)); }, timeoutMs);
      s.once('connect', () => { clearTimeout(t); s.removeAllListeners('error'); resolve(new ModbusTcpClient(s, counters)); });
      s.once('error', (e) => { clearTimeout(t); reject(new DeviceProtocolError(`connect to ${host}:${port}: ${e.message}`, 'modbus', 'connect', { cause: e })); });
    });
  }

  get open(): boolean {
    return !this.closed;
  }

  read(unitId: number, fc: ReadFunction, address: number, quantity: number, timeoutMs: number): Promise<number[]> {
    // fast path: nothing queued, send now (the common case for a poller)
    if (this.queued === 0) {
      this.queued++;
      const p = this.send(unitId, fc, address, quantity, timeoutMs);
      this.chain = p.then(() => { this.queued--; }, () => { this.queued--; });
      return p;
    }
    this.queued++;
    const run = () => this.send(unitId, fc, address, quantity, timeoutMs);
    const p = this.chain.then(run, run);
    this.chain = p.then(() => { this.queued--; }, () => { this.queued--; });
    return p;
  }

  private send(unitId: number, fc: ReadFunction, address: number, quantity: number, timeoutMs: number): Promise<number[]> {
    if (this.closed) return Promise.reject(new DeviceProtocolError('connection closed', 'modbus', 'closed'));
    const pdu = readRequestPdu(fc, address, quantity);
    this.tid = (this.tid + 1) & 0xffff;
    const tid = this.tid;
    this.counters.requests++;
    return new Promise<number[]>((resolve, reject) => {
      const timer = setTimeout(() => {
        if (this.pending?.tid !== tid) return;
        this.pending = undefined;
        this.counters.timeouts++;
        reject(new DeviceTimeoutError(`no answer from unit ${unitId} within ${timeoutMs} ms (check unit id and address)`, 'modbus', timeoutMs));
      }, timeoutMs);
      this.pending = { tid, unitId, fc, quantity, resolve, reject, timer };
      this.sock.write(toBuffer({ transactionId: tid, unitId, pdu }));
    });
  }

  private onData(chunk: Buffer): void {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    for (;;) {
      let r;
      try {
        r = fromBuffer(this.buf);
      } catch (e) {
        // not Modbus framing: the stream cannot be resynchronised
        this.counters.badFrames++;
        this.closed = true;
        this.fail(new DeviceProtocolError(`bad MBAP frame: ${(e as Error).message}`, 'modbus', 'bad_frame', { cause: e }));
        this.sock.destroy();
        return;
      }
      if (!r) return;
      this.buf = this.buf.subarray(r.length);
      const p = this.pending;
      if (!p || r.adu.transactionId !== p.tid) {
        this.counters.staleResponses++; // a late answer to a request that already timed out
        continue;
      }
      this.pending = undefined;
      clearTimeout(p.timer);
      if (r.adu.unitId !== p.unitId) {
        this.counters.badFrames++;
        p.reject(new DeviceProtocolError(`response from unit ${r.adu.unitId}, asked unit ${p.unitId}`, 'modbus', 'unit'));
        continue;
      }
      try {
        const res = parseReadResponse(r.adu.pdu, p.fc, p.quantity);
        if (res.ok) p.resolve(res.values);
        else {
          this.counters.exceptions++;
          p.reject(new ModbusExceptionError(p.fc, res.exception));
        }
      } catch (e) {
        this.counters.badFrames++;
        p.reject(e instanceof ModbusFrameError ? new DeviceProtocolError(e.message, 'modbus', e.reason, { cause: e }) : (e as Error));
      }
    }
  }

  private fail(e: Error): void {
    const p = this.pending;
    this.pending = undefined;
    if (p) { clearTimeout(p.timer); p.reject(e); }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    await new Promise<void>((resolve) => { this.sock.once('close', () => resolve()); this.sock.destroy(); });
  }
}
