/**
 * EMPI HTTP API (OpenAPI from its zod schemas), mounted at `/api/empi` on the management API, so
 * its bearer-token check applies and its routes appear in `/openapi.json`. Every route exposes or
 * changes personal identity data, so every access is audited and fails closed: an access whose
 * audit entry cannot be written is answered 500 without data.
 */
import { OpenAPIHono, createRoute, z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import type { AuditEntry } from '../warehouse/types.ts';
import { Empi, EmpiError } from './empi.ts';

export interface EmpiApiDeps {
  empi: Empi;
  audit: (e: AuditEntry) => Promise<void>;
  /** Run matching over new residents now (the background loop also does). */
  runNow?: () => Promise<unknown>;
}

const ErrorBody = z.object({ error: z.string(), detail: z.string().optional() }).openapi('EmpiError');
const Level = z.enum(['agree', 'partial', 'disagree', 'missing']);
const FieldScore = z.object({ level: Level, weight: z.number() });
const MatchDetail = z.object({
  reasons: z.array(z.string()),
  fields: z.object({ name: FieldScore, birthDate: FieldScore, sex: FieldScore, phone: FieldScore, address: FieldScore }),
  deterministic: z.array(z.string()),
}).openapi('EmpiMatchDetail');
const Member = z.object({
  residentId: z.string(), clinicId: z.string(), method: z.string().openapi({ description: 'new | deterministic:<identifiers> | probabilistic' }),
  score: z.number().nullable(), linkedAt: z.string(), name: z.string().optional(), sex: z.string().optional(), birthDate: z.string().optional(),
}).openapi('EmpiMember');
const Person = z.object({ personId: z.string(), status: z.enum(['active', 'merged']), mergedInto: z.string().nullable(), createdAt: z.string(), members: z.array(Member) }).openapi('EmpiPerson');
const Side = z.object({ residentId: z.string(), personId: z.string().nullable(), demographics: z.record(z.string(), z.unknown()).nullable() });
const Review = z.object({
  id: z.number().int(), status: z.string(), score: z.number(), createdAt: z.string(), decidedAt: z.string().nullable(), decidedBy: z.string().nullable(),
  resident: Side, candidate: Side, detail: MatchDetail,
}).openapi('EmpiReview');
const History = z.object({
  id: z.number().int(), at: z.string(), actor: z.string(), action: z.string().openapi({ description: 'link | merge | review-accepted | review-rejected | unmerge' }),
  personId: z.string(), otherPersonId: z.string().nullable(), residents: z.array(z.object({ residentId: z.string(), clinicId: z.string() })),
  detail: z.record(z.string(), z.unknown()), undoneBy: z.number().int().nullable(),
}).openapi('EmpiHistoryEntry');
const Demographics = z.object({
  name: z.string().max(50).optional(), sex: z.enum(['0', '1', '2', '9']).optional(), birthDate: z.string().max(10).optional(),
  idType: z.string().max(2).optional(), idNumber: z.string().max(32).optional(), insuranceCardNo: z.string().max(40).optional(), healthCardId: z.string().max(80).optional(),
  phone: z.string().max(20).optional(), address: z.string().max(200).optional(),
}).openapi('EmpiDemographics');
const Candidate = z.object({ residentId: z.string(), personId: z.string(), clinicId: z.string(), score: z.number(), decision: z.enum(['link', 'review', 'no-link']), detail: MatchDetail }).openapi('EmpiCandidate');
const By = z.object({ by: z.string().max(64).optional().openapi({ description: 'Name of the person deciding, recorded with the API identity' }), reason: z.string().max(500).optional() });

const auth = [{ bearer: [] as string[] }];
const json = <T extends z.ZodType>(schema: T, description: string) => ({ description, content: { 'application/json': { schema } } });
const errors = { 401: json(ErrorBody, 'missing or wrong bearer token'), 404: json(ErrorBody, 'not found'), 409: json(ErrorBody, 'not possible in the current state') };
const jsonBody = <T extends z.ZodType>(schema: T) => ({ body: { content: { 'application/json': { schema } }, required: true } });

export function empiApi(deps: EmpiApiDeps): OpenAPIHono {
  const app = new OpenAPIHono({
    defaultHook: (result, c) => {
      if (!result.success) return c.json({ error: 'invalid request', detail: result.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ') }, 400);
      return undefined;
    },
  });
  const { empi } = deps;
  const actor = (by?: string) => (by ? `api-token:${by}` : 'api-token');
  const audit = async (c: Context, action: string, target: string, outcome: string, by?: string) => {
    await deps.audit({ actor: actor(by), action, target, sourceIp: ip(c), outcome });
  };
  app.onError((e, c) => {
    if (e instanceof EmpiError) return c.json({ error: e.message }, e.status);
    return c.json({ error: 'internal error', detail: 'the request was logged' }, 500);
  });
  /** Run `fn`, audit its outcome (refusals too), answer only once a granted access is audited. */
  const audited = async <T>(c: Context, action: string, target: string, fn: () => Promise<T>, by?: string): Promise<T> => {
    let r: T;
    try {
      r = await fn();
    } catch (e) {
      await audit(c, action, target, e instanceof EmpiError ? `error:${e.status}` : 'error:500', by).catch(() => undefined);
      throw e;
    }
    await audit(c, action, target, 'ok', by);
    return r;
  };

  app.openapi(createRoute({ method: 'get', path: '/persons/{personId}', security: auth, summary: 'A person and the residents (per clinic) linked to it',
    request: { params: z.object({ personId: z.string().max(64) }) }, responses: { 200: json(Person, 'the person'), ...errors } }),
  async (c) => {
    const { personId } = c.req.valid('param');
    const p = await audited(c, 'empi.person.read', `person/${personId}`, async () => {
      const x = await empi.person(personId);
      if (!x) throw new EmpiError(404, `person ${personId} not found`);
      return x;
    });
    return c.json(p, 200);
  });

  app.openapi(createRoute({ method: 'get', path: '/residents/{residentId}/person', security: auth, summary: 'The person a resident belongs to',
    request: { params: z.object({ residentId: z.string().max(64) }) }, responses: { 200: json(Person, 'the person'), ...errors } }),
  async (c) => {
    const { residentId } = c.req.valid('param');
    const p = await audited(c, 'empi.person.read', `resident/${residentId}`, async () => {
      const x = await empi.personOf(residentId);
      if (!x) throw new EmpiError(404, `resident ${residentId} is not indexed (yet)`);
      return x;
    });
    return c.json(p, 200);
  });

  app.openapi(createRoute({ method: 'get', path: '/history', security: auth, summary: 'Links, merges, unmerges and review decisions, oldest first',
    request: { query: z.object({ personId: z.string().max(64).optional(), limit: z.coerce.number().int().min(1).max(1000).default(200) }) },
    responses: { 200: json(z.array(History), 'history entries'), 401: errors[401] } }),
  async (c) => {
    const q = c.req.valid('query');
    return c.json(await audited(c, 'empi.history.read', q.personId ? `person/${q.personId}` : 'all', () => empi.history(q.personId, q.limit)), 200);
  });

  app.openapi(createRoute({ method: 'post', path: '/search', security: auth, summary: 'Score demographics against the index (nothing is written)',
    request: jsonBody(Demographics), responses: { 200: json(z.array(Candidate), 'candidates at or above the review threshold, best first'), 401: errors[401] } }),
  async (c) => {
    const d = c.req.valid('json');
    const found = await audited(c, 'empi.search', `fields:${Object.keys(d).join(',')}`, () => empi.search(d));
    return c.json(found.map((f) => ({ residentId: f.residentId, personId: f.personId, clinicId: f.clinicId, score: f.result.score, decision: f.result.decision,
      detail: { reasons: f.result.reasons, fields: f.result.fields, deterministic: f.result.deterministic } })), 200);
  });

  app.openapi(createRoute({ method: 'get', path: '/reviews', security: auth, summary: 'The review queue: probable matches to decide',
    request: { query: z.object({ status: z.enum(['open', 'accepted', 'rejected', 'all']).default('open'), limit: z.coerce.number().int().min(1).max(500).default(50), offset: z.coerce.number().int().min(0).default(0) }) },
    responses: { 200: json(z.object({ total: z.number().int(), reviews: z.array(Review) }), 'one page of reviews'), 401: errors[401] } }),
  async (c) => {
    const q = c.req.valid('query');
    return c.json(await audited(c, 'empi.reviews.read', `status=${q.status}`, () => empi.reviews(q.status, q.limit, q.offset)), 200);
  });

  app.openapi(createRoute({ method: 'post', path: '/reviews/{id}/accept', security: auth, summary: "Accept: the resident's person is merged into the candidate's person (undo with /unmerge)",
    request: { params: z.object({ id: z.coerce.number().int().positive() }), ...jsonBody(By) },
    responses: { 200: json(z.object({ review: Review, merge: History.nullable() }), 'the decided review and the merge it made'), ...errors } }),
  async (c) => {
    const { id } = c.req.valid('param');
    const { by } = c.req.valid('json');
    return c.json(await audited(c, 'empi.review.accept', `review/${id}`, () => empi.acceptReview(id, actor(by)), by), 200);
  });

  app.openapi(createRoute({ method: 'post', path: '/reviews/{id}/reject', security: auth, summary: 'Reject: the two residents stay different persons',
    request: { params: z.object({ id: z.coerce.number().int().positive() }), ...jsonBody(By) }, responses: { 200: json(Review, 'the decided review'), ...errors } }),
  async (c) => {
    const { id } = c.req.valid('param');
    const { by } = c.req.valid('json');
    return c.json(await audited(c, 'empi.review.reject', `review/${id}`, () => empi.rejectReview(id, actor(by)), by), 200);
  });

  app.openapi(createRoute({ method: 'post', path: '/merge', security: auth, summary: 'Merge one person into another; the change goes down to the clinics concerned',
    request: jsonBody(By.extend({ survivorPersonId: z.string().max(64), mergedPersonId: z.string().max(64) })), responses: { 200: json(History, 'the merge (its id undoes it)'), ...errors } }),
  async (c) => {
    const b = c.req.valid('json');
    return c.json(await audited(c, 'empi.merge', `person/${b.mergedPersonId}->${b.survivorPersonId}`, () => empi.merge(b.survivorPersonId, b.mergedPersonId, actor(b.by), b.reason), b.by), 200);
  });

  app.openapi(createRoute({ method: 'post', path: '/unmerge', security: auth, summary: 'Undo a merge or an accepted review by its history id',
    request: jsonBody(By.extend({ mergeId: z.number().int().positive() })), responses: { 200: json(History, 'the unmerge'), ...errors } }),
  async (c) => {
    const b = c.req.valid('json');
    return c.json(await audited(c, 'empi.unmerge', `history/${b.mergeId}`, () => empi.unmerge(b.mergeId, actor(b.by), b.reason), b.by), 200);
  });

  app.openapi(createRoute({ method: 'post', path: '/run', security: auth, summary: 'Index new residents now (a background loop does it every few seconds)',
    responses: { 200: json(z.object({ scanned: z.number().int(), residents: z.number().int(), linked: z.number().int(), newPersons: z.number().int(), reviews: z.number().int() }), 'what this run did'), 401: errors[401] } }),
  async (c) => {
    const r = await audited(c, 'empi.run', 'all', () => (deps.runNow ? deps.runNow() : empi.runOnce()));
    return c.json(r as { scanned: number; residents: number; linked: number; newPersons: number; reviews: number }, 200);
  });

  return app;
}

function ip(c: Context): string {
  const env = c.env as { incoming?: { socket?: { remoteAddress?: string } } } | undefined;
  return env?.incoming?.socket?.remoteAddress ?? 'unknown';
}
