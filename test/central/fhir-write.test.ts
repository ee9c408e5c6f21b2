/**
 * FHIR writes and OAuth2 client credentials on both backends: third-party resources become
 * warehouse records, read back valid against R4; bad resources get 400/422 OperationOutcomes and
 * write nothing; scopes (403), expiry and revocation (401) and rate limits (429) are enforced;
 * every access is audited; the EMPI indexes a Patient written through FHIR.
 */
import { Hono } from 'hono';
import t from 'tap';
import { Empi } from '../../central/empi/empi.ts';
import { CS, FhirWriter, OAuth, SID, fhirApi, fhirStoreFor, oauthAdminApi } from '../../central/fhir/index.ts';
import type { Resource } from '../../central/fhir/map.ts';
import type { AuditEntry, Warehouse } from '../../central/warehouse/types.ts';
import { formatHlc, makeResidentId, recordTypes } from '../../contracts/index.ts';
import { validateR4 } from './fhir-validate.ts';
import { postgresTestWarehouse, sqliteTestWarehouse } from './postgres.ts';

const TOKEN = 'fhir-write-test-token-0123456789';
const ID_CARD = makeResidentId('110105', new Date(Date.UTC(1962, 4, 20)), 51);
const AT = '2026-03-02T09:30:00+08:00';

const patient = (extra: Record<string, unknown> = {}) => ({
  resourceType: 'Patient',
  identifier: [{ system: SID.idCard, value: ID_CARD }, { system: 'http://district-hospital.example/mrn', value: 'MRN-0001' }, { system: SID.insuranceCard, value: 'INS-9' }],
  name: [{ family: '张', given: ['伟'] }],
  gender: 'male',
  birthDate: '1962-05-20',
  telecom: [{ system: 'phone', value: '13700000000' }],
  address: [{ text: '北京市朝阳区' }],
  maritalStatus: { coding: [{ system: CS.v3Marital, code: 'M' }] },
  ...extra,
});
const vital = (pid: string, extra: Record<string, unknown> = {}) => ({
  resourceType: 'Observation', status: 'final',
  category: [{ coding: [{ system: CS.observationCategory, code: 'vital-signs' }] }],
  code: { coding: [{ system: CS.loinc, code: '8480-6', display: '收缩压' }] },
  subject: { reference: `Patient/${pid}` }, effectiveDateTime: AT,
  valueQuantity: { value: 142, unit: 'mmHg', system: CS.ucum, code: 'mm[Hg]' },
  identifier: [{ system: 'http://wearable.example/reading', value: 'R-1' }],
  ...extra,
});

