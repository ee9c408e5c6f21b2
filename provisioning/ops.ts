/**
 * The mutating operations (init, enrol, remove) as pure plans: registry + secrets in,
 * complete file set out. The CLI diffs the plan against the state directory and applies it.
 */
import { hashPassword } from './nats.ts';
import { InputError } from './errors.ts';
import { paths, renderAll, SECRET_MODE, type FileSet } from './render.ts';
import { backupSecrets, existingKey, retiredKeyPath } from './backup-secrets.ts';
import { keyFromBytes } from '../contracts/backup/index.ts';
import { settingsSchema, type ClinicEntry, type Registry, type SnmpRef, type SnmpTarget } from './registry.ts';
import { centralSecrets, clinicSecrets, existingEdgePassword, newPassword } from './secrets.ts';
import * as input from './input.ts';
import { tlsSecrets } from './tls-secrets.ts';
import { tlsPaths } from './tls.ts';

export interface Plan { registry: Registry; files: FileSet; notes: string[] }

function finish(stateDir: string, reg: Registry, fresh: Map<string, string>, now: string, notes: string[], opts: { rotateBackupKey?: string; extra?: FileSet } = {}): Plan {
  const c = centralSecrets(stateDir, reg, now);
  if (c.issued) notes.push(reg.central ? 'central NATS password re-issued (out/central/central.json was missing or stale)' : 'central NATS user created');
  const b = backupSecrets(stateDir, { ...reg, central: c.central }, opts.rotateBackupKey, notes);
  const registry = b.registry;
  const tls = tlsSecrets(stateDir, registry, notes);
  const files = renderAll(registry, { central: c.secrets, clinics: clinicSecrets(stateDir, registry, fresh), backup: b.secrets, ...(tls ? { tls } : {}) });
  // Retired backup keys live outside out/: written once, never deleted by provisioning.
  for (const [p, f] of [...b.retired, ...(opts.extra ?? [])]) files.set(p, f);
  // The CA key lives outside out/ as well: written once, when the CA is made.
  if (tls?.caCreated) files.set(tlsPaths.caKey, { content: tls.ca.key, mode: SECRET_MODE });
  return { registry, files, notes };
}

export interface SettingsInput { [k: string]: string | undefined }

/** Set deployment settings (NATS URL, hub listen address, data dirs, URLs); creates the central user. */
export function planInit(stateDir: string, reg: Registry, flags: SettingsInput, now = new Date().toISOString()): Plan {
  const merged: Record<string, unknown> = { ...reg.settings };
  for (const [k, v] of Object.entries(flags)) if (v !== undefined) merged[k] = v;
  const r = settingsSchema.safeParse(merged);
  if (!r.success) {
    const i = r.error.issues[0]!;
    const flag = `--${String(i.path[0]).replace(/([A-Z])/g, '-$1').toLowerCase()}`;
    throw new InputError(`${flag} ${JSON.stringify(merged[String(i.path[0])])}`, i.message);
  }
  return finish(stateDir, { ...reg, settings: r.data }, new Map(), now, []);
}

export interface EnrolInput {
  clinic: string;
  name?: string;
  level?: string;
  parent?: string;
  router?: string;
  switch?: string;
  snmp?: input.SnmpFlags;
  edgeUrl?: string;
  rotatePassword?: boolean;
  /** Issue a new backup key (the old one is kept under retired-keys/). */
  rotateBackupKey?: boolean;
  /** `id:kind` pairs (repeatable `--device`); replaces the registered list when given. */
  devices?: string[];
}

const sameEntry = (a: ClinicEntry, b: ClinicEntry) => JSON.stringify({ ...a, createdAt: 0, updatedAt: 0 }) === JSON.stringify({ ...b, createdAt: 0, updatedAt: 0 });

