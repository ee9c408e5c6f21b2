/** CLI behaviour: idempotency, dry-run diffs, validate with the real tools, bad input naming the field, profiles. */
import t from 'tap';
import { copyFileSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml, stringify as toYaml } from 'yaml';
import { BUILTIN_PROFILE_DIR } from '../device-drivers/index.ts';
import { cli, cliProcess, snapshot, tempState, uniq } from './test-support/run.ts';

const v3 = ['--snmp-user', 'netmon', '--snmp-auth-key-env', 'NETMON_C_AUTH', '--snmp-priv-key-env', 'NETMON_C_PRIV'];

/** A centre with an SNMPv3 router and a station with a v2c switch behind it. */
async function enrolPair(dir: string) {
  const centre = uniq('c');
  const station = uniq('s');
  const r1 = await cli('enrol', '--state', dir, '--clinic', centre, '--name', '玉林社区卫生服务中心', '--level', 'centre', '--router', '10.10.7.1', ...v3, '--edge-url', 'http://10.10.7.10:8080');
  if (r1.code !== 0) throw new Error(`enrol centre: ${r1.err}`);
  const r2 = await cli('enrol', '--state', dir, '--clinic', station, '--name', '玉林北路社区卫生服务站', '--level', 'station', '--parent', centre, '--switch', '10.10.8.2:1161', '--snmp-community-env', 'NETMON_S_COMMUNITY');
  if (r2.code !== 0) throw new Error(`enrol station: ${r2.err}`);
  return { centre, station };
}

t.test('enrol writes every file; enrolling again changes nothing (byte for byte, no rewrite)', async (t) => {
  const st = tempState();
  t.teardown(st.cleanup);
  const { centre, station } = await enrolPair(st.dir);
  const before = snapshot(st.dir);
  for (const f of ['clinics.json', `out/edges/${centre}.json`, `out/edges/${station}.json`, 'out/nats/hub.conf', 'out/netmon/inventory.yaml',
    'out/prometheus/targets/edges.json', 'out/prometheus/prometheus.yml', 'out/prometheus/rules/health-network.rules.yml',
    'out/grafana/dashboards/netmon-clinic-link.json', 'out/grafana/provisioning/datasources/health-network.yaml']) {
    t.ok(before.has(f), `${f} written`);
  }
  t.equal(before.get(`out/edges/${centre}.json`)!.mode, 0o600, 'edge config is 0600');
  t.equal(before.get('out/central/central.json')!.mode, 0o600, 'central config is 0600');

  // Inventory: secrets as ${ENV}, station's switch behind the centre's router.
  const invText = before.get('out/netmon/inventory.yaml')!.content;
  t.match(invText, /authKey: \$\{NETMON_C_AUTH\}/);
  t.match(invText, /community: \$\{NETMON_S_COMMUNITY\}/);
  const inv = parseYaml(invText) as { targets: { name: string; parent?: string; serves: string[] }[] };
  t.same(inv.targets.map((x) => [x.name, x.parent ?? null, x.serves]), [[`${centre}-router`, null, [centre]], [`${station}-switch`, `${centre}-router`, [station]]]);
  const targets = JSON.parse(before.get('out/prometheus/targets/edges.json')!.content) as { targets: string[]; labels: Record<string, string> }[];
  t.same(targets.find((g) => g.labels.clinic === station)?.labels, { clinic: station, clinic_name: '玉林北路社区卫生服务站', level: 'station', centre });
  t.same(targets.find((g) => g.labels.clinic === centre)?.targets, ['10.10.7.10:8080']);

  const again = await cli('enrol', '--state', st.dir, '--clinic', centre, '--name', '玉林社区卫生服务中心', '--level', 'centre', '--router', '10.10.7.1', ...v3, '--edge-url', 'http://10.10.7.10:8080');
  t.equal(again.code, 0);
  t.match(again.out, /no changes/);
  t.same(snapshot(st.dir), before, 'second enrol (same flags): same files, modes and mtimes');
  const short = await cli('enrol', '--state', st.dir, '--clinic', station);
  t.match(short.out, /no changes/, 're-enrol with only --clinic keeps the registered values');
  t.same(snapshot(st.dir), before);

  // --rotate-password changes the edge file, the hub and the registry hash only.
  const oldPw = (JSON.parse(before.get(`out/edges/${centre}.json`)!.content) as { natsPassword: string }).natsPassword;
  const rot = await cli('enrol', '--state', st.dir, '--clinic', centre, '--rotate-password');
  t.equal(rot.code, 0);
  const after = snapshot(st.dir);
  const changed = [...after.keys()].filter((k) => after.get(k)!.content !== before.get(k)?.content).sort();
  t.same(changed, ['clinics.json', `out/edges/${centre}.json`, 'out/nats/hub.conf'], 'rotation touches only the registry, the edge config and the hub');
  t.not((JSON.parse(after.get(`out/edges/${centre}.json`)!.content) as { natsPassword: string }).natsPassword, oldPw);

  const v = await cli('validate', '--state', st.dir);
  t.equal(v.code, 0, 'validate passes after enrol and rotation');
  t.match(v.out, /ok {3}out\/nats\/hub\.conf: nats-server -t/);
  t.match(v.out, /ok {3}out\/prometheus\/prometheus\.yml: promtool check config/);
  t.match(v.out, /ok {3}out\/prometheus\/rules\/health-network\.rules\.yml: .*SUCCESS/);
  t.match(v.out, /ok {3}out\/netmon\/inventory\.yaml: parseInventory: 2 targets, 2 clinics; needs env NETMON_C_AUTH, NETMON_C_PRIV, NETMON_S_COMMUNITY/);
  t.match(v.out, new RegExp(`ok {3}out/edges/${station}\\.json: edge config schema`));
  t.match(v.out, /all \d+ checks passed/);
});

