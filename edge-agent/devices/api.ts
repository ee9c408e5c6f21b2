/**
 * JSON API of the device registry under /api/devices, documented by OpenAPI generated from
 * its zod schemas (`GET /api/devices/openapi.json`). Authenticated by the UI session cookie;
 * changes need device_tech or clinic_admin; the registry audits every change.
 */
import { OpenAPIHono, createRoute, z } from '@hono/zod-openapi';
import type { Context, Next } from 'hono';
import { getCookie } from 'hono/cookie';
import { clientIp } from '../web/app.tsx';
import type { Accounts, User } from '../web/accounts.ts';
import { RegistryError, connectionSchema, deviceInputSchema } from './registry.ts';
import { EDIT_ROLES, VIEW_ROLES, deviceRow, type DevicesService } from './service.ts';

type Env = { Variables: { user: User } };

const ErrorBody = z.object({ error: z.string(), detail: z.string().optional() }).openapi('DeviceError');
const Device = z.object({
  id: z.string(), name: z.string(), profileId: z.string(), kind: z.string(), protocol: z.string(), room: z.string(),
  connection: connectionSchema.openapi({ description: 'tcp {host,port} | rtu {path,baudRate,parity,dataBits,stopBits} | listener (HL7/ASTM devices connect to the edge)' }),
  sourceName: z.string().nullable(), aeTitle: z.string().nullable(), modality: z.string().nullable(), pollIntervalMs: z.number().int().nullable(), enabled: z.boolean(),
  createdAt: z.string(), updatedAt: z.string(),
  status: z.object({ state: z.enum(['online', 'offline', 'error', 'disabled']), readings: z.number().int(), errors: z.number().int(), implausible: z.number().int(), critical: z.number().int(),
    lastReadingAt: z.string().nullable(), lastReading: z.string().nullable(), lastError: z.string().nullable(), lastTest: z.string().nullable() }),
}).openapi('Device');
const DeviceCreate = deviceInputSchema.openapi('DeviceCreate');
const DevicePatch = deviceInputSchema.partial().omit({ profileId: true }).openapi('DevicePatch');
const TestResult = z.object({ ok: z.boolean(), detail: z.string(), latencyMs: z.number().optional() }).openapi('ConnectionTest');
const Id = z.object({ id: z.string().openapi({ param: { name: 'id', in: 'path' } }) });
const json = <T extends z.ZodType>(schema: T, description: string) => ({ description, content: { 'application/json': { schema } } });
const errors = { 400: json(ErrorBody, 'invalid input'), 401: json(ErrorBody, 'not signed in'), 403: json(ErrorBody, 'role not allowed'), 404: json(ErrorBody, 'unknown device'), 409: json(ErrorBody, 'conflict') };
const security = [{ cookie: [] as string[] }];

export function devicesApi(s: DevicesService, accounts: Accounts): OpenAPIHono<Env> {
  const app = new OpenAPIHono<Env>({
    defaultHook: (r, c) => (r.success ? undefined : c.json({ error: 'invalid request', detail: r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ') }, 400)),
  });
  app.openAPIRegistry.registerComponent('securitySchemes', 'cookie', { type: 'apiKey', in: 'cookie', name: 'edge_session' });
  app.use('*', async (c: Context<Env>, next: Next) => {
    if (c.req.path.endsWith('/openapi.json')) return next();
    const user = accounts.session(getCookie(c, 'edge_session'));
    if (!user) return c.json({ error: 'unauthorized', detail: 'sign in at /login; the API uses the edge_session cookie' }, 401);
    const roles: readonly string[] = c.req.method === 'GET' ? VIEW_ROLES : EDIT_ROLES;
    if (!roles.includes(user.role)) {
      accounts.audit(user.username, `${c.req.method} ${c.req.path}`, c.req.path, clientIp(c), 'forbidden');
      return c.json({ error: 'forbidden', detail: `role ${user.role} may not ${c.req.method} here` }, 403);
    }
    c.set('user', user);
    await next();
  });
  app.onError((e, c) => {
    if (e instanceof RegistryError) return c.json({ error: e.message, detail: e.field }, e.status);
    throw e;
  });
  // Before /{id}, which would otherwise match it; the document is generated per request.
  app.doc31('/openapi.json', { openapi: '3.1.0', info: { title: 'Edge device registry API', version: '0.1.0', description: 'Device registry of one clinic edge. Sign in at /login; requests carry the edge_session cookie.' }, servers: [{ url: '/api/devices' }] });
  const view = (id: string) => {
    const d = s.registry.get(id);
    if (!d) throw new RegistryError('id', `no device ${id}`, 404);
    const r = deviceRow(s, d);
    const { lastErrorAt: _x, ...st } = r.status;
    return { ...d, status: { ...st, state: r.state, errors: r.status.errors + r.liveErrors } };
  };
  const actor = (c: Context<Env>) => ({ username: c.get('user').username, ip: clientIp(c) });

  app.openapi(createRoute({ method: 'get', path: '/', security, summary: 'Registered devices with status', responses: { 200: json(z.array(Device), 'devices'), 401: errors[401], 403: errors[403] } }),
    (c) => c.json(s.registry.list().map((d) => view(d.id)), 200));
  app.openapi(createRoute({ method: 'post', path: '/', security, summary: 'Register a device from a profile', request: { body: { content: { 'application/json': { schema: DeviceCreate } } } },
    responses: { 201: json(Device, 'registered'), ...errors } }),
  (c) => c.json(view(s.registry.create(c.req.valid('json'), actor(c)).id), 201));
  app.openapi(createRoute({ method: 'get', path: '/{id}', security, summary: 'One device', request: { params: Id }, responses: { 200: json(Device, 'device'), 401: errors[401], 403: errors[403], 404: errors[404] } }),
    (c) => c.json(view(c.req.valid('param').id), 200));
  app.openapi(createRoute({ method: 'patch', path: '/{id}', security, summary: 'Change name, room, connection, enabled ...', request: { params: Id, body: { content: { 'application/json': { schema: DevicePatch } } } },
    responses: { 200: json(Device, 'updated'), ...errors } }),
  (c) => c.json(view(s.registry.update(c.req.valid('param').id, c.req.valid('json'), actor(c)).id), 200));
  app.openapi(createRoute({ method: 'delete', path: '/{id}', security, summary: 'Remove a device (its readings stay)', request: { params: Id }, responses: { 204: { description: 'removed' }, ...errors } }),
    (c) => { s.registry.remove(c.req.valid('param').id, actor(c)); return c.body(null, 204); });
  app.openapi(createRoute({ method: 'post', path: '/{id}/test', security, summary: "Test the connection with the driver's testConnection", request: { params: Id }, responses: { 200: json(TestResult, 'outcome'), ...errors } }),
    async (c) => {
      const id = c.req.valid('param').id;
      const d = s.registry.get(id);
      if (!d) throw new RegistryError('id', `no device ${id}`, 404);
      const r = await s.manager.testConnection(d);
      s.registry.recordTest(id, r, actor(c));
      return c.json(r, 200);
    });

  return app;
}
