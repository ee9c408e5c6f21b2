import t from 'tap';
import { startNatsServer } from '../helpers/nats-server.ts';
import { centralInProcess, clinicName, edgeInProcess, tempDir } from '../helpers/spine.ts';
import { waitFor } from '../helpers/wait.ts';
import { writeActivity } from '../helpers/activity.ts';
import { makeBloodPressure, prng } from '../../edge-agent/sim/generate.ts';

t.test('a record the warehouse cannot apply is dead-lettered alone; the clinic and the others keep flowing', async (t) => {
  await using ns = await startNatsServer();
  const tmp = tempDir('spine-poison');
  t.teardown(tmp.cleanup);
  const central = await centralInProcess(ns.url, `${tmp.dir}/central`);
  // Simulate a record that passes validation but breaks on apply (a bug, a constraint).
  central.wh.db.exec("CREATE TRIGGER poison BEFORE INSERT ON records WHEN NEW.record_id = 'poison-1' BEGIN SELECT RAISE(ABORT, 'simulated apply failure'); END;");
  const a = await edgeInProcess(ns.url, clinicName('pa'), `${tmp.dir}/a`);
  const b = await edgeInProcess(ns.url, clinicName('pb'), `${tmp.dir}/b`);
  t.teardown(async () => { await a.stop(); await b.stop(); await central.stop(); });

  writeActivity(a, 300, 1);
  const [o] = makeBloodPressure(prng(2), 'r1', 'bp-1');
  const poisonSeq = a.store.write('observation', 'poison-1', { ...o!, observationId: 'poison-1' });
  const ackA = writeActivity(a, 600, 3);
  const ackB = writeActivity(b, 400, 4);
  await waitFor('both clinics fully applied', async () => (await central.wh.watermark(a.config.clinicId)).appliedSeq === ackA && (await central.wh.watermark(b.config.clinicId)).appliedSeq === ackB, 60_000);
  const dead = await central.wh.deadLetters(10);
  t.equal(dead.length, 1, 'exactly one dead letter');
  t.equal(dead[0]!.reason, 'apply_error');
  t.equal(dead[0]!.seq, poisonSeq, 'it names the clinic sequence number');
  t.equal(await central.wh.countRecords(a.config.clinicId), ackA - 1, 'every other record of the clinic applied');
  t.equal(await central.wh.countRecords(b.config.clinicId), ackB, 'the other clinic unaffected');
  console.log(`[poison] clinic A acknowledged=${ackA} applied=${ackA - 1} dead-lettered=1 (seq ${poisonSeq}); clinic B acknowledged=${ackB} applied=${ackB}`);
});
