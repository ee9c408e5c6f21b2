/** Shared bits of the device tests: residents with valid GB 11643 ids, free ports, sign-in cookies. */
import { createServer } from 'node:net';
import type { EdgeAgent } from '../../edge-agent/agent.ts';

const W = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];

/** An 18-digit resident ID with its check character. */
export function residentIdNumber(area: string, birth: string, seq: string): string {
  const first17 = `${area}${birth}${seq}`;
  const sum = [...first17].reduce((s, c, i) => s + Number(c) * W[i]!, 0);
  return first17 + '10X98765432'[sum % 11]!;
}

/** Write a resident through the edge store (as registration would). */
export function addResident(edge: EdgeAgent, residentId: string, name: string, birth: string, seq: string): string {
  const idNumber = residentIdNumber('110105', birth, seq);
  edge.store.write('resident', residentId, { residentId, name, sex: Number(seq[2]) % 2 === 1 ? '1' : '2', birthDate: `${birth.slice(0, 4)}-${birth.slice(4, 6)}-${birth.slice(6, 8)}`, idType: '01', idNumber });
  return idNumber;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => { const p = (s.address() as { port: number }).port; s.close(() => resolve(p)); });
  });
}

/** Sign in over HTTP and return the session cookie header. */
export async function signIn(url: string, username: string, password: string): Promise<string> {
  const r = await fetch(`${url}/login`, { method: 'POST', body: new URLSearchParams({ username, password }), redirect: 'manual' });
  const c = r.headers.get('set-cookie') ?? '';
  const m = /edge_session=([^;]+)/.exec(c);
  if (!m) throw new Error(`sign-in as ${username} failed: ${r.status}`);
  return `edge_session=${m[1]}`;
}
