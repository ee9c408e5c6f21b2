/** Builds ORU^R01 messages (used by the simulator, tests and benchmarks). Pure. */
import { encode } from './charset.ts';
import { escapeValue, hl7Now, type Delimiters } from './message.ts';

const D: Delimiters = { field: '|', component: '^', repetition: '~', escape: '\\', subcomponent: '&' };

export interface OruObservation {
  /** OBX-3 identifier, e.g. `8867-4` or `150456` */
  id: string;
  text?: string;
  system?: string;
  value: string | number;
  /** NM (default) or ST */
  valueType?: string;
  unit?: string;
  range?: string;
  flag?: string;
}

export interface OruOptions {
  controlId: string;
  sendingApp?: string;
  sendingFacility?: string;
  patientId?: string;
  /** Patient name, may be Chinese */
  patientName?: string;
  /** MSH-18; default 'UNICODE UTF-8'. 'GB18030' encodes the bytes in GB18030. */
  charset?: string;
  messageType?: string;
  version?: string;
  time?: Date;
  observations: OruObservation[];
}

/** Build one ORU message as bytes in the requested charset (no MLLP framing). */
export function buildOru(o: OruOptions): Buffer {
  const ts = hl7Now(o.time);
  const charset = o.charset ?? 'UNICODE UTF-8';
  const e = (s: string) => escapeValue(s, D);
  const segs = [
    `MSH|^~\\&|${e(o.sendingApp ?? 'MONITOR')}|${e(o.sendingFacility ?? 'WARD1')}|EDGE|CLINIC|${ts}||${o.messageType ?? 'ORU^R01^ORU_R01'}|${e(o.controlId)}|P|${o.version ?? '2.5'}||||||${charset}`,
    `PID|1||${e(o.patientId ?? '')}^^^CLINIC^MR||${e(o.patientName ?? '')}`,
    'PV1|1|O',
    `OBR|1|||VITALS^Vital signs|||${ts}`,
    ...o.observations.map((x, i) => `OBX|${i + 1}|${x.valueType ?? 'NM'}|${e(x.id)}^${e(x.text ?? '')}^${x.system ?? 'LN'}||${e(String(x.value))}|${e(x.unit ?? '')}|${e(x.range ?? '')}|${x.flag ?? ''}|||F|||${ts}`),
  ];
  const text = segs.join('\r') + '\r';
  const enc = /GB|GBK/i.test(charset) ? 'gb18030' : 'utf8';
  return encode(text, enc);
}
