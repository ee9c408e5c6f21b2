/**
 * The district's certificates for TLS to the NATS hub: a CA (its key stays in the state
 * directory, outside out/) and the hub's server certificate naming the hosts edges and central
 * dial. Made with the `openssl` command (Debian's openssl package): the reference tool for X.509,
 * what an operator would use by hand, and no JavaScript ASN.1 encoder to trust instead (see
 * README, "Why openssl"). Keys are ECDSA P-256. Checks use Node's own X509Certificate.
 */
import { execFileSync } from 'node:child_process';
import { X509Certificate, createPrivateKey, createPublicKey } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface Pem { cert: string; key: string }

/** Days a CA and a hub certificate are valid; a hub certificate is re-issued when fewer than RENEW_DAYS are left. */
export const CA_DAYS = 3650;
export const SERVER_DAYS = 825;
export const RENEW_DAYS = 30;

function openssl(args: string[], cwd: string): void {
  try {
    execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (e) {
    const err = e as NodeJS.ErrnoException & { stderr?: Buffer };
    if (err.code === 'ENOENT') throw new Error('openssl not found: install it (apt-get install -y openssl) to make the hub\'s TLS certificates', { cause: e });
    throw new Error(`openssl ${args[0]} failed: ${err.stderr?.toString().trim() || err.message}`, { cause: e });
  }
}

function inTemp<T>(fn: (dir: string) => T): T {
  const dir = mkdtempSync(join(tmpdir(), 'provision-tls-'));
  try {
    return fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];

/** A new CA (self-signed, CA:TRUE, may sign certificates only). */
export function createCa(commonName: string, days = CA_DAYS): Pem {
  return inTemp((d) => {
    openssl(['req', '-x509', ...EC, '-keyout', 'ca.key', '-out', 'ca.crt', '-days', String(days), '-subj', `/O=District Health Network/CN=${commonName}`,
      '-addext', 'basicConstraints=critical,CA:TRUE,pathlen:0', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'], d);
    return { cert: readFileSync(join(d, 'ca.crt'), 'utf8'), key: readFileSync(join(d, 'ca.key'), 'utf8') };
  });
}

const san = (hosts: string[]) => hosts.map((h) => (isIP(h) ? `IP:${h}` : `DNS:${h}`)).join(',');

/** A server certificate for `hosts` (DNS names or IP addresses), signed by `ca`. */
export function issueServerCert(ca: Pem, hosts: string[], commonName: string, days = SERVER_DAYS): Pem {
  if (hosts.length === 0) throw new Error('a server certificate needs at least one host name or address');
  return inTemp((d) => {
    writeFileSync(join(d, 'ca.crt'), ca.cert);
    writeFileSync(join(d, 'ca.key'), ca.key, { mode: 0o600 });
    writeFileSync(join(d, 'ext.cnf'), `basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=${san(hosts)}\n`);
    openssl(['req', '-new', ...EC, '-keyout', 'server.key', '-out', 'server.csr', '-subj', `/O=District Health Network/CN=${commonName}`], d);
    openssl(['x509', '-req', '-in', 'server.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key',
      // OpenSSL 3 picks a random serial number when none is given.
      '-days', String(days), '-sha256', '-extfile', 'ext.cnf', '-out', 'server.crt'], d);
    return { cert: readFileSync(join(d, 'server.crt'), 'utf8'), key: readFileSync(join(d, 'server.key'), 'utf8') };
  });
}

/** Why `keyPem` is not the private key of `c` (null: it is). */
function keyProblem(c: X509Certificate, keyPem: string): string | null {
  try {
    const pub = createPublicKey(createPrivateKey(keyPem)).export({ type: 'spki', format: 'der' });
    return pub.equals(c.publicKey.export({ type: 'spki', format: 'der' })) ? null : 'its key file does not belong to the certificate';
  } catch (e) {
    return `its key does not parse (${(e as Error).message})`;
  }
}

/** Why `ca` cannot be used as the district CA (null: it can). */
export function caProblem(ca: Pem): string | null {
  let c: X509Certificate;
  try {
    c = new X509Certificate(ca.cert);
  } catch (e) {
    return `not a certificate (${(e as Error).message})`;
  }
  if (!c.ca) return 'not a CA certificate';
  const k = keyProblem(c, ca.key);
  if (k) return k;
  if (Date.parse(c.validTo) < Date.now()) return `expired on ${c.validTo}`;
  return null;
}

/**
 * Why the server certificate cannot stay (null: it can): not signed by `caCert`, a host missing
 * from its names, expiring within `renewDays`, or a key that is not its own.
 */
export function serverCertProblem(caCert: string, server: Pem, hosts: string[], renewDays = RENEW_DAYS): string | null {
  let c: X509Certificate;
  try {
    c = new X509Certificate(server.cert);
  } catch (e) {
    return `not a certificate (${(e as Error).message})`;
  }
  try {
    if (!c.verify(new X509Certificate(caCert).publicKey)) return 'not signed by the district CA';
  } catch (e) {
    return `cannot be checked against the district CA (${(e as Error).message})`;
  }
  for (const h of hosts) {
    const ok = isIP(h) ? c.checkIP(h) !== undefined : c.checkHost(h) !== undefined;
    if (!ok) return `does not name ${h}`;
  }
  if (Date.parse(c.validTo) - Date.now() < renewDays * 86400_000) return `expires on ${c.validTo} (fewer than ${renewDays} days left)`;
  return keyProblem(c, server.key);
}

// ------------------------------------------------------------------ the state directory's certificates

/** Where provisioning keeps them (relative to the state directory). */
export const tlsPaths = {
  /** The CA's private key: outside out/, never installed anywhere. */
  caKey: 'tls/ca.key',
  /** The CA certificate every edge and central install (natsTlsCaFile). */
  caCert: 'out/tls/ca.crt',
  hubCert: 'out/nats/hub.crt',
  hubKey: 'out/nats/hub.key',
  edgeHttpsCert: (id: string) => `out/edges/${id}.https.crt`,
  edgeHttpsKey: (id: string) => `out/edges/${id}.https.key`,
  centralHttpsCert: 'out/central/https.crt',
  centralHttpsKey: 'out/central/https.key',
};

export interface TlsSecrets {
  ca: Pem;
  /** The CA was made by this run: its key is to be written (outside out/, never rewritten). */
  caCreated: boolean;
  /** The hub's certificate and the names it carries (natsTls on). */
  hub?: Pem;
  hosts: string[];
  /** HTTPS certificates of the edges whose edgeUrl is https://, by clinic id. */
  edgeHttps: Map<string, Pem>;
  /** Central's HTTPS certificate when centralUrl is https://. */
  centralHttps?: Pem;
}

/** The names the hub's certificate must carry: natsUrl's host, then natsTlsHosts. */
export function hubHosts(settings: { natsUrl: string; natsTlsHosts: string }): string[] {
  const first = new URL(settings.natsUrl).hostname.replace(/^\[|\]$/g, '');
  const extra = settings.natsTlsHosts.split(',').map((h) => h.trim()).filter(Boolean);
  return [...new Set([first, ...extra])];
}
