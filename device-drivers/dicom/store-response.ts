/**
 * Encodes a C-STORE-RSP P-DATA-TF directly (PS3.7 9.3.1.2). dcmjs-dimse builds each
 * response through dcmjs naturalize/denaturalize, which cost about a tenth of the CPU
 * per stored instance; this fixed, tiny command set is cheaper written by hand.
 */
import { PduType, pduToBuffer } from './pdu.ts';

function element(tag: number, value: Buffer): Buffer {
  const h = Buffer.alloc(8);
  h.writeUInt16LE(tag >>> 16, 0);
  h.writeUInt16LE(tag & 0xffff, 2);
  h.writeUInt32LE(value.length, 4);
  return Buffer.concat([h, value]);
}

const us = (n: number): Buffer => {
  const b = Buffer.alloc(2);
  b.writeUInt16LE(n, 0);
  return b;
};

function text(s: string, pad: number): Buffer {
  const b = Buffer.from(s, 'latin1');
  return b.length % 2 ? Buffer.concat([b, Buffer.from([pad])]) : b;
}

export interface StoreResponseFields {
  presentationContextId: number;
  sopClassUid: string;
  sopInstanceUid: string;
  messageIdBeingRespondedTo: number;
  status: number;
  errorComment?: string;
}

/** Command set in implicit VR LE (always, for commands), wrapped in one PDV and PDU. */
export function storeResponsePdu(f: StoreResponseFields): Buffer {
  const body = Buffer.concat([
    element(0x00000002, text(f.sopClassUid, 0)), // Affected SOP Class UID
    element(0x00000100, us(0x8001)), // Command Field: C-STORE-RSP
    element(0x00000120, us(f.messageIdBeingRespondedTo)), // Message ID Being Responded To
    element(0x00000800, us(0x0101)), // Command Data Set Type: none
    element(0x00000900, us(f.status)), // Status
    ...(f.errorComment && f.status !== 0 ? [element(0x00000902, text(f.errorComment.slice(0, 64), 0x20))] : []), // Error Comment
    element(0x00001000, text(f.sopInstanceUid, 0)), // Affected SOP Instance UID
  ]);
  const groupLength = Buffer.alloc(4);
  groupLength.writeUInt32LE(body.length, 0);
  const command = Buffer.concat([element(0x00000000, groupLength), body]);
  const pdv = Buffer.alloc(6);
  pdv.writeUInt32BE(command.length + 2, 0);
  pdv[4] = f.presentationContextId;
  pdv[5] = 0x03; // command, last fragment
  return pduToBuffer(PduType.PDataTf, Buffer.concat([pdv, command]));
}
