/**
 * TLS to the NATS hub (MLPS 3: records, receipts and credentials cross the health private
 * network encrypted, and each process checks it talks to the district's hub, not to whoever
 * answers on its address).
 *
 * `natsTlsCaFile` in the edge's and central's config names the PEM certificate of the district CA
 * that signed the hub's certificate (`provision init --nats-tls` makes both). With it set the
 * client refuses a hub that does not offer TLS (no downgrade) and one whose certificate this CA
 * did not sign or that does not name the host in `natsUrl`. The file is read and checked once at
 * start, so a wrong path or a file that is not a certificate stops the process with a message
 * naming the setting and the file, rather than a reconnect loop that never says why.
 */
import { X509Certificate } from 'node:crypto';
import { checkServerIdentity, type PeerCertificate } from 'node:tls';
import { readFileSync } from 'node:fs';

export interface NatsTls {
  /** PEM of the CA certificate(s) the hub's certificate must chain to. */
  ca: string;
}

/** Reads and checks the CA file named by `setting` (e.g. `natsTlsCaFile` / EDGE_NATS_TLS_CA_FILE). */
export function loadNatsTls(caFile: string | undefined, setting: string): NatsTls | undefined {
  if (!caFile) return undefined;
  let pem: string;
  try {
    pem = readFileSync(caFile, 'utf8');
  } catch (e) {
    throw new Error(`${setting}: cannot read ${caFile} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}): install the district CA certificate there (provisioning writes it to out/tls/ca.crt), or unset ${setting} for a hub without TLS`, { cause: e });
  }
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  if (blocks.length === 0) throw new Error(`${setting}: ${caFile} holds no PEM certificate (expected "-----BEGIN CERTIFICATE-----"): install the district CA certificate (out/tls/ca.crt)`);
  for (const b of blocks) {
    let cert: X509Certificate;
    try {
      cert = new X509Certificate(b);
      void cert.publicKey; // a damaged key inside a certificate that otherwise parses (found by fast-check)
    } catch (e) {
      throw new Error(`${setting}: ${caFile}: a certificate that does not parse (${(e as Error).message})`, { cause: e });
    }
    if (!cert.ca) throw new Error(`${setting}: ${caFile} is the certificate of "${cert.subject.replace(/\n/g, ', ')}", not of a CA: install the district CA certificate (out/tls/ca.crt), not the hub's own`);
    if (Date.parse(cert.validTo) < Date.now()) throw new Error(`${setting}: the CA certificate in ${caFile} expired on ${cert.validTo}: issue a new CA (provisioning) and install it`);
  }
  return { ca: blocks.join('\n') };
}

/**
 * The `tls` option of a NATS connection to `servers` (none without a CA: plain TCP, as a test hub
 * runs). The hub's certificate must name the host of one of the configured server URLs: nats.js
 * gives Node no host name to check when the URL holds an IP address (it would check "localhost"),
 * so the check is made here against the configured hosts.
 */
export function natsTlsOption(t: NatsTls | undefined, servers: string[]): { tls?: { ca: string; checkServerIdentity: (host: string, cert: PeerCertificate) => Error | undefined } } {
  if (!t) return {};
  const hosts = servers.map((s) => {
    try {
      return new URL(s.includes('://') ? s : `nats://${s}`).hostname.replace(/^\[|\]$/g, '');
    } catch {
      return s;
    }
  });
  return {
    tls: {
      ca: t.ca,
      checkServerIdentity: (_host, cert) => {
        let first: Error | undefined;
        for (const h of hosts) {
          const err = checkServerIdentity(h, cert);
          if (!err) return undefined;
          first ??= err;
        }
        return first;
      },
    },
  };
}
