/** FHIR R4 facade of the central warehouse: the only import surface of central/fhir. */
import { availableParallelism } from 'node:os';
import type { OpenAPIHono } from '@hono/zod-openapi';
import type { Logger } from '../../contracts/runtime/index.ts';
import type { Warehouse } from '../warehouse/types.ts';
import { AuditWriter } from './audit.ts';
import { OAuth } from './oauth.ts';
import { oauthAdminApi } from './oauth-admin.ts';
import { fhirApi } from './routes.ts';
import { ReadPool } from './readers.ts';
import { PostgresWarehouse } from '../warehouse/postgres.ts';
import { fhirStoreFor, readerSourceOf } from './store.ts';
import { FhirWriter } from './writer.ts';

export { fhirApi, type FhirDeps } from './routes.ts';
export { fhirStoreFor, type FhirStore } from './store.ts';
export { CS, SID, EXT } from './systems.ts';
export { OperationOutcomeError, isOperationOutcomeError } from './outcome.ts';
export { OAuth, OAuthError, permits, parseScope } from './oauth.ts';
export { FhirWriter, sourceOf } from './writer.ts';
export { oauthAdminApi } from './oauth-admin.ts';
export { AuditWriter } from './audit.ts';
export { ReadPool } from './readers.ts';

/**
 * Mount the FHIR facade at /fhir (static token or OAuth2 client tokens, reads, searches, writes)
 * and the OAuth client administration at /api/oauth on the management API app.
 * `readers`: reader threads for reads and searches (default with SQLite: one per CPU, at most 4;
 * with PostgreSQL: none; 0 = on the main thread; an in-memory SQLite warehouse has none). `stop()` ends them.
 */
export async function mountFhir(api: OpenAPIHono, deps: { wh: Warehouse; token: string; log: Logger; version?: string; readers?: number }): Promise<{ oauth: OAuth; writer: FhirWriter; readers: ReadPool | undefined; stop: () => Promise<void> }> {
  const oauth = new OAuth(deps.wh);
  const writer = new FhirWriter(deps.wh);
  await oauth.init();
  await writer.init();
  // Concurrent requests' audit entries are stored by one insert (group commit), each still before its answer.
  const auditWriter = new AuditWriter(deps.wh);
  const audit = (e: Parameters<typeof deps.wh.audit>[0]) => auditWriter.write(e);
  const store = fhirStoreFor(deps.wh);
  const source = readerSourceOf(deps.wh);
  // SQLite runs its SQL in this process: reader threads spread it over the cores. PostgreSQL runs
  // it in its own processes: a thread hop then only adds two messages per request (server CPU per
  // mixed FHIR request 440-548 us with 2 threads vs 310 us without, bench/fhir.bench.ts --readers).
  const size = deps.readers ?? (deps.wh instanceof PostgresWarehouse ? 0 : Math.min(4, availableParallelism()));
  const readers = source && size > 0
    ? new ReadPool(source, size, store, (err) => deps.log.error({ err: err.message }, 'FHIR reader thread lost; its reads run on the main thread'))
    : undefined;
  api.route('/api/oauth', oauthAdminApi({ oauth, audit }));
  api.route('/fhir', fhirApi({
    store, token: deps.token, audit, oauth, writer, version: deps.version, readers,
    onAuditError: (err, e) => deps.log.error({ err: err.message, action: e.action }, 'audit entry not written'),
  }));
  return { oauth, writer, readers, stop: async () => { await readers?.close(); await auditWriter.close(); } };
}
