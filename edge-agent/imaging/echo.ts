/** The "测试连接" of a DICOM device: C-ECHO with our AE title as the calling AE. */
import { echo } from '../../device-drivers/dicom/index.ts';

/** C-ECHO to a registered device (host `*` = any address: nothing to call). */
export async function echoDevice(c: { host: string; port: number } | null, calledAe: string, callingAe: string): Promise<{ ok: boolean; detail: string; latencyMs?: number }> {
  if (!c || c.host === '*') return { ok: false, detail: '地址为 *，无法测试 / host is *: nothing to call' };
  const r = await echo({ host: c.host, port: c.port, callingAe, calledAe, timeoutMs: 5000 });
  return r.ok ? { ok: true, detail: `C-ECHO ok ${r.latencyMs} ms`, latencyMs: r.latencyMs } : { ok: false, detail: r.detail };
}
