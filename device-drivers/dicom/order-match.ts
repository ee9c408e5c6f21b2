/**
 * Matches a stored instance to imaging orders, pure. Rule (DOMAIN.md): AccessionNumber +
 * StudyInstanceUID first, then PatientID. Anything not unique goes to reconciliation.
 */
import type { RecordPayload } from '../../contracts/index.ts';

export type Order = RecordPayload<'order'>;

export interface OrderCandidate {
  order: Order;
  /** The StudyInstanceUID the worklist gave the device for this order, when it gave one. */
  studyInstanceUid?: string;
  /** Identifiers of the order's resident that a device may echo as PatientID (resident id, ID number, ...). */
  patientIds: readonly string[];
}

export interface InstanceKeys {
  accessionNumber?: string;
  studyInstanceUid: string;
  patientId?: string;
  modality?: string;
}

export type OrderMatch =
  | { kind: 'accession+study'; order: Order }
  | { kind: 'accession'; order: Order }
  | { kind: 'patient'; order: Order }
  | { kind: 'ambiguous'; orders: Order[]; reason: string }
  | { kind: 'none'; reason: string };

const open = (o: Order) => o.kind === 'imaging' && o.status !== 'cancelled';

export function matchOrder(inst: InstanceKeys, candidates: readonly OrderCandidate[]): OrderMatch {
  const acc = inst.accessionNumber?.trim();
  if (acc) {
    const byAcc = candidates.filter((c) => c.order.kind === 'imaging' && c.order.accessionNumber === acc);
    const both = byAcc.filter((c) => c.studyInstanceUid === inst.studyInstanceUid);
    if (both.length === 1) return { kind: 'accession+study', order: both[0]!.order };
    if (both.length > 1) return { kind: 'ambiguous', orders: both.map((c) => c.order), reason: `${both.length} orders share accession ${acc} and the study UID` };
    // Accession known, study UID not assigned by the worklist: accept the accession alone.
    const noUid = byAcc.filter((c) => !c.studyInstanceUid && open(c.order));
    if (noUid.length === 1) return { kind: 'accession', order: noUid[0]!.order };
    if (noUid.length > 1) return { kind: 'ambiguous', orders: noUid.map((c) => c.order), reason: `${noUid.length} orders share accession ${acc}` };
    if (byAcc.length) return { kind: 'ambiguous', orders: byAcc.map((c) => c.order), reason: `accession ${acc} matches, study UID differs` };
  }
  const pid = inst.patientId?.trim();
  if (!pid) return { kind: 'none', reason: acc ? `no order with accession ${acc}, no PatientID` : 'no accession number and no PatientID' };
  const byPatient = candidates.filter(
    (c) => open(c.order) && c.order.status !== 'completed' && c.patientIds.includes(pid) && (!inst.modality || !c.order.modality || c.order.modality === inst.modality),
  );
  if (byPatient.length === 1) return { kind: 'patient', order: byPatient[0]!.order };
  if (byPatient.length > 1) return { kind: 'ambiguous', orders: byPatient.map((c) => c.order), reason: `${byPatient.length} open ${inst.modality ?? 'imaging'} orders for patient ${pid}` };
  return { kind: 'none', reason: `no open imaging order for patient ${pid}` };
}
