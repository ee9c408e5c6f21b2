import t from 'tap';
import { startNatsServer } from '../helpers/nats-server.ts';
import { centralInProcess, clinicName, edgeInProcess, tempDir } from '../helpers/spine.ts';
import { waitFor } from '../helpers/wait.ts';

t.test('a dictionary published while one edge is offline reaches it after reconnect', async (t) => {
  await using ns = await startNatsServer();
  const tmp = tempDir('spine-dict');
  t.teardown(tmp.cleanup);
  const central = await centralInProcess(ns.url, `${tmp.dir}/central`);
  const aId = clinicName('da');
  const bId = clinicName('db');
  const a = await edgeInProcess(ns.url, aId, `${tmp.dir}/a`);
  let b = await edgeInProcess(ns.url, bId, `${tmp.dir}/b`);
  t.teardown(async () => { await a.stop(); await b.stop(); await central.stop(); });
  await waitFor('starter dictionaries at both edges', () => a.store.dictionaryVersion('icd10') === 1 && b.store.dictionaryVersion('icd10') === 1, 20_000);
  t.ok(a.store.dictionaryItems('icd10').some((i) => i.code === 'I10.x00' && i.name === '原发性高血压'), 'starter ICD-10 set includes essential hypertension');

  await b.stop(); // clinic B goes offline
  const items = [...a.store.dictionaryItems('icd10').map((i) => ({ code: i.code, name: i.name, attrs: i.attrs as Record<string, string>, active: i.active })),
    { code: 'E66.900', name: '肥胖症', attrs: { edition: '国家临床版2.0' }, active: true }];
  const res = await fetch(`${central.http.url}/api/dictionaries/icd10`, { method: 'PUT', headers: { authorization: 'Bearer test-token-0123456789', 'content-type': 'application/json' }, body: JSON.stringify({ items }) });
  t.equal(res.status, 200, 'central publishes version 2');
  const t0 = Date.now();
  await waitFor('online edge has version 2', () => a.store.dictionaryVersion('icd10') === 2, 10_000);
  t.pass(`online edge applied version 2 in ${Date.now() - t0} ms`);

  b = await edgeInProcess(ns.url, bId, `${tmp.dir}/b`);
  await waitFor('offline edge caught up', () => b.store.dictionaryVersion('icd10') === 2, 20_000);
  t.ok(b.store.dictionaryItems('icd10').some((i) => i.code === 'E66.900'), 'the new code is at clinic B');
  await waitFor('fleet shows the version each edge holds', async () => (await central.wh.fleet()).filter((f) => f.dictionaries.icd10 === 2).length === 2, 10_000);
  t.pass('fleet reports icd10@2 for both clinics');
  // The metrics the DictionaryBehind alert compares: central's latest and each clinic's version.
  const metrics = await (await fetch(`${central.http.url}/metrics`)).text();
  t.match(metrics, /central_dictionary_latest_version\{dictionary="icd10"\} 2/, 'central exports the latest version it published');
  for (const id of [a.config.clinicId, bId]) t.match(metrics, new RegExp(`central_clinic_dictionary_version\\{clinic="${id}",dictionary="icd10"\\} 2`), `and the version ${id} holds`);

  const bad = await fetch(`${central.http.url}/api/dictionaries/icd10`, { method: 'PUT', headers: { authorization: 'Bearer test-token-0123456789', 'content-type': 'application/json' }, body: JSON.stringify({ items: [{ code: 'X', name: 'a' }, { code: 'X', name: 'b' }] }) });
  t.equal(bad.status, 400, 'duplicate codes are refused with a reason');
  t.match(await bad.text(), /appears more than once/);
});
