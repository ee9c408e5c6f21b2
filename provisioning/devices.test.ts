import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { cli, tempState } from './test-support/run.ts';
import { parseInventory, computeImpact } from '../network-monitor/index.ts';

t.test('enrol --device lists the clinic\'s medical devices in the monitor inventory, so a link failure names them', async (t) => {
  const st = tempState();
  t.teardown(st.cleanup);
  const r = await cli('enrol', '--state', st.dir, '--clinic', 'c05-devtest', '--name', '设备测试中心', '--router', '10.5.0.1', '--snmp-community-env', 'C05_COMMUNITY', '--device', 'us-01:ultrasound', '--device', 'bp-02:blood-pressure');
  t.equal(r.code, 0, r.err);
  const raw = parse(readFileSync(join(st.dir, 'out/netmon/inventory.yaml'), 'utf8')) as { clinics: { id: string; devices: { id: string }[] }[] };
  t.same(raw.clinics.find((c) => c.id === 'c05-devtest')!.devices.map((d) => d.id), ['us-01', 'bp-02']);
  const inv = parseInventory(raw, { C05_COMMUNITY: 'ro-test' });
  const impact = computeImpact(inv, [{ target: inv.targets[0]!.name }]);
  t.match(JSON.stringify(impact), /us-01/, 'impact of the router going down lists the ultrasound');
  const again = await cli('enrol', '--state', st.dir, '--clinic', 'c05-devtest');
  t.match(again.out, /no changes/, 'devices kept when not given again');
  const bad = await cli('enrol', '--state', st.dir, '--clinic', 'c05-devtest', '--device', 'US 01');
  t.equal(bad.code, 2);
  t.match(bad.err, /--device "US 01"/, 'a bad device names the flag');
});
