/**
 * A hand-rolled DICOM peer over a raw TCP socket, for bad-input tests: it sends exactly
 * the bytes a test asks for (valid, truncated or lying) and records what comes back.
 */
import { connect, type Socket } from 'node:net';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { PduFramer, PduType, pduToBuffer, readPdvs } from '../pdu.ts';
import { el } from './dataset-builder.ts';

const implicit = { explicit: false };

function padAe(ae: string): Buffer {
  return Buffer.from(ae.padEnd(16, ' ').slice(0, 16), 'latin1');
}

function item(type: number, body: Buffer): Buffer {
  const h = Buffer.alloc(4);
  h[0] = type;
  h.writeUInt16BE(body.length, 2);
  return Buffer.concat([h, body]);
}

export interface ProposedContext {
  id: number;
  abstractSyntax: string;
  transferSyntaxes: string[];
}

/** A-ASSOCIATE-RQ (PS3.8 9.3.2), field by field. */
export function associateRq(callingAe: string, calledAe: string, contexts: ProposedContext[], maxPdu = 16384): Buffer {
  const fixed = Buffer.concat([
    Buffer.from([0x00, 0x01]), // protocol version 1
    Buffer.from([0x00, 0x00]), // reserved
    padAe(calledAe), // called AE title
    padAe(callingAe), // calling AE title
    Buffer.alloc(32), // reserved
  ]);
  const appContext = item(0x10, Buffer.from('1.2.840.10008.3.1.1.1', 'latin1'));
  const pcs = contexts.map((c) =>
    item(0x20, Buffer.concat([
      Buffer.from([c.id, 0, 0, 0]), // context id, reserved x3
      item(0x30, Buffer.from(c.abstractSyntax, 'latin1')), // abstract syntax
      ...c.transferSyntaxes.map((ts) => item(0x40, Buffer.from(ts, 'latin1'))), // transfer syntaxes
    ])),
  );
  const maxLen = Buffer.alloc(4);
  maxLen.writeUInt32BE(maxPdu, 0);
  const userInfo = item(0x50, Buffer.concat([
    item(0x51, maxLen), // maximum length received
    item(0x52, Buffer.from('1.2.3.4', 'latin1')), // implementation class UID
  ]));
  return pduToBuffer(PduType.AssociateRq, Buffer.concat([fixed, appContext, ...pcs, userInfo]));
}

/** A command set (group 0000, implicit VR LE) with its group length. */
export function commandSet(fields: { sopClassUid: string; command: number; messageId: number; hasDataset: boolean; sopInstanceUid?: string }): Buffer {
  const us = (n: number) => {
    const b = Buffer.alloc(2);
    b.writeUInt16LE(n, 0);
    return b;
  };
  const body = Buffer.concat([
    el(0x00000002, 'UI', fields.sopClassUid, implicit), // affected SOP class
    el(0x00000100, 'US', us(fields.command), implicit), // command field
    el(0x00000110, 'US', us(fields.messageId), implicit), // message id
    ...(fields.command === 0x0001 || fields.command === 0x0020 ? [el(0x00000700, 'US', us(0), implicit)] : []), // priority
    el(0x00000800, 'US', us(fields.hasDataset ? 0x0000 : 0x0101), implicit), // data set type
    ...(fields.sopInstanceUid ? [el(0x00001000, 'UI', fields.sopInstanceUid, implicit)] : []), // affected SOP instance
  ]);
  const len = Buffer.alloc(4);
  len.writeUInt32LE(body.length, 0);
  return Buffer.concat([el(0x00000000, 'UL', len, implicit), body]);
}

/** P-DATA-TF with one PDV. */
export function pdata(pcId: number, value: Buffer, command: boolean, last: boolean): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(value.length + 2, 0);
  return pduToBuffer(PduType.PDataTf, Buffer.concat([len, Buffer.from([pcId, (command ? 1 : 0) | (last ? 2 : 0)]), value]));
}

export const releaseRq = (): Buffer => pduToBuffer(PduType.ReleaseRq, Buffer.alloc(4));

export interface RawPeer {
  socket: Socket;
  pdus: Buffer[];
  closed: Promise<void>;
  isClosed(): boolean;
  send(b: Buffer): Promise<void>;
  /** Waits for the next PDU (or null if the connection closes first). */
  nextPdu(timeoutMs?: number): Promise<Buffer | null>;
  /** C-STORE/C-ECHO/C-FIND response status from a P-DATA response PDU. */
  destroy(): void;
}

export async function rawPeer(port: number, localAddress?: string): Promise<RawPeer> {
  const socket = connect({ port, host: '127.0.0.1', localAddress });
  socket.setNoDelay(true);
  await once(socket, 'connect');
  const framer = new PduFramer(1 << 24);
  const pdus: Buffer[] = [];
  let closedFlag = false;
  socket.on('data', (d: Buffer) => {
    try {
      pdus.push(...framer.push(d));
    } catch {
      // test peers only read well-formed server output
    }
  });
  socket.on('error', () => {});
  const closed = new Promise<void>((r) => socket.once('close', () => { closedFlag = true; r(); }));
  let read = 0;
  return {
    socket,
    pdus,
    closed,
    isClosed: () => closedFlag,
    send: (b) => new Promise((res) => { if (socket.destroyed) res(); else socket.write(b, () => res()); }),
    async nextPdu(timeoutMs = 5000) {
      const deadline = Date.now() + timeoutMs;
      while (Date.now() < deadline) {
        if (pdus.length > read) return pdus[read++]!;
        if (closedFlag) return null;
        await sleep(5);
      }
      throw new Error('no PDU within timeout');
    },
    destroy: () => socket.destroy(),
  };
}

/** Reads the Status (0000,0900) of the command in a response P-DATA PDU. */
export function responseStatus(pdu: Buffer): number | undefined {
  if (pdu[0] !== PduType.PDataTf) return undefined;
  for (const pdv of readPdvs(pdu.subarray(6))) {
    if (!pdv.command) continue;
    const v = pdv.value;
    let off = 0;
    while (off + 8 <= v.length) {
      const g = v.readUInt16LE(off);
      const e = v.readUInt16LE(off + 2);
      const len = v.readUInt32LE(off + 4);
      if (g === 0 && e === 0x0900) return v.readUInt16LE(off + 8);
      off += 8 + len;
    }
  }
  return undefined;
}
