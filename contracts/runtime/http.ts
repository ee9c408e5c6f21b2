/** Shared HTTP basics for every process: /healthz, /metrics, graceful listen/close. */
import { serve, type ServerType } from '@hono/node-server';
import type { Context, Hono, MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { Counter, type Registry } from 'prom-client';
import type { AddressInfo } from 'node:net';
import { createServer as createHttpsServer } from 'node:https';
import { X509Certificate, createPrivateKey, createPublicKey, randomBytes } from 'node:crypto';
import { HTTPException } from 'hono/http-exception';
import { readFileSync } from 'node:fs';

export interface HealthCheck {
  name: string;
  check: () => { ok: boolean; detail?: string } | Promise<{ ok: boolean; detail?: string }>;
}

// Hono's generic parameters vary per app; any concrete app is accepted here.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyHono = Hono<any, any, any>;

/** The default cap on one request body: forms, JSON, FHIR Bundles. */
export const DEFAULT_MAX_BODY_BYTES = 32 * 1024 * 1024;

/**
 * Caps every request body at `maxBytes` before any route reads it, counted as the bytes arrive
 * (a chunked body without Content-Length too): an unauthenticated POST to a login form cannot
 * make the process hold gigabytes. Answers 413 with the limit. Routes that stream large bodies
 * under limits of their own (DICOM uploads, STOW-RS) are `exempt` and install one with their own
 * `maxBytes`. `onRefused` runs before the 413 (an audit entry). Install before the routes.
 */
export function requestBodyLimit(opts: { maxBytes?: number; exempt?: (method: string, path: string) => boolean; onRefused?: (c: Context) => void } = {}): MiddlewareHandler {
  const maxBytes = opts.maxBytes ?? DEFAULT_MAX_BODY_BYTES;
  const limit = bodyLimit({ maxSize: maxBytes, onError: (c: Context) => {
    opts.onRefused?.(c);
    return c.json({ error: 'too large', detail: `request bodies are limited to ${maxBytes} bytes` }, 413);
  } });
  return async (c, next) => {
    if (c.req.method === 'GET' || c.req.method === 'HEAD' || opts.exempt?.(c.req.method, c.req.path)) return next();
    return limit(c, next);
  };
}

/**
 * The Content-Security-Policy of every page the edge and central serve. Scripts only from the
 * server's own files (no inline `<script>`, no `onclick=`: page behaviours are `data-` attributes
 * handled by `UI_BEHAVIOURS_JS`), so text that slipped into a page unescaped cannot run;
 * `'unsafe-inline'` for styles only (server-rendered `style=` attributes and print sheets); no
 * plugins, no framing by other sites (clickjacking), forms post to this server only.
 */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data: blob:",
  "object-src 'none'",
  "base-uri 'self'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

/**
 * Security headers on every response (MLPS 3 web hardening): the CSP above, no framing
 * (`X-Frame-Options` for browsers without `frame-ancestors`), no MIME sniffing, the referrer
 * kept to this origin. A route that set its own value keeps it.
 */
export function securityHeaders(): MiddlewareHandler {
  return async (c, next) => {
    await next();
    const h = c.res.headers;
    const set = (name: string, value: string) => {
      if (!h.has(name)) c.header(name, value);
    };
    set('Content-Security-Policy', CONTENT_SECURITY_POLICY);
    set('X-Frame-Options', 'DENY');
    set('X-Content-Type-Options', 'nosniff');
    set('Referrer-Policy', 'same-origin');
    // Served over HTTPS: browsers keep to HTTPS for this host from now on.
    if (isHttps(c)) set('Strict-Transport-Security', 'max-age=31536000');
  };
}

/** The request came over HTTPS (this process serves TLS itself: `httpsCertFile`). */
export function isHttps(c: Context): boolean {
  return c.req.url.startsWith('https:');
}

export interface HttpsFiles { cert: string; key: string }

/**
 * The HTTPS certificate and key named by `httpsCertFile`/`httpsKeyFile` (both or neither), read and
 * checked at start: a missing file, a file that is not a certificate or a key that is not the
 * certificate's stops the start naming the setting, the file and what to do.
 */
export function loadHttps(certFile: string | undefined, keyFile: string | undefined, prefix: string): HttpsFiles | undefined {
  if (!certFile && !keyFile) return undefined;
  if (!certFile || !keyFile) throw new Error(`${prefix}HTTPS_CERT_FILE and ${prefix}HTTPS_KEY_FILE go together: set both (HTTPS) or neither (HTTP)`);
  const read = (f: string, setting: string) => {
    try {
      return readFileSync(f, 'utf8');
    } catch (e) {
      throw new Error(`${prefix}${setting}: cannot read ${f} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, { cause: e });
    }
  };
  const cert = read(certFile, 'HTTPS_CERT_FILE');
  const key = read(keyFile, 'HTTPS_KEY_FILE');
  let x: X509Certificate;
  let certKey: Buffer;
  try {
    x = new X509Certificate(cert);
    // A damaged key inside a certificate that otherwise parses throws only here (found by fast-check).
    certKey = x.publicKey.export({ type: 'spki', format: 'der' });
  } catch (e) {
    throw new Error(`${prefix}HTTPS_CERT_FILE: ${certFile} is not a PEM certificate (${(e as Error).message})`, { cause: e });
  }
  let pub: Buffer;
  try {
    pub = createPublicKey(createPrivateKey(key)).export({ type: 'spki', format: 'der' });
  } catch (e) {
    throw new Error(`${prefix}HTTPS_KEY_FILE: ${keyFile} is not a PEM private key (${(e as Error).message})`, { cause: e });
  }
  if (!pub.equals(certKey)) throw new Error(`${prefix}HTTPS_KEY_FILE: ${keyFile} is not the key of the certificate in ${certFile}`);
  if (Date.parse(x.validTo) < Date.now()) throw new Error(`${prefix}HTTPS_CERT_FILE: the certificate in ${certFile} expired on ${x.validTo}: install a new one`);
  return { cert, key };
}

/**
 * Page behaviours as `data-` attributes instead of inline handlers (which the CSP refuses),
 * served as a file by each UI (`/assets/ui.js` at the edge, `/portal/assets/ui.js` at central):
 * - `data-print`: a click prints the page;
 * - `data-confirm="text"` on a form: asks before it is submitted;
 * - `data-autosubmit` on a field: a change submits its form;
 * - `data-check-all="selector"` on a checkbox: sets every enabled checkbox the selector names.
 */
export const UI_BEHAVIOURS_JS = `(function(){
  document.addEventListener('click', function(e){
    var t = e.target instanceof Element ? e.target.closest('[data-print]') : null;
    if (t) { e.preventDefault(); window.print(); return; }
    var all = e.target instanceof Element ? e.target.closest('input[data-check-all]') : null;
    if (all) document.querySelectorAll(all.getAttribute('data-check-all')).forEach(function(x){ if (!x.disabled) x.checked = all.checked; });
  });
  document.addEventListener('submit', function(e){
    var f = e.target;
    if (f instanceof HTMLFormElement && f.hasAttribute('data-confirm') && !window.confirm(f.getAttribute('data-confirm'))) e.preventDefault();
  });
  document.addEventListener('change', function(e){
    var t = e.target;
    if (t instanceof Element && t.hasAttribute('data-autosubmit') && t.form) t.form.submit();
  });
})();`;

/** A request whose client went away before its body arrived (Node's "aborted", a reset, a stream closed early). */
export function isClientAbort(e: unknown): boolean {
  const x = e as { code?: string; message?: string; cause?: unknown } | null;
  if (!x || typeof x !== 'object') return false;
  if (x.code === 'ECONNRESET' || x.code === 'ERR_STREAM_PREMATURE_CLOSE' || x.code === 'ECONNABORTED' || x.message === 'aborted') return true;
  return x.cause !== undefined && x.cause !== e && isClientAbort(x.cause);
}

export interface RequestErrors {
  /** Client went away mid-request (nothing to answer). */ aborted: number;
  /** Unexpected errors answered 500. */ failed: number;
}

/**
 * Errors no route handled, for a whole app and the sub-apps routed into it: logged with the
 * request's method and path through the process's logger (not Hono's console.error and its stack on
 * stderr), and answered as JSON. A client that went away mid-upload is logged as that, at info: it
 * is not a fault of the server, and the sender retries. Anything else is a 500 with an id that is
 * also in the log line, so an operator finds the stack from what the user reports.
 */
export function handleRequestErrors(app: AnyHono, log: { info(o: object, msg: string): void; error(o: object, msg: string): void }, metric?: { registry: Registry; name: string }): RequestErrors {
  const counts: RequestErrors = { aborted: 0, failed: 0 };
  if (metric) new Counter({ name: metric.name, help: 'Requests that ended in an error no route handled: aborted (the client went away mid-request), internal (answered 500, logged with an id)', labelNames: ['kind'], registers: [metric.registry], collect() {
    this.reset();
    this.inc({ kind: 'aborted' }, counts.aborted);
    this.inc({ kind: 'internal' }, counts.failed);
  } });
  app.onError((err, c) => {
    if (err instanceof HTTPException) return err.getResponse();
    if (isClientAbort(err)) {
      counts.aborted++;
      log.info({ method: c.req.method, path: c.req.path, err: err.message }, 'the client went away before the request was complete');
      return c.json({ error: 'request aborted', detail: 'the connection closed before the whole request arrived: send it again' }, 400);
    }
    counts.failed++;
    const id = randomBytes(4).toString('hex');
    log.error({ method: c.req.method, path: c.req.path, errorId: id, err: err.message, stack: err.stack }, 'unhandled error in a request');
    return c.json({ error: 'internal error', detail: `the server logged this error with id ${id}`, errorId: id }, 500);
  });
  return counts;
}

export function mountOps(app: AnyHono, registry: Registry, checks: HealthCheck[]): void {
  app.get('/healthz', async (c) => {
    const results: Record<string, { ok: boolean; detail?: string }> = {};
    let ok = true;
    for (const h of checks) {
      try {
        results[h.name] = await h.check();
      } catch (e) {
        results[h.name] = { ok: false, detail: (e as Error).message };
      }
      ok &&= results[h.name]!.ok;
    }
    return c.json({ status: ok ? 'ok' : 'degraded', checks: results }, ok ? 200 : 503);
  });
  app.get('/metrics', async (c) => {
    c.header('Content-Type', registry.contentType);
    return c.body(await registry.metrics());
  });
}

export interface Listening {
  url: string;
  port: number;
  close(): Promise<void>;
}

/** Serves `app` on host:port, over HTTPS with `https` (TLS 1.2 or later), else HTTP. */
export function listen(app: AnyHono, host: string, port: number, https?: HttpsFiles): Promise<Listening> {
  return new Promise((resolve, reject) => {
    let server: ServerType;
    try {
      const tls = https ? { createServer: createHttpsServer, serverOptions: { cert: https.cert, key: https.key, minVersion: 'TLSv1.2' as const } } : {};
      server = serve({ fetch: app.fetch, hostname: host, port, ...tls }, (info: AddressInfo) => {
        resolve({
          url: `${https ? 'https' : 'http'}://${host}:${info.port}`,
          port: info.port,
          close: () => new Promise<void>((res) => {
            const s = server as ServerType & { closeAllConnections?: () => void };
            s.close(() => res());
            s.closeAllConnections?.();
          }),
        });
      });
      server.on('error', reject);
    } catch (e) {
      reject(e);
    }
  });
}

/**
 * When started by a supervisor that sets EXIT_WITH_PARENT_PID (tests, demo), exit if that
 * process disappears, so a crashed test run never leaves agents behind. Call it before the
 * start-up, which can itself hang (e.g. a broker that is gone).
 */
export function exitWithParent(onExit: () => void): void {
  const ppid = Number(process.env.EXIT_WITH_PARENT_PID);
  if (!ppid) return;
  const timer = setInterval(() => {
    try {
      process.kill(ppid, 0);
    } catch {
      clearInterval(timer);
      onExit();
      // A graceful stop that hangs (e.g. on a broker that went away with the parent) must not
      // leave an orphan behind: exit anyway after a while.
      setTimeout(() => process.exit(1), 20_000).unref();
    }
  }, 1000);
  timer.unref();
}
