/**
 * E1381 sender (the analyser side), used by the simulators and tests: ENQ, wait ACK, send
 * each frame and wait ACK (retransmit on NAK or timeout, up to 6 times), then EOT.
 * Works over anything with `write` and a 'data' event (TCP socket or serial port).
 */
import { ACK, ENQ, EOT, NAK, messageToFrames } from './frame.ts';

export interface ByteLink {
  write(b: Buffer): unknown;
  on(ev: 'data', fn: (b: Buffer) => void): unknown;
  off(ev: 'data', fn: (b: Buffer) => void): unknown;
}

export interface SendOptions {
  /** E1381: 15 s for a reply */
  replyTimeoutMs?: number;
  /** E1381: 6 attempts per frame */
  maxAttempts?: number;
  /** Wait after a NAKed ENQ before trying again (E1381: 10 s; tests use less) */
  enqRetryMs?: number;
  /**
   * Ends the send at once (AstmSendError): the link closed or the sender is stopping. Without it
   * a send on a dead link would retransmit into nothing for up to 6 x 15 s per frame.
   */
  signal?: AbortSignal;
}

export class AstmSendError extends Error {
  override readonly name = 'AstmSendError';
}

/** Send one message (records) and resolve when the receiver ACKed every frame and we sent EOT. */
export async function sendAstmMessage(link: ByteLink, records: Buffer[], o: SendOptions = {}): Promise<{ frames: number; retransmits: number }> {
  const timeout = o.replyTimeoutMs ?? 15_000;
  const attempts = o.maxAttempts ?? 6;
  const replies: number[] = [];
  let wake: (() => void) | undefined;
  const onData = (b: Buffer) => {
    for (const x of b) if (x === ACK || x === NAK || x === EOT || x === ENQ) replies.push(x);
    wake?.();
  };
  link.on('data', onData);
  const signal = o.signal;
  const aborted = () => new AstmSendError(`send aborted: ${signal?.reason instanceof Error ? signal.reason.message : String(signal?.reason ?? 'link closed')}`);
  /** Waits `ms`, or less if a reply arrives (`wakeOnData`) or the signal aborts. */
  const wait = (ms: number, wakeOnData: boolean) => new Promise<void>((resolve) => {
    const done = () => { clearTimeout(t); signal?.removeEventListener('abort', done); if (wakeOnData) wake = undefined; resolve(); };
    const t = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
    if (wakeOnData) wake = done;
  });
  const reply = async (): Promise<number | 'timeout'> => {
    if (signal?.aborted) throw aborted();
    if (replies.length) return replies.shift()!;
    await wait(timeout, true);
    if (signal?.aborted) throw aborted();
    return replies.shift() ?? 'timeout';
  };
  let retransmits = 0;
  try {
    let established = false;
    for (let i = 0; i < attempts && !established; i++) {
      link.write(Buffer.from([ENQ]));
      const r = await reply();
      if (r === ACK) established = true;
      else if (r === NAK) await wait(o.enqRetryMs ?? 10_000, false);
    }
    if (signal?.aborted) throw aborted();
    if (!established) throw new AstmSendError('receiver did not accept ENQ');
    const frames = messageToFrames(records);
    for (const f of frames) {
      let ok = false;
      for (let i = 0; i < attempts && !ok; i++) {
        if (i > 0) retransmits++;
        link.write(f);
        const r = await reply();
        ok = r === ACK;
        if (r === EOT) throw new AstmSendError('receiver interrupted (EOT)');
      }
      if (!ok) {
        link.write(Buffer.from([EOT]));
        throw new AstmSendError(`frame not acknowledged after ${attempts} attempts`);
      }
    }
    link.write(Buffer.from([EOT]));
    return { frames: frames.length, retransmits };
  } finally {
    link.off('data', onData);
  }
}
