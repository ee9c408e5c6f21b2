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
  const reply = async (): Promise<number | 'timeout'> => {
    if (replies.length) return replies.shift()!;
    await new Promise<void>((resolve) => {
      const t = setTimeout(resolve, timeout);
      wake = () => { clearTimeout(t); resolve(); };
    });
    wake = undefined;
    return replies.shift() ?? 'timeout';
  };
  let retransmits = 0;
  try {
    let established = false;
    for (let i = 0; i < attempts && !established; i++) {
      link.write(Buffer.from([ENQ]));
      const r = await reply();
      if (r === ACK) established = true;
      else if (r === NAK) await new Promise((res) => setTimeout(res, o.enqRetryMs ?? 10_000));
    }
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
