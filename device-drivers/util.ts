/** Small helpers shared by the drivers. */

/** Bound a caller-supplied promise (a `store` that hangs must not stall a device link forever). */
export function withTimeout<T>(p: Promise<T>, ms: number, what = 'operation'): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`${what} did not finish in ${ms} ms`)), ms);
    p.then((v) => { clearTimeout(t); resolve(v); }, (e: unknown) => { clearTimeout(t); reject(e instanceof Error ? e : new Error(String(e))); });
  });
}

/** Whether host:port can be bound now (a listener's "test connection" before it is started). */
export async function canListen(host: string, port: number): Promise<{ ok: boolean; detail: string }> {
  const { createServer } = await import('node:net');
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', (e) => resolve({ ok: false, detail: `cannot listen on ${host}:${port}: ${e.message}` }));
    s.listen(port, host, () => s.close(() => resolve({ ok: true, detail: `${host}:${port} is free; devices can connect once the driver is started` })));
  });
}
