/**
 * EMPI in a running central: the /api/empi routes behind the API token, listed in /openapi.json,
 * audited, and person changes published to the clinics on central.empi.<clinicId> (JetStream EMPI).
 */
import { connect } from '@nats-io/transport-node';
import { AckPolicy, DeliverPolicy, jetstream, jetstreamManager } from '@nats-io/jetstream';
import t from 'tap';
import type { IngestItem } from '../../central/warehouse/types.ts';
import { STREAMS, empiEventSchema, formatHlc, makeResidentId, recordTypes, subjects } from '../../contracts/index.ts';
import { startNatsServer } from '../helpers/nats-server.ts';
import { centralInProcess, tempDir } from '../helpers/spine.ts';

const TOKEN = 'test-token-0123456789';
const seqs = new Map<string, number>();
function resident(clinic: string, payload: Record<string, unknown>): IngestItem {
  const seq = (seqs.get(clinic) ?? 0) + 1;
  seqs.set(clinic, seq);
  const p = recordTypes.resident.parse(payload);
  return { kind: 'record', type: 'resident', payload: p, hash: `h-${clinic}-${seq}`, raw: '',
    envelope: { recordId: String(payload.residentId), type: 'resident', clinicId: clinic, seq, version: 1, hlc: formatHlc({ ms: 1_750_000_000_000 + seq, counter: 0, node: clinic }), schemaVersion: 1, createdAt: new Date().toISOString(), payload: p } };
}

