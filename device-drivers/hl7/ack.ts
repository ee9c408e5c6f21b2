/** HL7 v2 acknowledgements (original mode): AA accept, AE error, AR reject. Pure. */
import { encode } from './charset.ts';
import { escapeValue, field, hl7Now, unescape, type Delimiters, type Hl7Message } from './message.ts';

export type AckCode = 'AA' | 'AE' | 'AR';

const DEFAULT_DELIMS: Delimiters = { field: '|', component: '^', repetition: '~', escape: '\\', subcomponent: '&' };

export interface AckOptions {
  code: AckCode;
  /** MSA-3 text / ERR-8 user message: the reason for AE/AR */
  text?: string;
  /** Our application/facility (MSH-3/4 of the ACK) */
  app?: string;
  facility?: string;
  controlId?: string;
  /** MSA-2 when `msg` is null but the control id could still be read */
  ackedControlId?: string;
  now?: Date;
}

/**
 * Build an ACK for `msg` (or for an unparseable message when `msg` is null), encoded in
 * the message's own charset so a GB18030 device reads the Chinese reason text.
 */
export function buildAck(msg: Hl7Message | null, o: AckOptions): Buffer {
  const d = msg?.delimiters ?? DEFAULT_DELIMS;
  const msh = msg?.segments[0];
  const f = d.field;
  const enc = `${d.component}${d.repetition}${d.escape}${d.subcomponent}`;
  const trigger = (field(msh, 9).split(d.component)[1]) ?? '';
  const version = msg?.version || '2.5';
  const ctl = o.controlId ?? `ACK${Date.now()}`;
  const segs = [
    ['MSH', enc, o.app ?? 'EDGE', o.facility ?? '', field(msh, 3), field(msh, 4), hl7Now(o.now), '', `ACK${d.component}${trigger}${d.component}ACK`, ctl, 'P', version, '', '', '', '', '', msg?.charset ?? ''].join(f),
    ['MSA', o.code, escapeValue(msg?.controlId ?? o.ackedControlId ?? '', d), escapeValue((o.text ?? '').slice(0, 80), d)].join(f),
  ];
  if (o.code !== 'AA') {
    // ERR-3 error code (HL7 table 0357: 207 application internal error, 100 segment sequence, 203 unsupported version/charset...)
    const errCode = o.code === 'AE' ? '207' : '200';
    segs.push(['ERR', '', '', `${errCode}${d.component}${o.code === 'AE' ? 'Application internal error' : 'Unsupported'}${d.component}HL70357`, 'E', '', '', '', escapeValue((o.text ?? '').slice(0, 250), d)].join(f));
  }
  return encode(segs.join('\r') + '\r', msg?.encoding ?? 'utf8');
}

/** Parse an ACK's MSA: `{code, controlId, text}`. Used by the HL7 simulator (sender side). */
export function parseAck(msg: Hl7Message): { code: string; controlId: string; text: string } {
  const msa = msg.segments.find((s) => s.id === 'MSA');
  return { code: field(msa, 1), controlId: unescape(field(msa, 2), msg.delimiters), text: unescape(field(msa, 3), msg.delimiters) };
}
