import t from 'tap';
import { connect } from 'node:net';
import { Hono } from 'hono';
import { HTTPException } from 'hono/http-exception';
import { Registry } from 'prom-client';
import { handleRequestErrors, isClientAbort, listen } from './http.ts';
import { waitFor } from '../../test/helpers/wait.ts';

t.test('errors no route handled: logged through the process logger with an id, answered as JSON; a client gone mid-upload is logged as that, and the server goes on', async (t) => {
  const lines: { level: string; o: Record<string, unknown>; msg: string }[] = [];
  const log = { info: (o: object, msg: string) => lines.push({ level: 'info', o: o as Record<string, unknown>, msg }), error: (o: object, msg: string) => lines.push({ level: 'error', o: o as Record<string, unknown>, msg }) };
  const registry = new Registry();
  const app = new Hono();
  const counts = handleRequestErrors(app, log, { registry, name: 'test_http_request_errors_total' });
  let received = 0;
  let readerDone: Promise<void> = Promise.resolve();
  app.put('/upload', async (c) => {
    // Reads the body as the archive does (a stream, as it arrives).
    const done = (async () => {
      for await (const chunk of c.req.raw.body as unknown as AsyncIterable<Uint8Array>) received += chunk.length;
    })();
    readerDone = done.catch(() => undefined);
    await done;
    return c.json({ received }, 201);
  });
  app.get('/broken', () => { throw new TypeError('cannot read properties of undefined (reading \'x\')'); });
  app.get('/forbidden', () => { throw new HTTPException(403, { message: 'not yours' }); });
  app.get('/ok', (c) => c.text('fine'));
  // A sub-app routed in uses the same handler.
  const sub = new Hono();
  sub.get('/boom', () => { throw new Error('sub-app failure'); });
  app.route('/sub', sub);
  const http = await listen(app, '127.0.0.1', 0);
  t.teardown(() => http.close());

  const res = await fetch(`${http.url}/broken`);
  t.equal(res.status, 500);
  const body = (await res.json()) as { error: string; errorId: string; detail: string };
  t.match(body, { error: 'internal error', errorId: /^[0-9a-f]{8}$/ });
  t.notMatch(JSON.stringify(body), /cannot read properties/, 'the answer does not leak the error itself');
  t.match(lines.at(-1), { level: 'error', msg: 'unhandled error in a request', o: { method: 'GET', path: '/broken', errorId: body.errorId, err: /cannot read properties/, stack: /TypeError/ } }, 'logged with the same id, the request and the stack');
  t.equal((await fetch(`${http.url}/forbidden`)).status, 403, 'an HTTPException keeps its own status');
  const subRes = await fetch(`${http.url}/sub/boom`);
  t.equal(subRes.status, 500);
  t.match(lines.at(-1), { o: { path: '/sub/boom', err: 'sub-app failure' } }, 'a sub-app\'s error through the same handler');

  // A client that sends half of a declared 4 MiB body and closes the connection.
  const sock = connect(http.port, '127.0.0.1');
  await new Promise<void>((r) => sock.once('connect', () => r()));
  sock.write(`PUT /upload HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/octet-stream\r\nContent-Length: ${4 * 1024 * 1024}\r\n\r\n`);
  sock.write(Buffer.alloc(2 * 1024 * 1024));
  await waitFor('the first half received', () => received >= 1024 * 1024, 10_000);
  sock.destroy();
  await readerDone;
  await waitFor('the abort logged', () => counts.aborted === 1, 10_000);
  t.match(lines.at(-1), { level: 'info', msg: 'the client went away before the request was complete', o: { method: 'PUT', path: '/upload' } });
  t.equal(counts.failed, 2, 'the abort is not counted as a server error');
  t.equal(await (await fetch(`${http.url}/ok`)).text(), 'fine', 'the server goes on');
  const metric = (await registry.getSingleMetric('test_http_request_errors_total')!.get()).values.map((v) => [v.labels['kind'], v.value]);
  t.same(metric, [['aborted', 1], ['internal', 2]]);
});

t.test('isClientAbort: Node\'s and undici\'s ways of saying the peer went away, also as a cause; other errors are not', async (t) => {
  const coded = (code: string, message = 'x') => Object.assign(new Error(message), { code });
  t.ok(isClientAbort(coded('ECONNRESET', 'aborted')));
  t.ok(isClientAbort(coded('ERR_STREAM_PREMATURE_CLOSE')));
  t.ok(isClientAbort(new Error('aborted')));
  t.ok(isClientAbort(new TypeError('terminated', { cause: coded('ECONNRESET') })));
  t.notOk(isClientAbort(coded('ENOSPC')));
  t.notOk(isClientAbort(new Error('something else')));
  t.notOk(isClientAbort(null));
  t.notOk(isClientAbort('aborted'));
});