function suite(name: string, make: () => Promise<{ wh: Warehouse; cleanup: () => Promise<void> }>) {
  t.test(`FHIR writes and OAuth on ${name}`, async (t) => {
    const { wh, cleanup } = await make();
    t.teardown(cleanup);
    let now = Date.parse('2026-03-02T01:00:00Z');
    const oauth = new OAuth(wh, { now: () => now });
    const writer = new FhirWriter(wh);
    const audits: AuditEntry[] = [];
    const audit = async (e: AuditEntry) => { audits.push(e); await wh.audit(e); };
    const app = new Hono()
      .route('/api/oauth', oauthAdminApi({ oauth, audit }))
      .route('/fhir', fhirApi({ store: fhirStoreFor(wh), token: TOKEN, audit, oauth, writer, now: () => now }));
    const req = async (method: string, path: string, opts: { token?: string; body?: unknown; raw?: string; headers?: Record<string, string> } = {}) => {
      const res = await app.request(`http://central.test${path}`, {
        method,
        headers: { ...(opts.token ? { authorization: `Bearer ${opts.token}` } : {}), ...(opts.body !== undefined || opts.raw !== undefined ? { 'content-type': 'application/fhir+json' } : {}), ...opts.headers },
        body: opts.raw ?? (opts.body !== undefined ? JSON.stringify(opts.body) : undefined),
      });
      const text = await res.text();
      const body = text ? (JSON.parse(text) as Resource) : ({} as Resource);
      if (path.startsWith('/fhir/') && !path.startsWith('/fhir/auth') && text) validateR4(body);
      return { status: res.status, body, headers: res.headers };
    };
    const tokenFor = async (id: string, secret: string, scope?: string) => {
      const res = await app.request('http://central.test/fhir/auth/token', {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}` },
        body: new URLSearchParams({ grant_type: 'client_credentials', ...(scope ? { scope } : {}) }).toString(),
      });
      return { status: res.status, body: (await res.json()) as Record<string, string | number> };
    };
    const register = async (clientId: string, scopes: string[], extra: Record<string, unknown> = {}) => {
      const res = await app.request('http://central.test/api/oauth/clients', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ clientId, name: clientId, scopes, ...extra }) });
      t.equal(res.status, 201, `client ${clientId} registered`);
      return (await res.json()) as { clientSecret: string };
    };

    // A resident registered at a clinic (an edge record) for ownership and EMPI checks.
    const p = recordTypes.resident.parse({ residentId: 'clinic-zhang', name: '张伟', sex: '1', birthDate: '1962-05-20', idNumber: ID_CARD });
    const clinicObs = recordTypes.observation.parse({ observationId: 'clinic-obs', residentId: 'clinic-zhang', code: '8480-6', display: '收缩压', value: 130, unit: 'mm[Hg]', effectiveAt: AT });
    await wh.ingest([
      { kind: 'record', type: 'resident', payload: p, hash: 'h1', raw: '', envelope: { recordId: 'clinic-zhang', type: 'resident', clinicId: 'clinic-x', seq: 1, version: 1, hlc: formatHlc({ ms: now - 1000, counter: 0, node: 'clinic-x' }), schemaVersion: 1, createdAt: AT, payload: p } },
      { kind: 'record', type: 'observation', payload: clinicObs, hash: 'h2', raw: '', envelope: { recordId: 'clinic-obs', type: 'observation', clinicId: 'clinic-x', seq: 2, version: 1, hlc: formatHlc({ ms: now - 999, counter: 0, node: 'clinic-x' }), schemaVersion: 1, createdAt: AT, payload: clinicObs } },
    ]);

    const hospital = await register('hospital', ['system/*.read', 'system/*.write']);
    const reader = await register('reader', ['system/*.read']);
    const lis = await register('lis', ['system/Patient.read', 'system/Observation.cru']);
    const slow = await register('slow', ['system/Patient.read'], { ratePerMinute: 3 });

    t.test('token endpoint', async (t) => {
      const ok = await tokenFor('hospital', hospital.clientSecret);
      t.match(ok, { status: 200, body: { token_type: 'Bearer', expires_in: 300, scope: 'system/*.read system/*.write' } });
      t.match(await tokenFor('hospital', 'wrong'), { status: 401, body: { error: 'invalid_client' } });
      t.match(await tokenFor('nobody', 'x'), { status: 401, body: { error: 'invalid_client' } });
      t.match(await tokenFor('reader', reader.clientSecret, 'system/Patient.write'), { status: 400, body: { error: 'invalid_scope' } }, 'a scope the client does not hold');
      t.match(await tokenFor('hospital', hospital.clientSecret, 'system/Patient.read nonsense'), { status: 400, body: { error: 'invalid_scope' } });
      t.match(await tokenFor('reader', reader.clientSecret, 'system/Patient.read system/Observation.rs'), { status: 200, body: { scope: 'system/Patient.read system/Observation.rs' } }, 'a narrower set is granted');
      const grant = await app.request('http://central.test/fhir/auth/token', { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `grant_type=password&client_id=hospital&client_secret=${hospital.clientSecret}` });
      t.match(await grant.json(), { error: 'unsupported_grant_type' }, 'client_secret_post is understood, other grants refused');
      const smart = await (await app.request('http://central.test/fhir/.well-known/smart-configuration')).json() as Record<string, unknown>;
      t.match(smart, { token_endpoint: 'http://central.test/fhir/auth/token', grant_types_supported: ['client_credentials'] });
    });

    const hTok = String((await tokenFor('hospital', hospital.clientSecret)).body.access_token);
    let pid = '';

    t.test('create, conditional create, read back valid R4', async (t) => {
      const before = await wh.countRecords();
      const c = await req('POST', '/fhir/Patient', { token: hTok, body: patient() });
      t.equal(c.status, 201);
      pid = String(c.body.id);
      t.match(c.headers.get('location'), new RegExp(`/fhir/Patient/${pid}/_history/`));
      t.match(c.headers.get('etag'), /^W\/"\d{15}\.\d{5}\.ext-hospital"$/, 'the version is the HLC of the write');
      t.match(c.body, { resourceType: 'Patient', gender: 'male', birthDate: '1962-05-20', name: [{ text: '张伟' }], telecom: [{ value: '13700000000' }] });
      t.ok((c.body.identifier as { system: string; value: string }[]).some((i) => i.system === SID.idCard && i.value === ID_CARD));
      const read = await req('GET', `/fhir/Patient/${pid}`, { token: hTok });
      t.same(read.body, c.body, 'what was created is what is read');
      t.same((await req('GET', c.headers.get('location')!.replace('http://central.test', ''), { token: hTok })).body, c.body, 'its Location (vread of the current Patient version)');
      t.equal(await wh.countRecords('ext-hospital'), 1, 'the write is a record of source ext-hospital');

      const again = await req('POST', '/fhir/Patient', { token: hTok, body: patient(), headers: { 'if-none-exist': 'identifier=http://district-hospital.example/mrn|MRN-0001' } });
      t.equal(again.status, 200, 'conditional create finds the earlier resource');
      t.equal(again.body.id, pid);
      const dup = await req('POST', '/fhir/Patient', { token: hTok, body: patient() });
      t.match(dup, { status: 409, body: { issue: [{ code: 'duplicate' }] } }, 'a plain create with a used identifier is refused');
      t.equal(await wh.countRecords(), before + 1, 'one record written');

      const enc = await req('POST', '/fhir/Encounter', { token: hTok, body: {
        resourceType: 'Encounter', status: 'finished', class: { system: CS.v3ActCode, code: 'AMB' },
        serviceType: { coding: [{ system: CS.departments, code: 'IM' }] }, subject: { reference: `Patient/${pid}` }, period: { start: AT },
        reasonCode: [{ coding: [{ system: CS.icd10Cn, code: 'I10.x00', display: '高血压' }] }],
      } });
      t.equal(enc.status, 201);
      t.match(enc.body, { status: 'finished', class: { code: 'AMB' }, subject: { reference: `Patient/${pid}` }, reasonCode: [{ coding: [{ code: 'I10.x00' }] }], meta: { versionId: '1' } });
      t.equal((await req('GET', `/fhir/Condition?patient=${pid}`, { token: hTok })).body.total, 1, 'its diagnosis is a Condition');
      const cond = (extra: Record<string, unknown> = {}) => ({ resourceType: 'Condition', subject: { reference: `Patient/${pid}` }, encounter: { reference: `Encounter/${enc.body.id}` },
        category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/condition-category', code: 'encounter-diagnosis' }] }],
        code: { coding: [{ system: CS.icd10Cn, code: 'E11.900', display: '2型糖尿病' }] }, ...extra });
      const added = await req('POST', '/fhir/Condition', { token: hTok, body: cond() });
      t.equal(added.status, 201, 'a Condition is added to the encounter');
      t.match(added.body, { id: `${enc.body.id}-dx1`, code: { coding: [{ code: 'E11.900' }] }, encounter: { reference: `Encounter/${enc.body.id}` }, meta: { versionId: '2' } });
      t.match((await req('GET', `/fhir/Encounter/${enc.body.id}`, { token: hTok })).body, { meta: { versionId: '2' }, reasonCode: [{ coding: [{ code: 'I10.x00' }] }, { coding: [{ code: 'E11.900' }] }] }, 'as a new version of the encounter');
      t.match(await req('POST', '/fhir/Condition', { token: hTok, body: cond({ subject: { reference: 'Patient/clinic-zhang' } }) }), { status: 422, body: { issue: [{ code: 'business-rule' }] } }, 'the subject must be the encounter patient');
      t.match(await req('POST', '/fhir/Condition', { token: hTok, body: cond({ code: { text: '糖尿病' } }) }), { status: 422, body: { issue: [{ code: 'code-invalid' }] } });
      t.match(await req('POST', '/fhir/Condition', { token: hTok, body: cond({ encounter: { reference: 'Encounter/nope' } }) }), { status: 422 });

      const o = await req('POST', '/fhir/Observation', { token: hTok, body: vital(pid) });
      t.equal(o.status, 201);
      t.match(o.body, { status: 'final', valueQuantity: { value: 142, code: 'mm[Hg]' }, category: [{ coding: [{ code: 'vital-signs' }] }], effectiveDateTime: AT });
      t.equal(o.headers.get('etag'), 'W/"1"');
      const lab = await req('POST', '/fhir/Observation', { token: hTok, body: {
        resourceType: 'Observation', status: 'final', category: [{ coding: [{ system: CS.observationCategory, code: 'laboratory' }] }],
        code: { coding: [{ system: CS.loinc, code: '2823-3', display: '血钾' }] }, subject: { reference: `Patient/${pid}` }, effectiveDateTime: AT,
        valueQuantity: { value: 6.4, unit: 'mmol/L', system: CS.ucum, code: 'mmol/L' }, interpretation: [{ coding: [{ system: CS.v3Interpretation, code: 'HH' }] }],
        referenceRange: [{ low: { value: 3.5 }, high: { value: 5.3 } }], specimen: { identifier: { value: 'S-77' } },
      } });
      t.equal(lab.status, 201);
      t.match(lab.body, { category: [{ coding: [{ code: 'laboratory' }] }], valueQuantity: { value: 6.4 }, referenceRange: [{ text: '3.5-5.3' }], interpretation: [{ coding: [{ code: 'HH' }] }] });
      t.equal((await req('GET', `/fhir/Observation?patient=${pid}`, { token: hTok })).body.total, 2, 'both found by search');
      t.match(await req('POST', '/fhir/Condition', { token: TOKEN, body: { resourceType: 'Condition', subject: { reference: 'Patient/clinic-zhang' }, encounter: { reference: `Encounter/${enc.body.id}` }, code: { coding: [{ system: CS.icd10Cn, code: 'J06.900' }] } } }),
        { status: 422, body: { issue: [{ diagnostics: /belongs to ext-hospital/ }] } }, "only the encounter's owner adds diagnoses");
      const minimal = await app.request('http://central.test/fhir/Observation', { method: 'POST', headers: { authorization: `Bearer ${hTok}`, 'content-type': 'application/fhir+json', prefer: 'return=minimal' }, body: JSON.stringify(vital(pid, { identifier: [{ system: 'http://wearable.example/reading', value: 'R-2' }] })) });
      t.equal(minimal.status, 201);
      t.equal(await minimal.text(), '', 'Prefer: return=minimal');
    });

    t.test('update with versions', async (t) => {
      const o = await req('POST', '/fhir/Observation', { token: hTok, body: vital(pid, { identifier: [{ system: 'http://wearable.example/reading', value: 'R-3' }] }) });
      const id = String(o.body.id);
      const u = await req('PUT', `/fhir/Observation/${id}`, { token: hTok, body: vital(pid, { id, identifier: [{ system: 'http://wearable.example/reading', value: 'R-3' }], valueQuantity: { value: 139, unit: 'mmHg', system: CS.ucum, code: 'mm[Hg]' } }), headers: { 'if-match': 'W/"1"' } });
      t.equal(u.status, 200);
      t.match(u.body, { meta: { versionId: '2' }, valueQuantity: { value: 139 } });
      const stale = await req('PUT', `/fhir/Observation/${id}`, { token: hTok, body: vital(pid, { id }), headers: { 'if-match': 'W/"1"' } });
      t.match(stale, { status: 412, body: { issue: [{ code: 'conflict' }] } }, 'a stale If-Match');
      t.match((await req('GET', `/fhir/Observation/${id}`, { token: hTok })).body, { meta: { versionId: '2' }, valueQuantity: { value: 139 } });
      t.match((await req('GET', `/fhir/Observation/${id}/_history/1`, { token: hTok })).body, { meta: { versionId: '1' }, valueQuantity: { value: 142 } }, 'vread of the first version');
      t.match((await req('GET', u.headers.get('location')!.replace('http://central.test', ''), { token: hTok })).body, { meta: { versionId: '2' } }, 'the Location header resolves');
      t.equal((await req('GET', `/fhir/Observation/${id}/_history/3`, { token: hTok })).status, 404);
      t.match(await req('PUT', '/fhir/Observation/clinic-obs', { token: hTok, body: vital(pid, { id: 'clinic-obs', identifier: undefined }) }), { status: 409, body: { issue: [{ code: 'conflict' }] } }, "a clinic's observation is corrected only by the clinic");
      const created = await req('PUT', '/fhir/Observation/client-chosen-1', { token: hTok, body: vital(pid, { id: 'client-chosen-1', identifier: undefined }) });
      t.equal(created.status, 201, 'update as create with a client id');
      t.match(await req('PUT', '/fhir/Observation/other-id', { token: hTok, body: vital(pid, { id: 'x' }) }), { status: 400 }, 'body id must equal the URL id');
      const cur = await req('GET', `/fhir/Patient/${pid}`, { token: hTok });
      const etag = String((cur.body.meta as { versionId: string }).versionId);
      const pu = await req('PUT', `/fhir/Patient/${pid}`, { token: hTok, body: patient({ id: pid, telecom: [{ system: 'phone', value: '13711111111' }] }), headers: { 'if-match': `W/"${etag}"` } });
      t.equal(pu.status, 200);
      t.match(pu.body, { telecom: [{ value: '13711111111' }] });
      t.not((pu.body.meta as { versionId: string }).versionId, etag, 'a new Patient version');
      t.match(await req('PUT', `/fhir/Patient/${pid}`, { token: hTok, body: patient({ id: pid }), headers: { 'if-match': `W/"${etag}"` } }), { status: 412 });
    });

    t.test('bad resources: 400 or 422 OperationOutcome, nothing written', async (t) => {
      const before = await wh.countRecords();
      const cases: [string, unknown, number, string, RegExp?][] = [
        ['Patient', undefined, 400, 'structure'],
        ['Patient', { resourceType: 'Observation' }, 400, 'structure', /resourceType/],
        ['Patient', patient({ gender: 'x' }), 400, 'structure', /Patient\.gender/],
        ['Patient', patient({ birthDate: '20-05-1962' }), 400, 'structure', /birthDate/],
        ['Patient', patient({ deceasedBoolean: false }), 422, 'not-supported', /Patient\.deceasedBoolean cannot be stored/],
        ['Patient', patient({ identifier: [{ system: SID.idCard, value: `${ID_CARD.slice(0, 17)}${ID_CARD[17] === '1' ? '2' : '1'}` }] }), 422, 'business-rule', /校验位|check character/],
        ['Patient', patient({ identifier: [] }), 422, 'required', /ID document/],
        ['Patient', patient({ birthDate: '1962' }), 422, 'required', /full date/],
        ['Patient', patient({ birthDate: '1962-05-21' }), 422, 'business-rule', /does not match the ID number/],
        ['Observation', vital('nobody'), 422, 'business-rule', /Patient\/nobody is not known/],
        ['Observation', vital(pid, { effectiveDateTime: undefined }), 422, 'required', /effectiveDateTime/],
        ['Observation', vital(pid, { effectiveDateTime: '2026-03-02' }), 422, 'business-rule', /time and a zone/],
        ['Observation', vital(pid, { code: { coding: [{ system: 'http://snomed.info/sct', code: '271649006' }] } }), 422, 'code-invalid'],
        ['Observation', vital(pid, { status: 'preliminary' }), 422, 'code-invalid'],
        ['Observation', vital(pid, { valueQuantity: { value: 'high' } }), 400, 'structure'],
        ['Observation', vital(pid, { component: [] }), 422, 'not-supported'],
        ['Encounter', { resourceType: 'Encounter', status: 'finished', class: { system: CS.v3ActCode, code: 'AMB' }, subject: { reference: `Patient/${pid}` }, period: { start: AT } }, 422, 'required', /department/],
        ['Organization', { resourceType: 'Organization' }, 405, 'not-supported'],
      ];
      for (const [type, body, status, code, msg] of cases) {
        const r = await req('POST', `/fhir/${type}`, { token: hTok, ...(body === undefined ? { raw: '{not json' } : { body }) });
        t.equal(r.status, status, `${type} ${JSON.stringify(body)?.slice(0, 80)}`);
        t.match(r.body, { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code, ...(msg ? { diagnostics: msg } : {}) }] });
      }
      const ct = await app.request('http://central.test/fhir/Patient', { method: 'POST', headers: { authorization: `Bearer ${hTok}`, 'content-type': 'text/plain' }, body: JSON.stringify(patient()) });
      t.equal(ct.status, 400, 'wrong content type');
      t.equal(await wh.countRecords(), before, 'nothing half-written');
    });

    t.test('scopes, expiry, revocation, rate limit', async (t) => {
      const rTok = String((await tokenFor('reader', reader.clientSecret)).body.access_token);
      const lTok = String((await tokenFor('lis', lis.clientSecret)).body.access_token);
      t.equal((await req('GET', `/fhir/Patient/${pid}`, { token: rTok })).status, 200);
      t.match(await req('POST', '/fhir/Observation', { token: rTok, body: vital(pid) }), { status: 403, body: { issue: [{ code: 'forbidden' }] } }, 'read scopes do not write');
      t.match(await req('GET', '/fhir/Encounter?patient=x', { token: lTok }), { status: 403 }, 'no Encounter scope');
      t.equal((await req('GET', '/fhir/Observation/clinic-obs', { token: lTok })).status, 200, 'v2 scope cru: read');
      t.match(await req('GET', `/fhir/Observation?patient=${pid}`, { token: lTok }), { status: 403 }, 'v2 scope cru: no search (s)');
      t.match(await req('POST', '/fhir/Patient', { token: lTok, body: patient() }), { status: 403 });
      t.ok(audits.some((a) => a.actor === 'client:reader' && a.outcome === 'denied:scope'), 'refusals are audited with the client');

      now += 301_000;
      const expired = await req('GET', `/fhir/Patient/${pid}`, { token: rTok });
      t.match(expired, { status: 401, body: { issue: [{ code: 'expired' }] } }, 'an expired token');
      t.match(expired.headers.get('www-authenticate'), /invalid_token/);

      const fresh = String((await tokenFor('reader', reader.clientSecret)).body.access_token);
      t.equal((await req('GET', `/fhir/Patient/${pid}`, { token: fresh })).status, 200);
      const rv = await app.request('http://central.test/fhir/auth/revoke', { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ token: fresh, client_id: 'reader', client_secret: reader.clientSecret }).toString() });
      t.equal(rv.status, 200);
      t.match(await req('GET', `/fhir/Patient/${pid}`, { token: fresh }), { status: 401, body: { issue: [{ diagnostics: /revoked/ }] } }, 'a revoked token');

      const h2 = String((await tokenFor('hospital', hospital.clientSecret)).body.access_token);
      t.equal((await app.request('http://central.test/api/oauth/clients/hospital/revoke', { method: 'POST' })).status, 200);
      t.equal((await req('GET', `/fhir/Patient/${pid}`, { token: h2 })).status, 401, "a revoked client's tokens stop working");
      t.equal((await tokenFor('hospital', hospital.clientSecret)).status, 401, 'and it gets no new ones');
      const list = await (await app.request('http://central.test/api/oauth/clients')).json() as { clientId: string; revokedAt: string | null }[];
      t.ok(list.find((c) => c.clientId === 'hospital')?.revokedAt);
      t.notOk(JSON.stringify(list).includes('secret'), 'no secrets listed');

      const sTok = String((await tokenFor('slow', slow.clientSecret)).body.access_token);
      for (let i = 0; i < 3; i++) t.equal((await req('GET', `/fhir/Patient/${pid}`, { token: sTok })).status, 200);
      const limited = await req('GET', `/fhir/Patient/${pid}`, { token: sTok });
      t.match(limited, { status: 429, body: { issue: [{ code: 'throttled' }] } }, 'over the rate');
      t.ok(Number(limited.headers.get('retry-after')) >= 1);
      now += 20_000;
      t.equal((await req('GET', `/fhir/Patient/${pid}`, { token: sTok })).status, 200, 'the budget refills');
    });

    t.test('CapabilityStatement: writes and security', async (t) => {
      const cs = await req('GET', '/fhir/metadata');
      const rest = (cs.body.rest as { security: { service: { coding: { code: string }[] }[]; extension: { extension: { url: string; valueUri: string }[] }[] }; resource: { type: string; interaction: { code: string }[]; conditionalCreate?: boolean }[] }[])[0]!;
      t.equal(rest.security.service[0]!.coding[0]!.code, 'SMART-on-FHIR');
      t.ok(rest.security.extension[0]!.extension.some((e) => e.url === 'token' && e.valueUri.endsWith('/fhir/auth/token')));
      const obs = rest.resource.find((r) => r.type === 'Observation')!;
      t.same(obs.interaction.map((i) => i.code), ['read', 'vread', 'search-type', 'create', 'update']);
      t.equal(obs.conditionalCreate, true);
      t.same(rest.resource.find((r) => r.type === 'ImagingStudy')!.interaction.map((i) => i.code), ['read', 'vread', 'search-type']);
      t.same(rest.resource.find((r) => r.type === 'Condition')!.interaction.map((i) => i.code), ['read', 'vread', 'search-type', 'create']);
    });

    t.test('audit: writes are audited before they happen, and refused without it', async (t) => {
      t.ok(audits.some((a) => a.actor === 'client:hospital' && a.action === 'fhir.create' && a.outcome === 'accepted'));
      t.ok(audits.some((a) => a.actor === 'client:hospital' && a.action === 'fhir.create' && /^ok:v1$/.test(a.outcome)));
      const failing = new Hono().route('/fhir', fhirApi({ store: fhirStoreFor(wh), token: TOKEN, audit: async () => { throw new Error('audit disk full'); }, writer }));
      const before = await wh.countRecords();
      const res = await failing.request('http://central.test/fhir/Observation', { method: 'POST', headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/fhir+json' }, body: JSON.stringify(vital(pid, { identifier: undefined })) });
      t.equal(res.status, 500);
      validateR4((await res.json()) as Resource);
      t.equal(await wh.countRecords(), before, 'not audited, not written');
      const st = await req('POST', '/fhir/Observation', { token: TOKEN, body: vital(pid, { identifier: undefined }) });
      t.equal(st.status, 201, 'the static token writes as source ext-api');
      t.equal(await wh.countRecords('ext-api'), 1);
    });

    t.test('the EMPI indexes a Patient written through FHIR', async (t) => {
      const empi = new Empi(wh);
      await empi.runOnce();
      const person = await empi.personOf(pid);
      t.same(person?.members.map((m) => [m.residentId, m.clinicId]).sort(), [['clinic-zhang', 'clinic-x'], [pid, 'ext-hospital']].sort(), 'same ID card: one person');
      t.same(await empi.unpublished().then((u) => u.map((x) => x.clinicId)), ['clinic-x'], 'the clinic hears about it; the third party is not an edge');
      const read = await req('GET', `/fhir/Patient/${pid}`, { token: TOKEN });
      t.match(read.body, { link: [{ other: { reference: 'Patient/clinic-zhang' }, type: 'seealso' }] }, "Patient.link: the same person's record at the clinic");
      t.ok((read.body.identifier as { system: string; value: string }[]).some((i) => i.system === SID.empiPerson && i.value === person!.personId), 'the EMPI person id is an identifier');
      const both = await req('GET', `/fhir/Patient?identifier=${encodeURIComponent(`${SID.empiPerson}|${person!.personId}`)}`, { token: TOKEN });
      t.equal(both.body.total, 2, 'search by person finds the records at every source');
    });
  });
}

suite('sqlite', () => sqliteTestWarehouse('fhirw-'));

suite('postgres', () => postgresTestWarehouse('wh_fhirw'));
