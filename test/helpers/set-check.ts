/**
 * Jepsen-style set check for the spine: every record acknowledged at the edge (a committed
 * outbox seq) must be present exactly once at central, applied in per-clinic seq order.
 */
import type { SqliteWarehouse } from '../../central/warehouse/sqlite.ts';

export interface SetCheckResult {
  clinicId: string;
  acknowledged: number;
  present: number;
  lost: number;
  duplicated: number;
  unexpected: number;
  inOrder: boolean;
  line: string;
}

export async function setCheck(wh: SqliteWarehouse, clinicId: string, acknowledged: number): Promise<SetCheckResult> {
  const seqs = await wh.appliedSeqs(clinicId);
  const seen = new Map<number, number>();
  for (const s of seqs) seen.set(s, (seen.get(s) ?? 0) + 1);
  let lost = 0;
  for (let s = 1; s <= acknowledged; s++) if (!seen.has(s)) lost++;
  const duplicated = [...seen.values()].filter((n) => n > 1).length;
  const unexpected = [...seen.keys()].filter((s) => s < 1 || s > acknowledged).length;
  const inOrder = seqs.every((s, i) => i === 0 || s > seqs[i - 1]!);
  // Each applied seq maps to exactly one warehouse row too (no double application).
  const rows = wh.db.prepare<[string], { n: number; d: number }>('SELECT count(*) AS n, count(DISTINCT seq) AS d FROM records WHERE clinic_id = ?').get(clinicId)!;
  const dupRows = rows.n - rows.d;
  const present = seen.size;
  const line = `[set-check] clinic=${clinicId} acknowledged=${acknowledged} present=${present} lost=${lost} duplicated=${duplicated + dupRows} unexpected=${unexpected} in-order=${inOrder}`;
  console.log(line);
  return { clinicId, acknowledged, present, lost, duplicated: duplicated + dupRows, unexpected, inOrder, line };
}