/** Enrol a clinic, or update it: flags not given keep their registered values. */
export function planEnrol(stateDir: string, reg: Registry, e: EnrolInput, now = new Date().toISOString()): Plan {
  const id = input.clinicId(e.clinic);
  const existing = reg.clinics.find((c) => c.id === id);
  const notes: string[] = [];
  if (!existing && e.name === undefined) throw new InputError('--name', `required to enrol the new clinic ${id}`);
  const name = e.name !== undefined ? input.clinicName(e.name) : existing!.name;
  const level = e.level !== undefined ? input.level(e.level) : existing?.level ?? 'centre';
  let parent = e.parent !== undefined ? input.clinicId(e.parent, '--parent') : existing?.parent;
  if (level === 'centre') {
    if (e.parent !== undefined) throw new InputError('--parent', 'only a station has a parent centre (use --level station)');
    parent = undefined;
  } else {
    if (parent === undefined) throw new InputError('--parent', `a station needs its community health service centre (--parent <centre id>)`);
    const p = reg.clinics.find((c) => c.id === parent);
    if (!p) throw new InputError(`--parent ${JSON.stringify(parent)}`, 'no such clinic enrolled; enrol the centre first');
    if (p.level !== 'centre') throw new InputError(`--parent ${JSON.stringify(parent)}`, 'is a station, not a centre');
  }
  if (existing?.level === 'centre' && level === 'station' && reg.clinics.some((c) => c.parent === id)) {
    throw new InputError('--level', `${id} is the parent centre of ${reg.clinics.filter((c) => c.parent === id).map((c) => c.id).join(', ')}`);
  }
  const ref: SnmpRef | undefined = input.snmpRef(e.snmp ?? {});
  const router: SnmpTarget | undefined = input.snmpTarget(e.router, '--router', ref, existing?.router);
  const sw: SnmpTarget | undefined = input.snmpTarget(e.switch, '--switch', ref, existing?.switch);
  if (ref && !router && !sw) throw new InputError(ref.version === '3' ? '--snmp-user' : '--snmp-community-env', 'SNMP credentials need --router and/or --switch');
  const edgeUrl = e.edgeUrl !== undefined ? input.edgeUrl(e.edgeUrl) : existing?.edgeUrl ?? reg.settings.edgeUrlTemplate.replaceAll('{id}', id);

  const devices = e.devices !== undefined ? e.devices.map((d) => {
    const m = /^([a-z0-9][a-z0-9-]{0,63}):([a-z0-9_-]{1,40})$/.exec(d.trim());
    if (!m) throw new InputError(`--device ${JSON.stringify(d)}`, 'use id:kind with lower-case letters, digits and dashes, e.g. us-01:ultrasound');
    return { id: m[1]!, kind: m[2]! };
  }) : existing?.devices;

  const fresh = new Map<string, string>();
  let passwordHash = existing?.passwordHash;
  const kept = existing && !e.rotatePassword ? existingEdgePassword(stateDir, existing, true) : null;
  if (kept !== null) fresh.set(id, kept);
  else {
    if (existing && !e.rotatePassword) notes.push(`out/edges/${id}.json was missing or did not match the registry: new NATS password issued`);
    const pw = newPassword();
    passwordHash = hashPassword(pw);
    fresh.set(id, pw);
    notes.push(existing ? `NATS password of clinic-${id} rotated: install the new out/edges/${id}.json on the edge` : `clinic ${id} enrolled as NATS user clinic-${id}: install out/edges/${id}.json on the edge (it holds the password)`);
  }
  const entry: ClinicEntry = {
    id, name, level, ...(parent !== undefined ? { parent } : {}),
    natsUser: `clinic-${id}`, passwordHash: passwordHash!, edgeUrl,
    ...(router ? { router } : {}), ...(sw ? { switch: sw } : {}),
    ...(devices && devices.length > 0 ? { devices } : {}),
    ...(existing?.backupKeyId ? { backupKeyId: existing.backupKeyId } : {}),
    createdAt: existing?.createdAt ?? now, updatedAt: existing?.updatedAt ?? now,
  };
  if (existing && !sameEntry(existing, entry)) entry.updatedAt = now;
  const registry: Registry = { ...reg, clinics: [...reg.clinics.filter((c) => c.id !== id), entry] };
  return finish(stateDir, registry, fresh, now, notes, { rotateBackupKey: e.rotateBackupKey ? id : undefined });
}

/** Remove a clinic: its NATS user disappears from the hub, its edge config, targets and inventory entries go. */
export function planRemove(stateDir: string, reg: Registry, clinic: string, now = new Date().toISOString()): Plan {
  const id = input.clinicId(clinic);
  if (!reg.clinics.some((c) => c.id === id)) throw new InputError(`--clinic ${JSON.stringify(id)}`, 'no such clinic enrolled');
  const stations = reg.clinics.filter((c) => c.parent === id).map((c) => c.id);
  if (stations.length) throw new InputError(`--clinic ${JSON.stringify(id)}`, `is the parent centre of ${stations.join(', ')}: remove or move them first`);
  // Its backups stay on central's target: keep the key that reads them.
  const notes = [`NATS user clinic-${id} revoked`];
  const extra: FileSet = new Map();
  const key = existingKey(stateDir, paths.edgeBackupKey(id));
  if (key) {
    const kept = retiredKeyPath(id, keyFromBytes(Buffer.from(key, 'hex')).keyId);
    extra.set(kept, { content: `${key}\n`, mode: SECRET_MODE });
    notes.push(`backup key of ${id} kept in ${kept} (its backups on central can only be restored with it)`);
  }
  return finish(stateDir, { ...reg, clinics: reg.clinics.filter((c) => c.id !== id) }, new Map(), now, notes, { extra });
}
