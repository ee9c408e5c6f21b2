import t from 'tap';
import { setTimeout as sleep } from 'node:timers/promises';
import { startNatsServer } from '../helpers/nats-server.ts';
import { centralInProcess, clinicName, edgeEnv, spawnProcess, tempDir, type ChildHandle } from '../helpers/spine.ts';
import { setCheck } from '../helpers/set-check.ts';
import { waitFor } from '../helpers/wait.ts';
import { writeActivity } from '../helpers/activity.ts';
import { EdgeStore } from '../../edge-agent/store/store.ts';

t.test('kill -9 of an edge relay mid-publish, then restart: zero lost, zero applied twice', async (t) => {
  await using ns = await startNatsServer();
  const tmp = tempDir('spine-ek');
  t.teardown(tmp.cleanup);
  const central = await centralInProcess(ns.url, `${tmp.dir}/central`);
  t.teardown(() => central.stop());
  const clinicId = clinicName('ek');
  const edgeDir = `${tmp.dir}/edge`;
  // The clinic's activity commits to the edge database (another process may share the file);
  // the edge-agent process relays it and is killed while publishing.
  const store = new EdgeStore(`${edgeDir}/edge.db`, clinicId);
  t.teardown(() => store.close());
  writeActivity({ store }, 4000, 5, 50);
  let edge: ChildHandle = await spawnProcess('edge-agent/main.ts', edgeEnv(ns.url, clinicId, edgeDir));
  t.teardown(() => edge.kill());
  let kills = 0;
  for (let round = 1; round <= 4; round++) {
    // Kill while the relay is mid-flight: some published, some acked, receipt behind.
    await waitFor('relay publishing', async () => (await central.wh.watermark(clinicId)).appliedSeq > 0 || round > 1, 20_000);
    await sleep(150 + Math.floor(Math.random() * 300));
    await edge.kill('SIGKILL');
    kills++;
    writeActivity({ store }, 4000 + round * 1500, 10 + round, 50);
    edge = await spawnProcess('edge-agent/main.ts', edgeEnv(ns.url, clinicId, edgeDir));
  }
  const acked = store.stats().lastSeq;
  await waitFor('all applied', async () => (await central.wh.watermark(clinicId)).appliedSeq === acked, 90_000);
  await waitFor('outbox trimmed', () => store.stats().outboxDepth === 0, 20_000);
  const r = await setCheck(central.wh, clinicId, acked);
  t.same([r.lost, r.duplicated, r.unexpected, r.inOrder], [0, 0, 0, true], `acknowledged=${acked} present=${r.present} after ${kills} kills`);
  await edge.kill('SIGTERM');
});
