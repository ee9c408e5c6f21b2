/** Validation of operator input (CLI flags); every error names the flag. */
import { CLINIC_ID_PATTERN } from '../contracts/index.ts';
import { InputError } from './errors.ts';
import { ENV_NAME, type SnmpRef, type SnmpTarget } from './registry.ts';

const show = (v: string) => JSON.stringify(v);

export function clinicId(v: string | undefined, flag = '--clinic'): string {
  if (v === undefined || v === '') throw new InputError(flag, 'required (the clinic id, e.g. c01-yulin)');
  if (!CLINIC_ID_PATTERN.test(v)) throw new InputError(`${flag} ${show(v)}`, 'clinic id must be lower-case letters, digits and dashes (2-32 characters, starting with a letter or digit)');
  return v;
}

export function clinicName(v: string): string {
  const s = v.trim();
  if (s === '') throw new InputError('--name', 'must not be empty');
  if (s.length > 64) throw new InputError('--name', `at most 64 characters (got ${s.length})`);
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(s)) throw new InputError('--name', 'must not contain control characters');
  return s;
}

export function level(v: string): 'centre' | 'station' {
  if (v !== 'centre' && v !== 'station') throw new InputError(`--level ${show(v)}`, 'must be "centre" (community health service centre) or "station"');
  return v;
}

const HOST = /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

function port(v: string, flag: string): number {
  const n = Number(v);
  if (!/^\d+$/.test(v) || n < 1 || n > 65535) throw new InputError(flag, `port ${show(v)} must be an integer 1-65535`);
  return n;
}

/** `host[:port]` of an SNMP agent (default port 161). */
export function hostPort(v: string, flag: string): { host: string; port: number } {
  const m = /^\[([0-9a-fA-F:]+)\](?::(.*))?$/.exec(v) ?? /^([^:]*)(?::(.*))?$/.exec(v);
  const host = m?.[1] ?? '';
  if (!host || !(HOST.test(host) || /^[0-9a-fA-F:]+$/.test(host) && host.includes(':'))) {
    throw new InputError(`${flag} ${show(v)}`, 'expected host[:port] (a host name or IP address, port 1-65535)');
  }
  return { host, port: m?.[2] !== undefined ? port(m[2], `${flag} ${show(v)}`) : 161 };
}

export function edgeUrl(v: string): string {
  let u: URL;
  try {
    u = new URL(v);
  } catch {
    throw new InputError(`--edge-url ${show(v)}`, 'expected http://host:port');
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new InputError(`--edge-url ${show(v)}`, 'must be http:// or https://');
  if (u.pathname !== '/' || u.search || u.hash || u.username) throw new InputError(`--edge-url ${show(v)}`, 'only scheme, host and port (the edge serves /healthz and /metrics)');
  return `${u.protocol}//${u.host}`;
}

function envName(v: string | undefined, flag: string): string {
  if (v === undefined) throw new InputError(flag, 'required for SNMPv3 (the name of the environment variable holding the key)');
  if (!ENV_NAME.test(v)) throw new InputError(`${flag} ${show(v)}`, 'must be an environment variable name (upper-case letters, digits, _), not the secret itself');
  return v;
}

export interface SnmpFlags {
  user?: string;
  authKeyEnv?: string;
  privKeyEnv?: string;
  authProtocol?: string;
  privProtocol?: string;
  communityEnv?: string;
}

type V3 = Extract<SnmpRef, { version: '3' }>;

const AUTH = ['sha', 'sha224', 'sha256', 'sha384', 'sha512'] as const;
const PRIV = ['aes', 'aes256b', 'aes256r'] as const;

/** SNMP credentials as environment-variable references; undefined when no SNMP flag was given. */
export function snmpRef(f: SnmpFlags): SnmpRef | undefined {
  const v3 = f.user !== undefined || f.authKeyEnv !== undefined || f.privKeyEnv !== undefined || f.authProtocol !== undefined || f.privProtocol !== undefined;
  if (v3 && f.communityEnv !== undefined) throw new InputError('--snmp-community-env', 'give either SNMPv3 (--snmp-user ...) or a v2c community, not both');
  if (f.communityEnv !== undefined) {
    if (!ENV_NAME.test(f.communityEnv)) throw new InputError(`--snmp-community-env ${show(f.communityEnv)}`, 'must be an environment variable name (upper-case letters, digits, _), not the community itself');
    return { version: '2c', communityEnv: f.communityEnv };
  }
  if (!v3) return undefined;
  if (!f.user) throw new InputError('--snmp-user', 'required for SNMPv3 authPriv');
  const authProtocol = f.authProtocol ?? 'sha256';
  const privProtocol = f.privProtocol ?? 'aes';
  if (!(AUTH as readonly string[]).includes(authProtocol)) throw new InputError(`--snmp-auth-protocol ${show(authProtocol)}`, `one of ${AUTH.join(', ')}`);
  if (!(PRIV as readonly string[]).includes(privProtocol)) throw new InputError(`--snmp-priv-protocol ${show(privProtocol)}`, `one of ${PRIV.join(', ')}`);
  return {
    version: '3', user: f.user,
    authProtocol: authProtocol as V3['authProtocol'],
    privProtocol: privProtocol as V3['privProtocol'],
    authKeyEnv: envName(f.authKeyEnv, '--snmp-auth-key-env'),
    privKeyEnv: envName(f.privKeyEnv, '--snmp-priv-key-env'),
  };
}

/** An SNMP target from `--router`/`--switch` and the credentials (new or the existing ones). */
export function snmpTarget(hp: string | undefined, flag: string, ref: SnmpRef | undefined, existing: SnmpTarget | undefined): SnmpTarget | undefined {
  if (hp === undefined) return existing && ref ? { ...existing, snmp: ref } : existing;
  const { host, port: p } = hostPort(hp, flag);
  const snmp = ref ?? existing?.snmp;
  if (!snmp) throw new InputError(flag, 'needs SNMP credentials: --snmp-user U --snmp-auth-key-env VAR --snmp-priv-key-env VAR (v3 authPriv), or --snmp-community-env VAR (v2c)');
  return { host, port: p, snmp };
}

export function pid(v: string, flag: string): number {
  if (!/^\d+$/.test(v.trim()) || Number(v) < 2) throw new InputError(`${flag} ${show(v.trim())}`, 'must be a process id (an integer > 1)');
  return Number(v);
}
