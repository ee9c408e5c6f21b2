/** Writes the Part 10 preamble and File Meta Information group (PS3.10 7.1), explicit VR LE. */

/**
 * Our implementation class UID: under the 2.25 (UUID) root, which needs no registration.
 * Derived once from a fixed random UUID.
 */
export const IMPLEMENTATION_CLASS_UID = '2.25.201469440191309892858496459957223566645';
export const IMPLEMENTATION_VERSION = 'DPC_EDGE_1';

export interface FileMetaInput {
  sopClassUid: string;
  sopInstanceUid: string;
  transferSyntaxUid: string;
  sourceAe?: string;
}

function element(group: number, el: number, vr: string, value: Buffer): Buffer {
  const long = vr === 'OB';
  const h = Buffer.alloc(long ? 12 : 8);
  h.writeUInt16LE(group, 0);
  h.writeUInt16LE(el, 2);
  h.write(vr, 4, 'latin1');
  if (long) h.writeUInt32LE(value.length, 8);
  else h.writeUInt16LE(value.length, 6);
  return Buffer.concat([h, value]);
}

function padded(s: string, pad: number): Buffer {
  const b = Buffer.from(s, 'latin1');
  return b.length % 2 ? Buffer.concat([b, Buffer.from([pad])]) : b;
}

/** 128-byte preamble + "DICM" + group 0002 with its group length. */
export function fileMetaToBuffer(m: FileMetaInput): Buffer {
  const elems = [
    element(0x0002, 0x0001, 'OB', Buffer.from([0, 1])),
    element(0x0002, 0x0002, 'UI', padded(m.sopClassUid, 0)),
    element(0x0002, 0x0003, 'UI', padded(m.sopInstanceUid, 0)),
    element(0x0002, 0x0010, 'UI', padded(m.transferSyntaxUid, 0)),
    element(0x0002, 0x0012, 'UI', padded(IMPLEMENTATION_CLASS_UID, 0)),
    element(0x0002, 0x0013, 'SH', padded(IMPLEMENTATION_VERSION, 0x20)),
  ];
  if (m.sourceAe) elems.push(element(0x0002, 0x0016, 'AE', padded(m.sourceAe.slice(0, 16), 0x20)));
  const body = Buffer.concat(elems);
  const groupLen = Buffer.alloc(4);
  groupLen.writeUInt32LE(body.length, 0);
  return Buffer.concat([Buffer.alloc(128), Buffer.from('DICM', 'latin1'), element(0x0002, 0x0000, 'UL', groupLen), body]);
}
