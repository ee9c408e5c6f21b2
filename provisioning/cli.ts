/**
 * Provisioning CLI: enrol/remove clinics, regenerate every config the network needs, validate
 * them, manage the device profile library. Run `node --import tsx provisioning/cli.ts help`.
 * Exit codes: 0 ok, 1 failure (validation, tool), 2 bad input (nothing written).
 */
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { InputError } from './errors.ts';
import { applyChanges, formatChanges, planChanges, summary, type Change } from './files.ts';
import { planEnrol, planInit, planRemove, type Plan } from './ops.ts';
import { loadRegistry, sortedClinicsOf } from './registry.ts';
import { paths } from './render.ts';
import { checkPidAlive, reloadHub, resolvePid } from './reload.ts';

export const USAGE = `usage: provision <command> [--state DIR] [options]      (state default ./provisioning-state)

  init    [--nats-url nats://host:4222] [--hub-listen host:port] [--hub-store-dir DIR]
          [--edge-data-dir DIR] [--edge-url-template http://edge-{id}:8080] [--central-data-dir DIR]
          [--central-url URL] [--netmon-url URL] [--prometheus-url URL] [--grafana-dashboards-path DIR]
          [--edge-backup-key-file F] [--edge-backup-dir DIR] [--central-backup-key-file F] [--central-backup-dir DIR]
          [--nats-tls on|off] [--nats-tls-hosts h1,h2] [--hub-tls-dir DIR] [--edge-nats-ca-file F] [--central-nats-ca-file F]
  enrol   --clinic ID --name 名称 [--level centre|station] [--parent CENTRE_ID] [--device id:kind ...]
          [--router host[:port]] [--switch host[:port]]
          [--snmp-user U --snmp-auth-key-env VAR --snmp-priv-key-env VAR [--snmp-auth-protocol sha256] [--snmp-priv-protocol aes]
           | --snmp-community-env VAR]
          [--edge-url http://host:port] [--rotate-password] [--rotate-backup-key]
  remove  --clinic ID
  list
  validate
  profiles list | validate [FILE...] | add FILE [--force]

  init/enrol/remove/profiles add accept --dry-run (print the diff, write nothing);
  enrol/remove/init accept --nats-pid PID or --nats-pid-file FILE (reload the running hub).`;

const options = {
  state: { type: 'string' }, 'dry-run': { type: 'boolean' }, 'nats-pid': { type: 'string' }, 'nats-pid-file': { type: 'string' },
  clinic: { type: 'string' }, name: { type: 'string' }, level: { type: 'string' }, parent: { type: 'string' },
  router: { type: 'string' }, switch: { type: 'string' }, device: { type: 'string', multiple: true }, 'edge-url': { type: 'string' }, 'rotate-password': { type: 'boolean' }, 'rotate-backup-key': { type: 'boolean' },
  'snmp-user': { type: 'string' }, 'snmp-auth-key-env': { type: 'string' }, 'snmp-priv-key-env': { type: 'string' },
  'snmp-auth-protocol': { type: 'string' }, 'snmp-priv-protocol': { type: 'string' }, 'snmp-community-env': { type: 'string' },
  'nats-url': { type: 'string' }, 'hub-listen': { type: 'string' }, 'hub-store-dir': { type: 'string' }, 'edge-data-dir': { type: 'string' },
  'edge-url-template': { type: 'string' }, 'central-data-dir': { type: 'string' }, 'central-url': { type: 'string' },
  'netmon-url': { type: 'string' }, 'prometheus-url': { type: 'string' }, 'grafana-dashboards-path': { type: 'string' },
  'edge-backup-key-file': { type: 'string' }, 'edge-backup-dir': { type: 'string' }, 'central-backup-key-file': { type: 'string' }, 'central-backup-dir': { type: 'string' },
  'nats-tls': { type: 'string' }, 'nats-tls-hosts': { type: 'string' }, 'hub-tls-dir': { type: 'string' }, 'edge-nats-ca-file': { type: 'string' }, 'central-nats-ca-file': { type: 'string' },
  force: { type: 'boolean' }, help: { type: 'boolean', short: 'h' },
} as const;

