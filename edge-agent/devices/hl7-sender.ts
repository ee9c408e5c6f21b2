/** Thin adapter: the sender name of an HL7 message (MSH-3[@MSH-4], first components), as device-drivers' default resolver builds it. */
import type { Hl7Message } from '../../device-drivers/index.ts';

export function hl7SenderName(msg: Hl7Message): { app: string; full: string } {
  const msh = msg.segments[0];
  const comp = (n: number) => (msh?.fields[n] ?? '').split(msg.delimiters.component)[0] ?? '';
  const app = comp(3);
  const fac = comp(4);
  return { app, full: (fac ? `${app}@${fac}` : app).slice(0, 64) };
}
