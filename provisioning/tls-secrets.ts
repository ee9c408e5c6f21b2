/**
 * The district CA and the certificates it signs, kept stable across runs like the backup keys:
 * read back from the state directory and kept while valid. A server certificate is re-issued (and
 * said so) when it no longer names its host, nears its end or is not the CA's; the CA is never
 * replaced silently (every edge and central trust it): a missing key or certificate of an existing
 * CA is an error naming the file.
 *
 * The CA exists when the hub runs TLS (`natsTls` on) or any edge or central URL is https://:
 * - the hub's certificate (natsTls on) names natsUrl's host and natsTlsHosts;
 * - an edge whose `edgeUrl` is https:// gets a certificate for that URL's host (out/edges/<id>.https.crt);
 * - central, when `centralUrl` is https://, one for its host (out/central/https.crt).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { InputError } from './errors.ts';
import { sortedClinicsOf, type Registry } from './registry.ts';
import { caProblem, createCa, hubHosts, issueServerCert, serverCertProblem, tlsPaths, type Pem, type TlsSecrets } from './tls.ts';

const read = (stateDir: string, rel: string): string | null => {
  const f = join(stateDir, rel);
  return existsSync(f) ? readFileSync(f, 'utf8') : null;
};

const hostOf = (url: string) => new URL(url).hostname.replace(/^\[|\]$/g, '');
const isHttpsUrl = (url: string) => url.startsWith('https:');

/** Whether the registry needs the district CA at all. */
export function needsCa(reg: Registry): boolean {
  return reg.settings.natsTls === 'on' || isHttpsUrl(reg.settings.centralUrl) || reg.clinics.some((c) => isHttpsUrl(c.edgeUrl));
}

export function tlsSecrets(stateDir: string, reg: Registry, notes: string[]): TlsSecrets | undefined {
  if (!needsCa(reg)) return undefined;
  const key = read(stateDir, tlsPaths.caKey);
  const cert = read(stateDir, tlsPaths.caCert);
  let ca: Pem;
  let caCreated = false;
  if (key && cert) {
    ca = { cert, key };
    const p = caProblem(ca);
    if (p) throw new InputError(tlsPaths.caCert, `the district CA ${p}: put back the CA's certificate and key (${tlsPaths.caKey}) from your copy, or remove both to make a new CA (then install the new ${tlsPaths.caCert} everywhere it is trusted: every edge, central, the clinics' browsers)`);
  } else if (key || cert) {
    const missing = key ? tlsPaths.caCert : tlsPaths.caKey;
    throw new InputError(missing, `missing while ${key ? tlsPaths.caKey : tlsPaths.caCert} exists: put it back from your copy (edges and central trust this CA), or remove both to make a new CA and install its certificate everywhere`);
  } else {
    ca = createCa('District Health Network CA');
    caCreated = true;
    notes.push(`district CA created: install ${tlsPaths.caCert} on every edge (${reg.settings.edgeNatsCaFile}) and on central (${reg.settings.centralNatsCaFile})${isHttpsUrl(reg.settings.centralUrl) || reg.clinics.some((c) => isHttpsUrl(c.edgeUrl)) ? ', and as a trusted root on the clinics\' and managers\' browsers (HTTPS)' : ''}; ${tlsPaths.caKey} stays here: protect it`);
  }
  /** The certificate at `rel` kept while valid for `hosts`, else issued with a note saying why. */
  const serverCert = (what: string, certRel: string, keyRel: string, hosts: string[], install: string): Pem => {
    const c = read(stateDir, certRel);
    const k = read(stateDir, keyRel);
    const have = c && k ? { cert: c, key: k } : null;
    const problem = have ? serverCertProblem(ca.cert, have, hosts) : 'missing';
    if (have && !problem) return have;
    notes.push(`${what} certificate ${have ? `re-issued (the old one ${problem})` : 'issued'} for ${hosts.join(', ')}: ${install}`);
    return issueServerCert(ca, hosts, hosts[0]!);
  };
  const hosts = hubHosts(reg.settings);
  const hub = reg.settings.natsTls === 'on'
    ? serverCert('hub TLS', tlsPaths.hubCert, tlsPaths.hubKey, hosts, `install ${tlsPaths.hubCert} and ${tlsPaths.hubKey} in ${reg.settings.hubTlsDir} on the hub and reload it`)
    : undefined;
  const edgeHttps = new Map<string, Pem>();
  for (const c of sortedClinicsOf(reg)) {
    if (!isHttpsUrl(c.edgeUrl)) continue;
    edgeHttps.set(c.id, serverCert(`${c.id} HTTPS`, tlsPaths.edgeHttpsCert(c.id), tlsPaths.edgeHttpsKey(c.id), [hostOf(c.edgeUrl)],
      `install ${tlsPaths.edgeHttpsCert(c.id)} and its key as ${reg.settings.edgeHttpsCertFile} and ${reg.settings.edgeHttpsKeyFile} on the edge`));
  }
  const centralHttps = isHttpsUrl(reg.settings.centralUrl)
    ? serverCert('central HTTPS', tlsPaths.centralHttpsCert, tlsPaths.centralHttpsKey, [hostOf(reg.settings.centralUrl)], `install it and its key as ${reg.settings.centralHttpsCertFile} and ${reg.settings.centralHttpsKeyFile} on central`)
    : undefined;
  return { ca, caCreated, hosts, ...(hub ? { hub } : {}), edgeHttps, ...(centralHttps ? { centralHttps } : {}) };
}
