import t from 'tap';
import { setTimeout as sleep } from 'node:timers/promises';
import { startNatsServer } from '../helpers/nats-server.ts';
import { centralEnv, clinicName, edgeInProcess, spawnProcess, tempDir, type ChildHandle } from '../helpers/spine.ts';
import { setCheck } from '../helpers/set-check.ts';
import { waitFor } from '../helpers/wait.ts';
import { writeActivity } from '../helpers/activity.ts';
import { SqliteWarehouse } from '../../central/warehouse/sqlite.ts';

const TOTAL = 20_000;

t.test('kill -9 of central repeatedly while 20k records flow: zero lost, zero applied twice', async (t) => {
  await using ns = await startNatsServer();
  const tmp = tempDir('spine-ck');
  t.teardown(tmp.cleanup);
  const centralDir = `${tmp.dir}/central`;
  let central: ChildHandle = await spawnProcess('central/main.ts', centralEnv(ns.url, centralDir));
  const a = await edgeInProcess(ns.url, clinicName('ck-a'), `${tmp.dir}/a`);
  const b = await edgeInProcess(ns.url, clinicName('ck-b'), `${tmp.dir}/b`);
  t.teardown(async () => { await a.stop(); await b.stop(); await central.kill(); });

  // Writers: both clinics write in small bursts until 10k each, while central is killed.
  let writing = true;
  const writer = (async () => {
    let n = 0;
    while (n < TOTAL / 2) {
      n = Math.min(TOTAL / 2, n + 250);
      writeActivity(a, n, 100 + n, 50);
      writeActivity(b, n, 200 + n, 50);
      await sleep(40);
    }
    writing = false;
  })();
  let kills = 0;
  while (writing || kills < 5) {
    await sleep(700 + Math.floor(Math.random() * 800));
    await central.kill('SIGKILL');
    kills++;
    central = await spawnProcess('central/main.ts', centralEnv(ns.url, centralDir));
  }
  await writer;
  const ackA = a.store.stats().lastSeq;
  const ackB = b.store.stats().lastSeq;
  t.equal(ackA + ackB, TOTAL, `${TOTAL} records acknowledged at the edges`);
  await waitFor('edges see every record applied (receipts)', () => a.store.receiptSeq() === ackA && b.store.receiptSeq() === ackB, 120_000);
  await central.kill('SIGTERM');
  const wh = new SqliteWarehouse(`${centralDir}/warehouse.db`);
  t.teardown(() => wh.close());
  for (const [edge, ack] of [[a, ackA], [b, ackB]] as const) {
    const r = await setCheck(wh, edge.config.clinicId, ack);
    t.same([r.lost, r.duplicated, r.unexpected, r.inOrder], [0, 0, 0, true], `${edge.config.clinicId}: acknowledged=${ack} present=${r.present}`);
  }
  console.log(`[central-kill] central killed ${kills} times while ${TOTAL} records flowed`);
});
