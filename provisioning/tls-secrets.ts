/**
 * The district CA and the hub's certificate, kept stable across runs like the backup keys:
 * read back from the state directory and kept while valid; the hub's certificate is re-issued
 * (and said so) when it no longer names the hub's hosts, nears its end or is not the CA's; the CA
 * is never replaced silently (every edge and central trust it): a missing key or certificate of an
 * existing CA is an error naming the file.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { InputError } from './errors.ts';
import type { Registry } from './registry.ts';
import { caProblem, createCa, hubHosts, issueServerCert, serverCertProblem, tlsPaths, type Pem, type TlsSecrets } from './tls.ts';

const read = (stateDir: string, rel: string): string | null => {
  const f = join(stateDir, rel);
  return existsSync(f) ? readFileSync(f, 'utf8') : null;
};

export function tlsSecrets(stateDir: string, reg: Registry, notes: string[]): TlsSecrets | undefined {
  if (reg.settings.natsTls !== 'on') return undefined;
  const hosts = hubHosts(reg.settings);
  const key = read(stateDir, tlsPaths.caKey);
  const cert = read(stateDir, tlsPaths.caCert);
  let ca: Pem;
  let caCreated = false;
  if (key && cert) {
    ca = { cert, key };
    const p = caProblem(ca);
    if (p) throw new InputError(tlsPaths.caCert, `the district CA ${p}: put back the CA's certificate and key (${tlsPaths.caKey}) from your copy, or remove both to make a new CA (then install the new ${tlsPaths.caCert} on the hub's clients: every edge and central)`);
  } else if (key || cert) {
    const missing = key ? tlsPaths.caCert : tlsPaths.caKey;
    throw new InputError(missing, `missing while ${key ? tlsPaths.caKey : tlsPaths.caCert} exists: put it back from your copy (edges and central trust this CA), or remove both to make a new CA and install its certificate everywhere`);
  } else {
    ca = createCa('District Health Network NATS CA');
    caCreated = true;
    notes.push(`district CA created: install ${tlsPaths.caCert} on every edge (natsTlsCaFile = ${reg.settings.edgeNatsCaFile}) and on central (${reg.settings.centralNatsCaFile}); ${tlsPaths.caKey} stays here: protect it`);
  }
  const hubCert = read(stateDir, tlsPaths.hubCert);
  const hubKey = read(stateDir, tlsPaths.hubKey);
  const have = hubCert && hubKey ? { cert: hubCert, key: hubKey } : null;
  const problem = have ? serverCertProblem(ca.cert, have, hosts) : 'missing';
  if (have && !problem) return { ca, hub: have, hosts, caCreated };
  notes.push(`hub TLS certificate ${have ? `re-issued (the old one ${problem})` : 'issued'} for ${hosts.join(', ')}: install ${tlsPaths.hubCert} and ${tlsPaths.hubKey} in ${reg.settings.hubTlsDir} on the hub and reload it`);
  return { ca, hub: issueServerCert(ca, hosts, hosts[0]!), hosts, caCreated };
}
