/**
 * Request bodies are capped before any route reads them (contracts/runtime/http.ts
 * `requestBodyLimit`): an unauthenticated POST to a login form, chunked so that no Content-Length
 * warns, is refused with 413 once past the limit, and the process keeps serving. Real central and
 * edge agent over real HTTP; the middleware's own cases on a small app.
 */
import t from 'tap';
import { request } from 'node:http';
import { Hono } from 'hono';
import { DEFAULT_MAX_BODY_BYTES, requestBodyLimit } from '../../contracts/runtime/index.ts';
import { startNatsServer } from '../helpers/nats-server.ts';
import { centralInProcess, clinicName, edgeInProcess, tempDir } from '../helpers/spine.ts';

/** POSTs `total` bytes in 64 KiB chunks without Content-Length; resolves with the status and how much was written before the answer. */
function chunkedPost(url: string, total: number): Promise<{ status: number; body: string; written: number }> {
  return new Promise((resolve, reject) => {
    let written = 0;
    let answered = false;
    const req = request(url, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', 'transfer-encoding': 'chunked' } }, (res) => {
      answered = true;
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, written }));
    });
    req.on('error', (e) => (answered ? undefined : reject(e)));
    const chunk = Buffer.alloc(64 * 1024, 0x61);
    const pump = () => {
      while (!answered && written < total) {
        written += chunk.length;
        if (!req.write(chunk)) return void req.once('drain', pump);
      }
      if (!answered) req.end();
    };
    pump();
  });
}

t.test('central and edge: a chunked body past the limit on the login form is refused, the process keeps serving', async (t) => {
  await using ns = await startNatsServer();
  const tmp = tempDir('body-limit');
  t.teardown(tmp.cleanup);
  const central = await centralInProcess(ns.url, `${tmp.dir}/central`);
  t.teardown(() => central.stop());
  const edge = await edgeInProcess(ns.url, clinicName('bl'), `${tmp.dir}/edge`);
  t.teardown(() => edge.stop());
  for (const [name, base] of [['central portal', `${central.http.url}/portal`], ['edge', edge.http.url]] as const) {
    const r = await chunkedPost(`${base}/login`, 4 * DEFAULT_MAX_BODY_BYTES);
    t.equal(r.status, 413, `${name}: 413`);
    t.match(r.body, /limited to 33554432 bytes/, `${name}: says the limit`);
    t.ok(r.written < 2 * DEFAULT_MAX_BODY_BYTES, `${name}: answered before the whole body was sent (${(r.written / 2 ** 20).toFixed(0)} MiB of ${(4 * DEFAULT_MAX_BODY_BYTES / 2 ** 20).toFixed(0)} written)`);
    const login = await fetch(`${base}/login`, { method: 'POST', body: new URLSearchParams({ username: 'nobody', password: 'wrong' }), redirect: 'manual' });
    t.ok(login.status < 500 && login.status !== 413, `${name}: an ordinary login form still answered (${login.status})`);
  }
  t.equal((await fetch(`${central.http.url}/healthz`)).status, 200, 'central healthy');
  t.equal((await fetch(`${edge.http.url}/healthz`)).status, 200, 'edge healthy');
});

t.test('requestBodyLimit: declared and chunked bodies, exempt routes, GET untouched', async (t) => {
  const app = new Hono();
  app.use('*', requestBodyLimit({ maxBytes: 1000, exempt: (m, p) => m === 'PUT' && p.startsWith('/big/') }));
  app.post('/form', async (c) => c.json({ n: JSON.stringify(await c.req.parseBody()).length }));
  app.put('/big/:x', async (c) => c.json({ n: (await c.req.arrayBuffer()).byteLength }));
  app.get('/q', (c) => c.text('ok'));
  t.equal((await app.request('/form', { method: 'POST', body: new URLSearchParams({ a: 'x'.repeat(100) }) })).status, 200, 'under the limit');
  const declared = await app.request('/form', { method: 'POST', headers: { 'content-length': '5000', 'content-type': 'text/plain' }, body: 'x'.repeat(5000) });
  t.equal(declared.status, 413, 'declared past the limit');
  let pulls = 0;
  const stream = new ReadableStream<Uint8Array>({ pull(c) { pulls++; c.enqueue(new Uint8Array(300)); if (pulls > 100) c.close(); } });
  const chunked = await app.request('/form', { method: 'POST', headers: { 'transfer-encoding': 'chunked', 'content-type': 'text/plain' }, body: stream, duplex: 'half' } as RequestInit);
  t.equal(chunked.status, 413, 'chunked past the limit');
  t.ok(pulls < 10, `reading stopped at the limit (${pulls} chunks pulled)`);
  t.equal((await app.request('/big/1', { method: 'PUT', body: new Uint8Array(5000) })).status, 200, 'an exempt route reads its own large body');
  t.equal((await app.request('/q')).status, 200, 'GET untouched');
});
