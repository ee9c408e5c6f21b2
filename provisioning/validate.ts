/**
 * `validate`: checks every generated file with the tool that will consume it: the edge and
 * central config schemas, the network monitor's parseInventory, `nats-server -t`,
 * `promtool check config` / `check rules`, and the device profile loader.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import bcrypt from 'bcryptjs';
import { edgeConfigSchema } from '../edge-agent/config.ts';
import { centralConfigSchema } from '../central/config.ts';
import { parseInventory } from '../network-monitor/index.ts';
import { paths, placeholderEnv, SECRET_MODE } from './render.ts';
import { loadEdgeBackupConfig } from '../edge-agent/backup/config.ts';
import { loadImagingConfig } from '../edge-agent/imaging/config.ts';
import { loadCentralBackupConfig } from '../central/backup/config.ts';
import { clinicBackupToken, loadKeyFile } from '../contracts/backup/index.ts';
import { verifyClinicToken } from '../contracts/clinic-token.ts';
import { parseEnvFile } from './backup-secrets.ts';
import { loadRegistry } from './registry.ts';
import { natsServerBin } from './reload.ts';
import { caProblem, hubHosts, serverCertProblem, tlsPaths } from './tls.ts';
import { needsCa } from './tls-secrets.ts';

export interface Check { file: string; ok: boolean; message: string }

function zodIssue(e: { issues: { path: PropertyKey[]; message: string }[] }): string {
  const i = e.issues[0]!;
  return `${i.path.map(String).join('.') || '(root)'}: ${i.message}`;
}

function tool(bin: string, args: string[]): { ok: boolean; out: string } {
  const r = spawnSync(bin, args, { encoding: 'utf8' });
  if (r.error) return { ok: false, out: `${bin} not runnable: ${r.error.message}` };
  return { ok: r.status === 0, out: `${r.stdout}${r.stderr}`.trim() };
}

export function validateState(stateDir: string): Check[] {
  const checks: Check[] = [];
  const check = (file: string, fn: () => string) => {
    try {
      checks.push({ file, ok: true, message: fn() });
    } catch (e) {
      checks.push({ file, ok: false, message: (e as Error).message });
    }
  };
  const abs = (p: string) => join(stateDir, p);
  const reg = loadRegistry(stateDir);
  const secretMode = (p: string) => {
    const m = statSync(abs(p)).mode & 0o777;
    if (m !== SECRET_MODE) throw new Error(`mode ${m.toString(8)}, expected 600 (it holds a password)`);
  };

  for (const c of reg.clinics) {
    check(paths.edge(c.id), () => {
      const raw = JSON.parse(readFileSync(abs(paths.edge(c.id)), 'utf8')) as Record<string, unknown>;
      const r = edgeConfigSchema.safeParse(raw);
      if (!r.success) throw new Error(`edge config schema: ${zodIssue(r.error)}`);
      if (r.data.clinicId !== c.id || r.data.natsUser !== c.natsUser) throw new Error('clinicId/natsUser differ from the registry');
      if (!r.data.natsPassword || !bcrypt.compareSync(r.data.natsPassword, c.passwordHash)) throw new Error('natsPassword does not match the registry hash');
      secretMode(paths.edge(c.id));
      return 'edge config schema, password matches the hub';
    });
  }
  // Per-clinic credentials: the upload token verifies at central as this clinic, the backup
  // token is the one central's target derives, the key file is the registry's key.
  const centralCfg = (() => { try { return JSON.parse(readFileSync(abs(paths.central), 'utf8')) as { apiToken?: string }; } catch { return {}; } })();
  const centralEnv = (() => { try { return parseEnvFile(readFileSync(abs(paths.centralEnv), 'utf8')); } catch { return {}; } })();
  const keyCheck = (file: string, owner: string, recorded: string | undefined) => check(file, () => {
    const k = loadKeyFile(abs(file));
    if (recorded && k.keyId !== recorded) throw new Error(`backup key ${k.keyId}, but the registry recorded ${recorded} for ${owner}`);
    secretMode(file);
    return `backup key ${k.keyId}`;
  });
  for (const c of reg.clinics) {
    check(paths.edgeEnv(c.id), () => {
      const env = parseEnvFile(readFileSync(abs(paths.edgeEnv(c.id)), 'utf8'));
      const img = loadImagingConfig('/', env);
      const bk = loadEdgeBackupConfig(undefined, env);
      if (!img.uploadToken || !centralCfg.apiToken || verifyClinicToken(centralCfg.apiToken, img.uploadToken) !== c.id) throw new Error('EDGE_DICOM_UPLOAD_TOKEN does not verify at central (central.json apiToken) as this clinic');
      if (!bk.remoteToken || !centralEnv.CENTRAL_BACKUP_TARGET_SECRET || bk.remoteToken !== clinicBackupToken(centralEnv.CENTRAL_BACKUP_TARGET_SECRET, c.id)) throw new Error('EDGE_BACKUP_REMOTE_TOKEN is not this clinic\'s token for central.env\'s CENTRAL_BACKUP_TARGET_SECRET');
      secretMode(paths.edgeEnv(c.id));
      return 'imaging and backup settings; upload and backup tokens verify at central as this clinic';
    });
    keyCheck(paths.edgeBackupKey(c.id), c.id, c.backupKeyId);
  }
  check(paths.centralEnv, () => {
    loadCentralBackupConfig(undefined, centralEnv);
    if (!centralEnv.CENTRAL_BACKUP_TARGET_SECRET) throw new Error('CENTRAL_BACKUP_TARGET_SECRET missing');
    secretMode(paths.centralEnv);
    return 'central backup settings';
  });
  keyCheck(paths.centralBackupKey, 'central', reg.central?.backupKeyId);
  const edgesDir = abs('out/edges');
  if (existsSync(edgesDir)) {
    for (const f of readdirSync(edgesDir)) {
      if (!reg.clinics.some((c) => [`${c.id}.json`, `${c.id}.env`, `${c.id}.backup.key`, `${c.id}.https.crt`, `${c.id}.https.key`].includes(f))) checks.push({ file: `out/edges/${f}`, ok: false, message: 'not in the registry (left over?)' });
    }
  }
  check(paths.central, () => {
    const r = centralConfigSchema.safeParse(JSON.parse(readFileSync(abs(paths.central), 'utf8')));
    if (!r.success) throw new Error(`central config schema: ${zodIssue(r.error)}`);
    if (!reg.central || !r.data.natsPassword || !bcrypt.compareSync(r.data.natsPassword, reg.central.passwordHash)) throw new Error('natsPassword does not match the registry hash');
    secretMode(paths.central);
    return 'central config schema';
  });
  check(paths.inventory, () => {
    const raw: unknown = parseYaml(readFileSync(abs(paths.inventory), 'utf8'));
    const refs = placeholderEnv(JSON.stringify(raw));
    const inv = parseInventory(raw, refs);
    return `parseInventory: ${inv.targets.length} targets, ${inv.clinics.length} clinics${Object.keys(refs).length ? `; needs env ${Object.keys(refs).join(', ')}` : ''}`;
  });
  check(paths.hub, () => {
    const bin = natsServerBin();
    if (!bin) throw new Error('nats-server not found (apt-get install -y nats-server)');
    // With TLS on, hub.conf names the certificate where the hub machine keeps it (hubTlsDir): test a
    // copy that names the generated files instead, so nats-server also loads and checks them here.
    const tlsOn = reg.settings.natsTls === 'on';
    const tmp = tlsOn ? mkdtempSync(join(tmpdir(), 'provision-hub-')) : null;
    let conf = abs(paths.hub);
    if (tmp) {
      conf = join(tmp, 'hub.conf');
      const dir = reg.settings.hubTlsDir;
      writeFileSync(conf, readFileSync(abs(paths.hub), 'utf8').replaceAll(JSON.stringify(`${dir}/hub.crt`), JSON.stringify(abs(tlsPaths.hubCert))).replaceAll(JSON.stringify(`${dir}/hub.key`), JSON.stringify(abs(tlsPaths.hubKey))));
    }
    let r: { ok: boolean; out: string };
    try {
      r = tool(bin, ['-c', conf, '-t']);
    } finally {
      if (tmp) rmSync(tmp, { recursive: true, force: true });
    }
    if (!r.ok) throw new Error(`nats-server -t: ${r.out}`);
    if (tlsOn && !/tls \{/.test(readFileSync(abs(paths.hub), 'utf8'))) throw new Error('natsTls is on but hub.conf has no tls block');
    const users = (readFileSync(abs(paths.hub), 'utf8').match(/\{ user: /g) ?? []).length;
    if (users !== reg.clinics.length + 1) throw new Error(`${users} users, expected central + ${reg.clinics.length} clinics`);
    secretMode(paths.hub);
    return `nats-server -t: ${r.out.split('\n').pop()}; ${users} users`;
  });
  if (needsCa(reg)) {
    check(tlsPaths.caCert, () => {
      const p = caProblem({ cert: readFileSync(abs(tlsPaths.caCert), 'utf8'), key: readFileSync(abs(tlsPaths.caKey), 'utf8') });
      if (p) throw new Error(`district CA: ${p}`);
      secretMode(tlsPaths.caKey);
      return `district CA, key in ${tlsPaths.caKey}`;
    });
    const serverCheck = (what: string, certRel: string, keyRel: string, hosts: string[]) => check(certRel, () => {
      const p = serverCertProblem(readFileSync(abs(tlsPaths.caCert), 'utf8'), { cert: readFileSync(abs(certRel), 'utf8'), key: readFileSync(abs(keyRel), 'utf8') }, hosts);
      if (p) throw new Error(`${what} certificate ${p}: run \`init\` to re-issue it`);
      secretMode(keyRel);
      return `signed by the district CA, names ${hosts.join(', ')}`;
    });
    if (reg.settings.natsTls === 'on') serverCheck('hub', tlsPaths.hubCert, tlsPaths.hubKey, hubHosts(reg.settings));
    for (const c of reg.clinics) if (c.edgeUrl.startsWith('https:')) serverCheck(`${c.id} HTTPS`, tlsPaths.edgeHttpsCert(c.id), tlsPaths.edgeHttpsKey(c.id), [new URL(c.edgeUrl).hostname]);
    if (reg.settings.centralUrl.startsWith('https:')) serverCheck('central HTTPS', tlsPaths.centralHttpsCert, tlsPaths.centralHttpsKey, [new URL(reg.settings.centralUrl).hostname]);
  }
  for (const t of ['edges', 'central', 'netmon'] as const) {
    check(paths.targets(t), () => {
      const groups = JSON.parse(readFileSync(abs(paths.targets(t)), 'utf8')) as { targets: string[] }[];
      if (!Array.isArray(groups) || groups.some((g) => !Array.isArray(g.targets))) throw new Error('not a file_sd list of {targets, labels}');
      return `${groups.length} target group(s)`;
    });
  }
  check(paths.promConfig, () => {
    const r = tool('promtool', ['check', 'config', abs(paths.promConfig)]);
    if (!r.ok) throw new Error(`promtool check config: ${r.out}`);
    return 'promtool check config (with targets and rule files)';
  });
  check(paths.rules, () => {
    const r = tool('promtool', ['check', 'rules', abs(paths.rules)]);
    if (!r.ok) throw new Error(`promtool check rules: ${r.out}`);
    return r.out.split('\n').find((l) => /SUCCESS/.test(l)) ?? 'promtool check rules';
  });
  const dashDir = abs('out/grafana/dashboards');
  if (existsSync(dashDir)) {
    for (const f of readdirSync(dashDir).sort()) {
      check(`out/grafana/dashboards/${f}`, () => {
        const d = JSON.parse(readFileSync(join(dashDir, f), 'utf8')) as { uid?: string; panels?: unknown[] };
        if (!d.uid || !Array.isArray(d.panels)) throw new Error('not a Grafana dashboard (uid, panels)');
        return `dashboard ${d.uid}, ${d.panels.length} panels`;
      });
    }
  }
  for (const f of ['out/grafana/provisioning/datasources/health-network.yaml', 'out/grafana/provisioning/dashboards/health-network.yaml']) {
    check(f, () => {
      const y = parseYaml(readFileSync(abs(f), 'utf8')) as { apiVersion?: number };
      if (y.apiVersion !== 1) throw new Error('apiVersion 1 expected');
      return 'Grafana provisioning YAML';
    });
  }
  return checks;
}