t.test('--dry-run prints a unified diff with masked secrets and writes nothing', async (t) => {
  const st = tempState();
  t.teardown(st.cleanup);
  const { centre, station } = await enrolPair(st.dir);
  const before = snapshot(st.dir);
  const extra = uniq('d');
  const dry = await cli('enrol', '--state', st.dir, '--clinic', extra, '--name', '新都社区卫生服务中心', '--router', '10.10.9.1:1161', ...v3, '--dry-run');
  t.equal(dry.code, 0, dry.err);
  t.match(dry.out, `--- /dev/null\n+++ b/out/edges/${extra}.json`);
  t.match(dry.out, /--- a\/out\/nats\/hub\.conf\n\+\+\+ b\/out\/nats\/hub\.conf\n@@ /);
  t.match(dry.out, new RegExp(`\\+    \\{ user: "clinic-${extra}"`));
  t.match(dry.out, new RegExp(`\\+  - name: ${extra}-router`));
  t.match(dry.out, /"natsPassword": "<secret [0-9a-f]{8}>"/, 'password masked');
  t.match(dry.out, /dry run: 3 created, \d+ changed, 0 removed; nothing written/, 'edge config, env file and backup key');
  t.match(dry.out, /EDGE_BACKUP_REMOTE_TOKEN=<secret [0-9a-f]{8}>/, 'backup token masked');
  t.notMatch(dry.out, /(TOKEN|SECRET)=(?!<secret )/, 'no token or secret in clear');
  t.same(snapshot(st.dir), before, 'nothing written by enrol --dry-run');

  const rm = await cli('remove', '--state', st.dir, '--clinic', station, '--dry-run');
  t.equal(rm.code, 0, rm.err);
  t.match(rm.out, `--- a/out/edges/${station}.json\n+++ /dev/null`);
  t.match(rm.out, new RegExp(`-    \\{ user: "clinic-${station}"`));
  t.same(snapshot(st.dir), before, 'nothing written by remove --dry-run');

  const refuse = await cli('remove', '--state', st.dir, '--clinic', centre);
  t.equal(refuse.code, 2);
  t.match(refuse.err, `--clinic "${centre}": is the parent centre of ${station}`);

  const real = await cli('remove', '--state', st.dir, '--clinic', station);
  t.equal(real.code, 0);
  const after = snapshot(st.dir);
  t.notOk(after.has(`out/edges/${station}.json`), 'edge config removed');
  t.notOk(after.get('out/netmon/inventory.yaml')!.content.includes(station), 'inventory entries removed');
  t.notOk(after.get('out/prometheus/targets/edges.json')!.content.includes(station), 'scrape target removed');
  t.notOk(after.get('out/nats/hub.conf')!.content.includes(station), 'NATS user removed');
  t.equal((await cli('validate', '--state', st.dir)).code, 0, 'validate passes after removal');
});