const MUTATING = new Set(['init', 'enrol', 'remove']);

export interface Io { out: (s: string) => void; err: (s: string) => void }

export async function main(argv: string[], io: Io = { out: (s) => process.stdout.write(s), err: (s) => process.stderr.write(s) }): Promise<number> {
  try {
    let parsed;
    try {
      parsed = parseArgs({ args: argv, options, allowPositionals: true, strict: true });
    } catch (e) {
      throw new InputError('arguments', (e as Error).message.split('\n')[0]!);
    }
    const v = parsed.values;
    const [command, ...rest] = parsed.positionals;
    if (!command || command === 'help' || v.help) {
      io.out(`${USAGE}\n`);
      return command || v.help ? 0 : 2;
    }
    const stateDir = resolve(v.state ?? './provisioning-state');
    const dry = v['dry-run'] === true;
    if (rest.length && command !== 'profiles') throw new InputError(command, `unexpected argument ${JSON.stringify(rest[0])}`);

    if (MUTATING.has(command)) {
      const reg = loadRegistry(stateDir);
      const pid = dry ? undefined : resolvePid({ natsPid: v['nats-pid'], natsPidFile: v['nats-pid-file'] });
      let plan: Plan;
      if (command === 'init') {
        plan = planInit(stateDir, reg, {
          natsUrl: v['nats-url'], hubListen: v['hub-listen'], hubStoreDir: v['hub-store-dir'], edgeDataDir: v['edge-data-dir'],
          edgeUrlTemplate: v['edge-url-template'], centralDataDir: v['central-data-dir'], centralUrl: v['central-url'],
          netmonUrl: v['netmon-url'], prometheusUrl: v['prometheus-url'], grafanaDashboardsPath: v['grafana-dashboards-path'],
          edgeBackupKeyFile: v['edge-backup-key-file'], edgeBackupDir: v['edge-backup-dir'], centralBackupKeyFile: v['central-backup-key-file'], centralBackupDir: v['central-backup-dir'],
          natsTls: v['nats-tls'], natsTlsHosts: v['nats-tls-hosts'], hubTlsDir: v['hub-tls-dir'], edgeNatsCaFile: v['edge-nats-ca-file'], centralNatsCaFile: v['central-nats-ca-file'],
        });
      } else if (command === 'enrol') {
        plan = planEnrol(stateDir, reg, {
          clinic: v.clinic ?? '', name: v.name, level: v.level, parent: v.parent, router: v.router, switch: v.switch,
          edgeUrl: v['edge-url'], rotatePassword: v['rotate-password'] === true, rotateBackupKey: v['rotate-backup-key'] === true, devices: v.device as string[] | undefined,
          snmp: {
            user: v['snmp-user'], authKeyEnv: v['snmp-auth-key-env'], privKeyEnv: v['snmp-priv-key-env'],
            authProtocol: v['snmp-auth-protocol'], privProtocol: v['snmp-priv-protocol'], communityEnv: v['snmp-community-env'],
          },
        });
      } else {
        plan = planRemove(stateDir, reg, v.clinic ?? '');
      }
      const changes = planChanges(stateDir, plan.files);
      if (pid !== undefined) checkPidAlive(pid);
      report(io, changes, dry, plan.notes);
      if (!dry) {
        applyChanges(stateDir, changes);
        if (pid !== undefined) io.out(changes.some((c) => c.path === paths.hub) ? `${reloadHub(pid)}\n` : 'hub config unchanged: no reload\n');
        else if (changes.some((c) => c.path === paths.hub)) io.out(`${paths.hub} changed: reload the hub (nats-server --signal reload=<pid>, or pass --nats-pid)\n`);
        if (command === 'enrol') io.out(`dashboard: /d/netmon-clinic-link?var-clinic=${v.clinic}\n`);
      }
      return 0;
    }

    switch (command) {
      case 'list': {
        const reg = loadRegistry(stateDir);
        const rows = sortedClinicsOf(reg).map((c) => `${c.id}\t${c.level}\t${c.parent ?? '-'}\t${c.natsUser}\t${c.edgeUrl}\t${[c.router && `router ${c.router.host}:${c.router.port} (v${c.router.snmp.version})`, c.switch && `switch ${c.switch.host}:${c.switch.port}`].filter(Boolean).join(', ') || '-'}\t${c.name}`);
        io.out(`${['id\tlevel\tparent\tnats user\tedge\tsnmp\tname', ...rows].join('\n')}\n`);
        return 0;
      }
      case 'validate': {
        const { validateState } = await import('./validate.ts');
        const { validateProfiles } = await import('./profiles.ts');
        const checks = validateState(stateDir);
        let profileLines: string[] = [];
        try {
          profileLines = validateProfiles(stateDir, []);
        } catch (e) {
          checks.push({ file: 'profiles/', ok: false, message: (e as Error).message });
        }
        for (const c of checks) io.out(`${c.ok ? 'ok  ' : 'FAIL'} ${c.file}: ${c.message}\n`);
        io.out(`ok   profiles: ${profileLines.length} valid\n`);
        const failed = checks.filter((c) => !c.ok).length;
        io.out(failed ? `${failed} of ${checks.length} checks failed\n` : `all ${checks.length} checks passed\n`);
        return failed ? 1 : 0;
      }
      case 'profiles': {
        const { listProfiles, validateProfiles, planAddProfile } = await import('./profiles.ts');
        const [sub, ...files] = rest;
        if (sub === 'list') {
          io.out(listProfiles(stateDir).map((p) => `${p.id}\t${p.protocol}\t${p.kind}\t${p.quantities} quantities\t${p.source}\t${p.nameZh ?? p.name}`).join('\n') + '\n');
          return 0;
        }
        if (sub === 'validate') {
          io.out(validateProfiles(stateDir, files).join('\n') + '\n');
          return 0;
        }
        if (sub === 'add') {
          if (files.length !== 1) throw new InputError('profiles add', 'exactly one profile file');
          const { changes, profile } = planAddProfile(stateDir, resolve(files[0]!), v.force === true);
          report(io, changes, dry, [`profile ${profile.id} (${profile.protocol}) ${changes.length ? 'added to' : 'already in'} the library`]);
          if (!dry) applyChanges(stateDir, changes);
          return 0;
        }
        throw new InputError('profiles', `expected list, validate or add (got ${JSON.stringify(sub ?? '')})`);
      }
      default:
        throw new InputError('command', `unknown command ${JSON.stringify(command)}; run \`provision help\``);
    }
  } catch (e) {
    if (e instanceof InputError) {
      io.err(`provision: error: ${e.message}\n`);
      return 2;
    }
    io.err(`provision: ${(e as Error).stack ?? String(e)}\n`);
    return 1;
  }
}

function report(io: Io, changes: Change[], dry: boolean, notes: string[]): void {
  if (dry) {
    io.out(formatChanges(changes));
    io.out(`dry run: ${summary(changes)}; nothing written\n`);
    return;
  }
  for (const c of changes) io.out(`${!c.before ? 'created' : !c.after ? 'removed' : 'updated'} ${c.path}\n`);
  for (const n of notes) io.out(`${n}\n`);
  io.out(`${summary(changes)}\n`);
}

// Under tap (which loads every .ts file) only the test files run; the CLI runs when executed directly.
if (process.argv[1] && resolve(process.argv[1]) === resolve(import.meta.filename)) {
  // `provision ... | head` must not end in an EPIPE stack trace.
  process.stdout.on('error', (e: NodeJS.ErrnoException) => { if (e.code !== 'EPIPE') throw e; });
  process.exitCode = await main(process.argv.slice(2));
}
