/**
 * An MPPS SCU for tests: dcmjs-dimse's Client sends N-CREATE / N-SET as a device does (dcmtk has
 * no MPPS SCU). Answers each message's DIMSE status, or the association's failure.
 */
import { Client, Dataset, dimseLog, requests } from '../dimse.ts';
import { MPPS } from '../uids.ts';

export interface MppsSend { kind: 'create' | 'set'; uid: string; attributes: Record<string, unknown> }
export type MppsResult = { statuses: number[]; comments: string[] } | { failed: string };

export function mppsScu(port: number, callingAe: string, calledAe: string, messages: MppsSend[], host = '127.0.0.1'): Promise<MppsResult> {
  dimseLog.setLevel('silent');
  return new Promise((resolve) => {
    const client = new Client();
    const statuses: number[] = [];
    const comments: string[] = [];
    let done = false;
    const finish = (r: MppsResult) => { if (!done) { done = true; resolve(r); } };
    for (const m of messages) {
      const r = m.kind === 'create' ? new requests.NCreateRequest(MPPS, m.uid) : new requests.NSetRequest(MPPS, m.uid);
      r.setDataset(new Dataset(m.attributes));
      r.on('response', (resp: { getStatus(): number; getErrorComment(): string | undefined }) => {
        statuses.push(resp.getStatus());
        comments.push(resp.getErrorComment() ?? '');
      });
      client.addRequest(r);
    }
    client.on('associationRejected', (r: { reason: number }) => finish({ failed: `rejected (reason ${r.reason})` }));
    client.on('networkError', (e: Error) => finish({ failed: e.message }));
    client.on('closed', () => finish(statuses.length === messages.length ? { statuses, comments } : { failed: `closed after ${statuses.length} of ${messages.length} responses` }));
    client.send(host, port, callingAe, calledAe, { connectTimeout: 5000, associationTimeout: 5000, pduTimeout: 5000 });
  });
}
