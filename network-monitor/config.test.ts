import t from 'tap';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig, parseConfig, ConfigError, envToObject } from './config.ts';
import { loadInventoryFile, parseInventory, InventoryError } from './inventory.ts';
import { computeImpact, rootFaults } from './impact.ts';

const dir = mkdtempSync(join(tmpdir(), 'netmon-cfg-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

const inv = {
  targets: [
    { name: 'core', kind: 'router', host: '10.0.0.1', snmp: { version: '3', user: 'netmon', authKey: 'authkey-123', privKey: 'privkey-123' }, links: [{ ifName: 'ge-0/0/1', clinics: ['c-1'] }] },
    { name: 'sw-2', kind: 'switch', host: '10.0.2.1', parent: 'core', serves: ['c-2'], snmp: { version: '2c', community: 'ro' } },
  ],
  clinics: [{ id: 'c-1', devices: [{ id: 'bp', kind: 'bp' }] }, { id: 'c-2' }],
};

t.test('env NETMON_* overrides file, nested with __', async (t) => {
  const f = join(dir, 'netmon.yaml');
  writeFileSync(f, 'inventoryFile: /x.yaml\nhttp:\n  port: 1234\n');
  const c = loadConfig(f, { NETMON_HTTP__PORT: '4321', NETMON_ANOMALY__STATE_DIR: '/var/lib/netmon', NETMON_TRAPS__ENABLED: 'false' });
  t.equal(c.http.port, 4321);
  t.equal(c.anomaly.stateDir, '/var/lib/netmon');
  t.equal(c.traps.enabled, false);
  t.equal(c.inventoryFile, '/x.yaml');
  t.same(envToObject({ NETMON_POLLING__TIMEOUT_MS: '500', OTHER: 'x' }), { polling: { timeoutMs: '500' } });
});

t.test('fail fast naming the field', async (t) => {
  t.throws(() => parseConfig({ inventoryFile: 'x', http: { port: 'abc' } }), { name: 'ConfigError', field: 'http.port' });
  t.throws(() => parseConfig({}), { name: 'ConfigError', field: 'inventoryFile' });
  t.throws(() => loadConfig(undefined, { NETMON_INVENTORY_FILE: 'x', NETMON_POLLING__RETRIES: '99' }), ConfigError);
  t.throws(() => parseInventory({ ...inv, targets: [{ ...inv.targets[0], snmp: { version: '3', user: 'u', authKey: 'short', privKey: 'privkey-123' } }] }), { name: 'InventoryError', field: 'targets.0.snmp.authKey' });
  t.throws(() => parseInventory({ ...inv, targets: [inv.targets[1]] }), { name: 'InventoryError', field: 'targets.0.parent' });
  t.throws(() => parseInventory({ targets: [{ ...inv.targets[1], parent: undefined, serves: ['nope'] }], clinics: [] }), { name: 'InventoryError', field: 'targets.0.serves.0' });
  const bad = join(dir, 'bad.json');
  writeFileSync(bad, '{not json');
  t.throws(() => loadInventoryFile(bad), InventoryError);
});

t.test('${ENV} in inventory strings keeps secrets out of the file', async (t) => {
  const withRefs = { ...inv, targets: [{ ...inv.targets[0], snmp: { version: '3', user: 'netmon', authKey: '${NETMON_CORE_AUTH}', privKey: '${NETMON_CORE_PRIV}' } }] };
  const i = parseInventory(withRefs, { NETMON_CORE_AUTH: 'from-env-auth', NETMON_CORE_PRIV: 'from-env-priv' });
  t.match(i.targets[0]!.snmp, { authKey: 'from-env-auth', privKey: 'from-env-priv' });
  t.throws(() => parseInventory(withRefs, {}), { name: 'InventoryError', field: 'targets.0.snmp.authKey' });
});

t.test('defaults: v3 SHA + AES; impact of a link and of a device with children', async (t) => {
  const f = join(dir, 'inv.json');
  writeFileSync(f, JSON.stringify(inv));
  const i = loadInventoryFile(f);
  const s = i.targets[0]!.snmp;
  t.ok(s.version === '3' && s.authProtocol === 'sha' && s.privProtocol === 'aes');
  t.same(computeImpact(i, [{ target: 'core', ifName: 'ge-0/0/1' }]).map((e) => e.clinic), ['c-1']);
  t.same(computeImpact(i, [{ target: 'core' }]).map((e) => e.clinic).sort(), ['c-1', 'c-2'], 'everything behind core');
  t.same(rootFaults(i, [{ target: 'core' }, { target: 'sw-2' }, { target: 'core', ifName: 'ge-0/0/1' }]), [{ target: 'core' }]);
});
