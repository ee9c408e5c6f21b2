/**
 * Administration of the FHIR API's OAuth2 clients, mounted at `/api/oauth` on the management API
 * (its bearer token applies; routes appear in /openapi.json). Every call is audited, fail closed.
 */
import { OpenAPIHono, createRoute, z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import type { AuditEntry } from '../warehouse/types.ts';
import { OAuth, OAuthError } from './oauth.ts';

const ErrorBody = z.object({ error: z.string(), detail: z.string().optional() }).openapi('OAuthAdminError');
const Client = z.object({
  clientId: z.string(), name: z.string(), scopes: z.array(z.string()), ratePerMinute: z.number().int(), tokenTtlSeconds: z.number().int(),
  createdAt: z.string(), revokedAt: z.string().nullable(),
}).openapi('OAuthClient');
const NewClient = z.object({
  clientId: z.string().regex(/^[a-z0-9][a-z0-9-]{1,23}$/).openapi({ description: 'Records written by the client carry the source ext-<clientId>', example: 'district-hospital-lis' }),
  name: z.string().min(1).max(100).openapi({ example: '区医院检验系统' }),
  scopes: z.array(z.string().max(60)).min(1).max(20).openapi({ example: ['system/Patient.read', 'system/Observation.write'] }),
  ratePerMinute: z.number().int().min(1).max(100_000).optional(),
  tokenTtlSeconds: z.number().int().min(30).max(3600).optional(),
}).openapi('OAuthNewClient');

const auth = [{ bearer: [] as string[] }];
const json = <T extends z.ZodType>(schema: T, description: string) => ({ description, content: { 'application/json': { schema } } });
const errors = { 400: json(ErrorBody, 'invalid request'), 401: json(ErrorBody, 'missing or wrong bearer token'), 404: json(ErrorBody, 'no such client'), 409: json(ErrorBody, 'client id taken') };

export function oauthAdminApi(deps: { oauth: OAuth; audit: (e: AuditEntry) => Promise<void> }): OpenAPIHono {
  const app = new OpenAPIHono({
    defaultHook: (result, c) => {
      if (!result.success) return c.json({ error: 'invalid request', detail: result.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ') }, 400);
      return undefined;
    },
  });
  app.onError((e, c) => {
    if (e instanceof OAuthError) return c.json({ error: e.error, detail: e.message }, e.status);
    return c.json({ error: 'internal error' }, 500);
  });
  const audited = async <T>(c: Context, action: string, target: string, fn: () => Promise<T>): Promise<T> => {
    const entry = (outcome: string): AuditEntry => ({ actor: 'api-token', action, target, sourceIp: ip(c), outcome });
    let r: T;
    try {
      r = await fn();
    } catch (e) {
      await deps.audit(entry(e instanceof OAuthError ? `error:${e.status}` : 'error:500')).catch(() => undefined);
      throw e;
    }
    await deps.audit(entry('ok'));
    return r;
  };

  app.openapi(createRoute({ method: 'get', path: '/clients', security: auth, summary: 'Registered FHIR API clients', responses: { 200: json(z.array(Client), 'clients'), 401: errors[401] } }),
    async (c) => c.json(await audited(c, 'oauth.clients.read', 'all', () => deps.oauth.clients()), 200));

  app.openapi(createRoute({ method: 'post', path: '/clients', security: auth, summary: 'Register a client; the secret is shown once',
    request: { body: { content: { 'application/json': { schema: NewClient } }, required: true } },
    responses: { 201: json(Client.extend({ clientSecret: z.string() }), 'the client with its secret (store it: it is not kept)'), ...errors } }),
  async (c) => {
    const b = c.req.valid('json');
    return c.json(await audited(c, 'oauth.client.create', `client/${b.clientId}`, () => deps.oauth.createClient(b)), 201);
  });

  app.openapi(createRoute({ method: 'post', path: '/clients/{clientId}/revoke', security: auth, summary: 'Revoke a client and all its tokens',
    request: { params: z.object({ clientId: z.string().max(24) }) }, responses: { 200: json(z.object({ revoked: z.literal(true) }), 'revoked'), ...errors } }),
  async (c) => {
    const { clientId } = c.req.valid('param');
    await audited(c, 'oauth.client.revoke', `client/${clientId}`, () => deps.oauth.revokeClient(clientId));
    return c.json({ revoked: true as const }, 200);
  });

  app.openapi(createRoute({ method: 'post', path: '/clients/{clientId}/secret', security: auth, summary: 'Issue a new secret (the old one stops working)',
    request: { params: z.object({ clientId: z.string().max(24) }) }, responses: { 200: json(z.object({ clientId: z.string(), clientSecret: z.string() }), 'the new secret'), ...errors } }),
  async (c) => {
    const { clientId } = c.req.valid('param');
    const s = await audited(c, 'oauth.client.secret', `client/${clientId}`, () => deps.oauth.rotateSecret(clientId));
    return c.json({ clientId, clientSecret: s }, 200);
  });

  return app;
}

function ip(c: Context): string {
  const env = c.env as { incoming?: { socket?: { remoteAddress?: string } } } | undefined;
  return env?.incoming?.socket?.remoteAddress ?? 'unknown';
}
