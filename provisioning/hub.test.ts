/**
 * End to end against a real nats-server started from the generated hub.conf: a clinic's
 * generated edge credentials publish on its own subjects, are refused on another clinic's,
 * and stop working once the clinic is removed and the running hub reloaded.
 */
import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { cli, startHub, tempState, uniq } from './test-support/run.ts';

interface EdgeFile { clinicId: string; natsUser: string; natsPassword: string }
const edgeFile = (dir: string, id: string) => JSON.parse(readFileSync(join(dir, 'out/edges', `${id}.json`), 'utf8')) as EdgeFile;
const inbox = (id: string) => `_INBOX_${id.replace(/-/g, '_')}`;

async function errorsOf(nc: NatsConnection): Promise<string[]> {
  const errors: string[] = [];
  void (async () => { for await (const s of nc.status()) if (s.type === 'error') errors.push(String((s as { error?: Error }).error?.message ?? s.type)); })();
  return errors;
}

async function until(cond: () => boolean, ms: number): Promise<boolean> {
  for (const end = Date.now() + ms; Date.now() < end; await new Promise((r) => setTimeout(r, 25))) if (cond()) return true;
  return cond();
}

t.test('enrolled clinics: own subjects allowed, others refused; removal revokes the user on a running hub', async (t) => {
  const st = tempState();
  t.teardown(st.cleanup);
  const a = uniq('ha');
  const b = uniq('hb');
  t.equal((await cli('init', '--state', st.dir, '--hub-listen', '127.0.0.1:-1', '--hub-store-dir', join(st.dir, 'js'))).code, 0, 'init');
  for (const [id, name] of [[a, '玉林社区卫生服务中心'], [b, '浆洗街社区卫生服务中心']] as const) {
    const r = await cli('enrol', '--state', st.dir, '--clinic', id, '--name', name, '--edge-url', 'http://127.0.0.1:18081');
    t.equal(r.code, 0, `enrol ${id}: ${r.err}`);
  }
  await using hub = await startHub(join(st.dir, 'out/nats/hub.conf'));

  const ea = edgeFile(st.dir, a);
  const eb = edgeFile(st.dir, b);
  t.equal(ea.natsUser, `clinic-${a}`);
  t.notOk(readFileSync(join(st.dir, 'clinics.json'), 'utf8').includes(ea.natsPassword), 'the registry holds no plaintext password');
  t.notOk(readFileSync(join(st.dir, 'out/nats/hub.conf'), 'utf8').includes(ea.natsPassword), 'hub.conf holds no plaintext password');

  const central = JSON.parse(readFileSync(join(st.dir, 'out/central/central.json'), 'utf8')) as { natsUser: string; natsPassword: string };
  const observer = await connect({ servers: hub.url, user: central.natsUser, pass: central.natsPassword });
  t.teardown(() => observer.close());
  const seen: string[] = [];
  const sub = observer.subscribe('clinic.>', { callback: (_e, m) => { seen.push(m.subject); } });
  await observer.flush();

  const ncA = await connect({ servers: hub.url, user: ea.natsUser, pass: ea.natsPassword, inboxPrefix: inbox(a) });
  const errors = await errorsOf(ncA);
  ncA.publish(`clinic.${a}.rec.x`, '{"ok":true}');
  await ncA.flush();
  t.ok(await until(() => seen.includes(`clinic.${a}.rec.x`), 5000), `clinic ${a} published on clinic.${a}.rec.x with the generated edge config`);

  ncA.publish(`clinic.${b}.rec.x`, '{"forged":true}');
  await ncA.flush();
  t.ok(await until(() => errors.some((e) => /permissions violation/i.test(e)), 5000), `publish on clinic.${b}.rec.x refused: ${errors[0] ?? 'no error'}`);
  await observer.flush();
  t.notOk(seen.includes(`clinic.${b}.rec.x`), 'the forged message was never delivered');

  const ncB = await connect({ servers: hub.url, user: eb.natsUser, pass: eb.natsPassword, inboxPrefix: inbox(b) });
  await ncB.close();
  t.pass(`clinic ${b} connects before removal`);

  // Remove b and reload the running hub through the CLI.
  const rm = await cli('remove', '--state', st.dir, '--clinic', b, '--nats-pid', String(hub.pid));
  t.equal(rm.code, 0, `remove: ${rm.err}`);
  t.match(rm.out, /hub reloaded/);
  t.match(rm.out, /removed out\/edges\//);
  await until(() => /Reloaded server configuration/.test(hub.log()), 5000);
  t.match(hub.log(), /Reloaded: authorization users/, 'hub reloaded its users');

  const refused = await connect({ servers: hub.url, user: eb.natsUser, pass: eb.natsPassword, inboxPrefix: inbox(b), reconnect: false, maxReconnectAttempts: 0 })
    .then(async (nc) => { await nc.close(); return 'connected'; }, (e: Error) => e.message);
  t.match(refused, /authorization violation/i, `removed clinic ${b} can no longer connect: ${refused}`);

  const again = await connect({ servers: hub.url, user: ea.natsUser, pass: ea.natsPassword, inboxPrefix: inbox(a) });
  again.publish(`clinic.${a}.rec.y`, '{}');
  await again.flush();
  t.ok(await until(() => seen.includes(`clinic.${a}.rec.y`), 5000), `clinic ${a} still works after the reload`);
  await again.close();
  await ncA.close().catch(() => undefined);
  sub.unsubscribe();
});