t.test('bad input: exit 2, the error names the field, nothing written', async (t) => {
  const st = tempState();
  t.teardown(st.cleanup);
  const { centre } = await enrolPair(st.dir);
  const before = snapshot(st.dir);

  // The real process, as an operator runs it.
  const p = cliProcess('enrol', '--state', st.dir, '--clinic', 'C 01', '--name', '某中心');
  t.equal(p.code, 2, 'exit code 2');
  t.match(p.err, '--clinic "C 01": clinic id must be lower-case letters, digits and dashes');
  t.equal(p.out, '');

  const cases: [string[], string][] = [
    [['enrol', '--clinic', 'new-one'], '--name: required to enrol the new clinic new-one'],
    [['enrol', '--clinic', 'x1', '--name', '  '], '--name: must not be empty'],
    [['enrol', '--clinic', 'x1', '--name', 'A', '--level', 'hospital'], '--level "hospital": must be "centre"'],
    [['enrol', '--clinic', 'x1', '--name', 'A', '--level', 'station'], '--parent: a station needs its community health service centre'],
    [['enrol', '--clinic', 'x1', '--name', 'A', '--level', 'station', '--parent', 'nope-9'], '--parent "nope-9": no such clinic enrolled'],
    [['enrol', '--clinic', 'x1', '--name', 'A', '--router', '10.0.0.1:99999', ...v3], '--router "10.0.0.1:99999": port "99999" must be an integer 1-65535'],
    [['enrol', '--clinic', 'x1', '--name', 'A', '--router', 'bad host!', ...v3], '--router "bad host!": expected host[:port]'],
    [['enrol', '--clinic', 'x1', '--name', 'A', '--router', '10.0.0.1'], '--router: needs SNMP credentials'],
    [['enrol', '--clinic', 'x1', '--name', 'A', '--router', '10.0.0.1', '--snmp-user', 'u', '--snmp-auth-key-env', 'my-secret-key', '--snmp-priv-key-env', 'P'], '--snmp-auth-key-env "my-secret-key": must be an environment variable name'],
    [['enrol', '--clinic', 'x1', '--name', 'A', '--router', '10.0.0.1', '--snmp-user', 'u', '--snmp-priv-key-env', 'P'], '--snmp-auth-key-env: required for SNMPv3'],
    [['enrol', '--clinic', 'x1', '--name', 'A', '--router', '10.0.0.1', ...v3, '--snmp-auth-protocol', 'md5'], '--snmp-auth-protocol "md5": one of sha, sha224'],
    [['enrol', '--clinic', 'x1', '--name', 'A', '--router', '10.0.0.1', ...v3, '--snmp-community-env', 'C'], '--snmp-community-env: give either SNMPv3'],
    [['enrol', '--clinic', 'x1', '--name', 'A', '--edge-url', 'ftp://x'], '--edge-url "ftp://x": must be http:// or https://'],
    [['enrol', '--clinic', 'x1', '--name', 'A', '--edge-url', 'http://h:8080/healthz'], '--edge-url "http://h:8080/healthz": only scheme, host and port'],
    [['enrol', '--clinic', 'x1', '--name', 'A', '--nats-pid', 'abc'], '--nats-pid "abc": must be a process id'],
    [['enrol', '--clinic', 'x1', '--name', 'A', '--bogus'], "arguments: Unknown option '--bogus'"],
    [['enrol', '--clinic', centre, '--parent', centre], '--parent: only a station has a parent centre'],
    [['remove', '--clinic', 'not-here'], '--clinic "not-here": no such clinic enrolled'],
    [['init', '--nats-url', 'http://x'], '--nats-url "http://x": nats://host:port'],
    [['frobnicate'], 'command: unknown command "frobnicate"'],
  ];
  for (const [args, message] of cases) {
    const r = await cli(args[0]!, '--state', st.dir, ...args.slice(1));
    t.equal(r.code, 2, `${args.join(' ')} -> exit 2`);
    t.match(r.err, `provision: error: ${message}`, message);
  }
  t.same(snapshot(st.dir), before, 'no bad command wrote anything');

  const fresh = tempState();
  t.teardown(fresh.cleanup);
  await cli('enrol', '--state', join(fresh.dir, 'state'), '--clinic', 'C 01', '--name', 'x');
  t.notOk(existsSync(join(fresh.dir, 'state')), 'a rejected first enrol does not even create the state directory');
});