t.test('EMPI API and person changes to the edges', async (t) => {
  await using ns = await startNatsServer();
  const tmp = tempDir('empi-api-');
  t.teardown(tmp.cleanup);
  const central = await centralInProcess(ns.url, tmp.dir);
  t.teardown(() => central.stop());
  const url = central.http.url;
  const call = async (method: string, path: string, body?: unknown, auth = true) => {
    const res = await fetch(`${url}${path}`, { method, headers: { ...(auth ? { authorization: `Bearer ${TOKEN}` } : {}), ...(body ? { 'content-type': 'application/json' } : {}) }, body: body ? JSON.stringify(body) : undefined });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };

  const id = makeResidentId('110101', new Date(Date.UTC(1956, 2, 7)), 14);
  const r = await central.wh.ingest([
    resident('clinic-a', { residentId: 'a-wang', name: '王秀英', sex: '2', birthDate: '1956-03-07', idNumber: id }),
    resident('clinic-b', { residentId: 'b-wang', name: '王秀英', sex: '2', birthDate: '1956-03-07', idNumber: id, phone: '13800000000' }),
    resident('clinic-a', { residentId: 'a-chen', name: '陈红', sex: '2', birthDate: '1948-08-08', idType: '99', idNumber: 'x' }),
    resident('clinic-b', { residentId: 'b-chen', name: '陈红', sex: '2', birthDate: '1948-08-08', idType: '99', idNumber: 'y' }),
  ]);
  t.same(r.outcomes, ['applied', 'applied', 'applied', 'applied']);

  t.equal((await call('POST', '/api/empi/run', undefined, false)).status, 401, 'the API token is required');
  const run = await call('POST', '/api/empi/run');
  t.equal(run.status, 200);
  const person = await call('GET', '/api/empi/residents/b-wang/person');
  t.match(person.body, { status: 'active', members: [{ residentId: 'a-wang', clinicId: 'clinic-a' }, { residentId: 'b-wang', clinicId: 'clinic-b', method: 'deterministic:idNumber' }] });

  const reviews = await call('GET', '/api/empi/reviews?status=open');
  t.match(reviews.body, { total: 1, reviews: [{ resident: { residentId: 'b-chen' }, candidate: { residentId: 'a-chen' } }] });
  const rid = (reviews.body.reviews as { id: number }[])[0]!.id;
  const acc = await call('POST', `/api/empi/reviews/${rid}/accept`, { by: '张医生' });
  t.match(acc, { status: 200, body: { review: { status: 'accepted', decidedBy: 'api-token:张医生' }, merge: { action: 'review-accepted' } } });
  t.equal((await call('POST', `/api/empi/reviews/${rid}/accept`, {})).status, 409);
  t.equal((await call('GET', '/api/empi/persons/nobody')).status, 404);
  t.equal((await call('POST', '/api/empi/merge', { survivorPersonId: 1 })).status, 400, 'schema errors are 400');
  const search = await call('POST', '/api/empi/search', { name: '王秀英', birthDate: '1956-03-07', sex: '2', phone: '13800000000' });
  t.match(search.body, [{ decision: 'link', personId: (person.body as { personId: string }).personId }]);

  const doc = await fetch(`${url}/openapi.json`).then((x) => x.json()) as { paths: Record<string, unknown> };
  t.ok(doc.paths['/api/empi/reviews'] && doc.paths['/api/empi/merge'] && doc.paths['/api/empi/unmerge'], 'EMPI routes in /openapi.json');
  t.ok(doc.paths['/api/oauth/clients'] && doc.paths['/api/oauth/clients/{clientId}/revoke'], 'OAuth client administration in /openapi.json');

  // A third party through the mounted central: register, token, write a Patient, the EMPI links it.
  const reg = await call('POST', '/api/oauth/clients', { clientId: 'lis', name: '区医院LIS', scopes: ['system/*.read', 'system/Patient.write'] });
  t.equal(reg.status, 201);
  const tok = await fetch(`${url}/fhir/auth/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ grant_type: 'client_credentials', client_id: 'lis', client_secret: String(reg.body.clientSecret) }) }).then((x) => x.json()) as { access_token: string };
  const created = await fetch(`${url}/fhir/Patient`, { method: 'POST', headers: { authorization: `Bearer ${tok.access_token}`, 'content-type': 'application/fhir+json' },
    body: JSON.stringify({ resourceType: 'Patient', identifier: [{ system: 'http://district-health.cn/fhir/sid/cn-id-card', value: id }], name: [{ text: '王秀英' }], gender: 'female', birthDate: '1956-03-07' }) });
  t.equal(created.status, 201, 'FHIR create with an OAuth token');
  const pid = ((await created.json()) as { id: string }).id;
  await call('POST', '/api/empi/run');
  const linked = await call('GET', `/api/empi/residents/${pid}/person`);
  t.equal((linked.body as { personId: string }).personId, (person.body as { personId: string }).personId, 'the written Patient joins the person of the same ID card');

  // Person changes went down: clinic-a hears about b-wang and b-chen.
  await central.ingest.stop().catch(() => undefined);
  await call('POST', '/api/empi/run');
  const nc = await connect({ servers: ns.url });
  t.teardown(() => nc.close());
  const js = jetstream(nc);
  // nats-server 2.9 (Debian) takes one filter_subject per consumer.
  const jsm = await jetstreamManager(nc);
  const ci = await jsm.consumers.add(STREAMS.empi, { filter_subject: subjects.empi('clinic-a'), ack_policy: AckPolicy.None, deliver_policy: DeliverPolicy.All, inactive_threshold: 60_000_000_000 });
  const consumer = await js.consumers.get(STREAMS.empi, ci.name);
  const events = [];
  const it = await consumer.fetch({ max_messages: 10, expires: 2000 });
  for await (const m of it) events.push(empiEventSchema.parse(m.json()));
  t.ok(events.some((e) => e.kind === 'link' && e.residents.some((x) => x.residentId === 'b-wang')), 'the automatic link');
  t.ok(events.some((e) => e.kind === 'review-accepted' && e.residents.some((x) => x.residentId === 'b-chen')), 'the accepted review');

  const audits = (central.wh.db.prepare("SELECT actor, action, outcome FROM audit_log WHERE action LIKE 'empi.%' ORDER BY id").all()) as { actor: string; action: string; outcome: string }[];
  t.ok(audits.some((a) => a.action === 'empi.review.accept' && a.actor === 'api-token:张医生' && a.outcome === 'ok'), 'decisions are audited with who decided');
  t.ok(audits.some((a) => a.action === 'empi.review.accept' && a.outcome === 'error:409'), 'refusals too');
});
