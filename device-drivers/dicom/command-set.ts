/**
 * Reads a DIMSE command set (group 0000, always implicit VR little endian, PS3.7 6.3.1):
 * just the fields the C-STORE fast path needs. Lengths are checked; anything odd throws
 * DatasetError so the caller can abort.
 */
import { DatasetError } from '../../contracts/dicom/dataset-walker.ts';

export interface CommandFields {
  commandField: number;
  messageId: number;
  /** 0x0101 means no data set follows. */
  dataSetType: number;
  affectedSopClassUid: string;
  affectedSopInstanceUid: string;
}

export const C_STORE_RQ = 0x0001;
export const NO_DATA_SET = 0x0101;

export function readCommandSet(buf: Buffer): CommandFields {
  const out: CommandFields = { commandField: -1, messageId: -1, dataSetType: NO_DATA_SET, affectedSopClassUid: '', affectedSopInstanceUid: '' };
  let off = 0;
  while (off < buf.length) {
    if (buf.length - off < 8) throw new DatasetError('truncated command element header', off);
    const group = buf.readUInt16LE(off);
    const element = buf.readUInt16LE(off + 2);
    const len = buf.readUInt32LE(off + 4);
    if (group !== 0x0000) throw new DatasetError(`command set element in group ${group.toString(16)}`, off);
    if (len > buf.length - off - 8) throw new DatasetError(`command element (0000,${element.toString(16)}) declares ${len} bytes, ${buf.length - off - 8} left`, off);
    const v = buf.subarray(off + 8, off + 8 + len);
    const us = () => {
      if (len !== 2) throw new DatasetError(`command element (0000,${element.toString(16)}) must be 2 bytes`, off);
      return v.readUInt16LE(0);
    };
    const ui = () => v.toString('latin1').replace(/[\0 ]+$/, '');
    switch (element) {
      case 0x0002: out.affectedSopClassUid = ui(); break;
      case 0x0100: out.commandField = us(); break;
      case 0x0110: out.messageId = us(); break;
      case 0x0800: out.dataSetType = us(); break;
      case 0x1000: out.affectedSopInstanceUid = ui(); break;
      default: break;
    }
    off += 8 + len;
  }
  return out;
}