t.test('validate reports a broken generated file naming it', async (t) => {
  const st = tempState();
  t.teardown(st.cleanup);
  const { station } = await enrolPair(st.dir);
  const f = join(st.dir, 'out/netmon/inventory.yaml');
  writeFileSync(f, readFileSync(f, 'utf8').replace(/port: 1161/, 'port: 0'));
  const edge = join(st.dir, `out/edges/${station}.json`);
  writeFileSync(edge, readFileSync(edge, 'utf8').replace(/"httpPort": \d+/, '"httpPort": "eighty"'));
  const v = await cli('validate', '--state', st.dir);
  t.equal(v.code, 1);
  t.match(v.out, /FAIL out\/netmon\/inventory\.yaml: inventory: targets\.1\.port: /);
  t.match(v.out, new RegExp(`FAIL out/edges/${station}\\.json: edge config schema: httpPort: `));
  t.match(v.out, /2 of \d+ checks failed/);
  // enrol repairs generated files (they are outputs, not inputs).
  t.equal((await cli('enrol', '--state', st.dir, '--clinic', station)).code, 0);
  t.equal((await cli('validate', '--state', st.dir)).code, 0, 'regenerated');
});

t.test('profiles: list, validate, add a valid profile, refuse an invalid one naming the field', async (t) => {
  const st = tempState();
  t.teardown(st.cleanup);
  const list = await cli('profiles', 'list', '--state', st.dir);
  t.equal(list.code, 0);
  t.match(list.out, /^thermometer\tmodbus\tvital-signs\t1 quantities\tshipped\t体温计$/m);

  const good = join(st.dir, 'ear-thermometer.yaml');
  const raw = parseYaml(readFileSync(join(BUILTIN_PROFILE_DIR, 'thermometer.yaml'), 'utf8')) as Record<string, unknown>;
  writeFileSync(good, `# A clinic's own variant\n${toYaml({ ...raw, id: 'ear-thermometer-x', name: 'Ear thermometer X' })}`);
  t.equal((await cli('profiles', 'validate', good)).code, 0);
  const dry = await cli('profiles', 'add', good, '--state', st.dir, '--dry-run');
  t.match(dry.out, '+++ b/profiles/ear-thermometer-x.yaml');
  t.notOk(existsSync(join(st.dir, 'profiles')), 'dry run wrote nothing');
  const add = await cli('profiles', 'add', good, '--state', st.dir);
  t.equal(add.code, 0, add.err);
  t.equal(readFileSync(join(st.dir, 'profiles/ear-thermometer-x.yaml'), 'utf8'), readFileSync(good, 'utf8'), 'copied byte for byte');
  t.match((await cli('profiles', 'list', '--state', st.dir)).out, /^ear-thermometer-x\tmodbus\tvital-signs\t1 quantities\tlibrary/m);
  t.match((await cli('profiles', 'add', good, '--state', st.dir)).out, /no changes/, 'adding again is a no-op');

  const bad = join(st.dir, 'bad.yaml');
  const q = (raw.quantities as Record<string, unknown>[])[0]!;
  writeFileSync(bad, toYaml({ ...raw, id: 'bad-one', quantities: [{ ...q, codeSystem: 'SNOMED' }] }));
  const r = await cli('profiles', 'add', bad, '--state', st.dir);
  t.equal(r.code, 2);
  t.match(r.err, `profile ${bad}: field quantities.0.codeSystem: `);
  t.notOk(existsSync(join(st.dir, 'profiles/bad-one.yaml')));

  const shipped = join(st.dir, 'thermo-copy.yaml');
  copyFileSync(join(BUILTIN_PROFILE_DIR, 'thermometer.yaml'), shipped);
  const dup = await cli('profiles', 'add', shipped, '--state', st.dir);
  t.equal(dup.code, 2);
  t.match(dup.err, 'field id: "thermometer" is a shipped profile');
});
