/** The CapabilityStatement served at `/fhir/metadata`: what this facade reads and searches. */
import type { Resource } from './map.ts';

export interface SearchParamDef { name: string; type: 'token' | 'string' | 'date' | 'reference' | 'number'; documentation: string }

/** Search parameters per resource type (besides `_count`, `_offset`, `_sort=date|-date` for Encounter and Observation, and `name:contains` for Patient); the routes accept exactly these. */
export const SEARCH_PARAMS: Record<'Patient' | 'Encounter' | 'Condition' | 'Observation' | 'ImagingStudy' | 'MedicationRequest' | 'DiagnosticReport' | 'Organization' | 'Practitioner' | 'Device', SearchParamDef[]> = {
  Patient: [
    { name: '_id', type: 'token', documentation: 'Resident id' },
    { name: 'identifier', type: 'token', documentation: 'system|value; systems: resident id, ID card, other ID documents, insurance card, e-health card' },
    { name: 'name', type: 'string', documentation: 'Start of the name (case-insensitive for Latin letters); name:contains matches any part' },
    { name: 'gender', type: 'token', documentation: 'male | female | unknown' },
    { name: 'birthdate', type: 'date', documentation: 'Exact date yyyy-MM-dd (eq)' },
  ],
  Encounter: [
    { name: '_id', type: 'token', documentation: 'Encounter id' },
    { name: 'patient', type: 'reference', documentation: 'Patient/<id> or <id>' },
    { name: 'subject', type: 'reference', documentation: 'Patient/<id>' },
    { name: 'date', type: 'date', documentation: 'Registration time; prefixes eq ge gt le lt; repeat for a range; dates are days in +08:00; _sort=date or -date orders by it' },
  ],
  Condition: [
    { name: '_id', type: 'token', documentation: 'Condition id (<encounter id>-dx<n>)' },
    { name: 'patient', type: 'reference', documentation: 'Patient/<id> or <id> (patient, subject or _id is required)' },
    { name: 'subject', type: 'reference', documentation: 'Patient/<id>' },
    { name: 'code', type: 'token', documentation: 'ICD-10 national clinical edition code' },
  ],
  Observation: [
    { name: '_id', type: 'token', documentation: 'Observation id' },
    { name: 'patient', type: 'reference', documentation: 'Patient/<id> or <id>' },
    { name: 'subject', type: 'reference', documentation: 'Patient/<id>' },
    { name: 'date', type: 'date', documentation: 'Effective / result time; prefixes eq ge gt le lt; repeat for a range; dates are days in +08:00; _sort=date or -date orders by it' },
    { name: 'code', type: 'token', documentation: 'LOINC (http://loinc.org|code) or local code' },
  ],
  ImagingStudy: [
    { name: '_id', type: 'token', documentation: 'ImagingStudy id (the StudyInstanceUID)' },
    { name: 'patient', type: 'reference', documentation: 'Patient/<id> or <id>' },
    { name: 'subject', type: 'reference', documentation: 'Patient/<id>' },
  ],
  MedicationRequest: [
    { name: '_id', type: 'token', documentation: 'MedicationRequest id: <prescription id>-l<line no> (one per prescription line)' },
    { name: 'patient', type: 'reference', documentation: 'Patient/<id> or <id> (patient, subject or _id is required)' },
    { name: 'subject', type: 'reference', documentation: 'Patient/<id>' },
    { name: 'authoredon', type: 'date', documentation: 'Prescription issue time; prefixes eq ge gt le lt; repeat for a range; dates are days in +08:00' },
    { name: 'code', type: 'token', documentation: 'Drug code (本位码)' },
    { name: 'status', type: 'token', documentation: 'active | cancelled' },
  ],
  DiagnosticReport: [
    { name: '_id', type: 'token', documentation: 'DiagnosticReport id: the lab order id, or the specimen id for results without an order; for a radiology report (category RAD) the ImagingStudy id' },
    { name: 'patient', type: 'reference', documentation: 'Patient/<id> or <id> (patient, subject or _id is required)' },
    { name: 'subject', type: 'reference', documentation: 'Patient/<id>' },
    { name: 'date', type: 'date', documentation: 'Earliest result time; prefixes eq ge gt le lt; repeat for a range; dates are days in +08:00' },
    { name: 'code', type: 'token', documentation: 'Reports containing a result with this test code (LOINC or local); 18748-4: radiology reports only' },
    { name: 'status', type: 'token', documentation: 'final | partial | corrected (laboratory); preliminary | final | amended (radiology)' },
  ],
  Organization: [
    { name: '_id', type: 'token', documentation: 'Clinic id' },
    { name: 'identifier', type: 'token', documentation: `system|value (clinic ids)` },
    { name: 'name', type: 'string', documentation: 'Part of the name' },
  ],
  Practitioner: [
    { name: '_id', type: 'token', documentation: 'Staff code (central staff dictionary)' },
    { name: 'identifier', type: 'token', documentation: 'system|value (staff codes)' },
    { name: 'name', type: 'string', documentation: 'Part of the name' },
  ],
  Device: [
    { name: '_id', type: 'token', documentation: 'Device id: <clinic id>.<device id>' },
    { name: 'identifier', type: 'token', documentation: 'system|value (device ids of a clinic)' },
  ],
};

/** Resource types without stored versions of their own (no vread). */
export const NO_VREAD = new Set(['DiagnosticReport', 'Organization', 'Practitioner', 'Device']);

export const INCLUDES: Record<string, string[]> = {
  Encounter: ['Encounter:patient', 'Encounter:subject'],
  Condition: ['Condition:patient', 'Condition:subject'],
  Observation: ['Observation:patient', 'Observation:subject'],
  ImagingStudy: ['ImagingStudy:patient', 'ImagingStudy:subject'],
  MedicationRequest: ['MedicationRequest:patient', 'MedicationRequest:subject'],
  DiagnosticReport: ['DiagnosticReport:patient', 'DiagnosticReport:subject'],
};

const WRITABLE = new Set(['Patient', 'Encounter', 'Observation']);
/** Conditions are created as diagnoses of an Encounter the client wrote (no update). */
const CREATE_ONLY = new Set(['Condition', 'DiagnosticReport']);

export function capabilityStatement(baseUrl: string, version: string, opts: { oauth?: boolean; writes?: boolean } = {}): Resource {
  return {
    resourceType: 'CapabilityStatement',
    status: 'active',
    date: '2026-01-01',
    publisher: 'District health bureau',
    kind: 'instance',
    software: { name: 'district-primary-care central', version },
    implementation: { description: `District primary-care warehouse, FHIR R4 facade (read and search${opts.writes ? '; create and update for Patient, Encounter, Observation; create for Condition and DiagnosticReport' : ''})`, url: baseUrl },
    fhirVersion: '4.0.1',
    format: ['application/fhir+json', 'json'],
    rest: [{
      mode: 'server',
      documentation: 'Send Authorization: Bearer <token>; every access is audited. Errors are OperationOutcome resources. Paging with _count (max 1000) and _offset.'
        + (opts.writes ? ' Writes become warehouse records of the writing client (source ext-<client id>): create (POST, conditional with If-None-Exist: identifier=system|value), update (PUT, If-Match: W/"<versionId>"); an element the server would not store is refused with 422, never dropped. A DiagnosticReport is pushed with its results as contained laboratory Observations (result "#id"); they become lab results of the client under the report id.' : '')
        + ' MedicationRequest: one per prescription line (<prescription id>-l<line no>). DiagnosticReport: the lab results of one order, or of one specimen without an order; and the district radiologist\'s current report on an imaging study (category RAD, code LOINC 18748-4, id = the ImagingStudy id, imagingStudy references it, the findings and impression as a text/plain presentedForm). MedicationRequest, DiagnosticReport and Condition searches need patient, subject or _id.',
      security: opts.oauth
        ? {
          extension: [{ url: 'http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris', extension: [{ url: 'token', valueUri: `${baseUrl}/auth/token` }, { url: 'revoke', valueUri: `${baseUrl}/auth/revoke` }] }],
          service: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/restful-security-service', code: 'SMART-on-FHIR', display: 'SMART-on-FHIR' }], text: 'OAuth2 client credentials (SMART backend services style, client secret)' }],
          description: 'OAuth2 client credentials: POST client_id/client_secret (HTTP Basic or form) with grant_type=client_credentials and scopes such as system/Observation.read or system/*.write to the token endpoint; send the access token as a bearer token. Tokens expire (expires_in) and can be revoked (RFC 7009). Clients are registered by the district administrator. Per-client rate limits answer 429.',
        }
        : { description: 'Bearer token' },
      resource: Object.entries(SEARCH_PARAMS).map(([type, params]) => {
        const w = opts.writes && WRITABLE.has(type);
        const c = opts.writes && CREATE_ONLY.has(type);
        return {
          type,
          interaction: [{ code: 'read' }, ...(NO_VREAD.has(type) ? [] : [{ code: 'vread' }]), { code: 'search-type' }, ...(w || c ? [{ code: 'create' }] : []), ...(w ? [{ code: 'update' }] : [])],
          ...(w ? { versioning: 'versioned-update', conditionalCreate: true, updateCreate: true } : {}),
          ...(INCLUDES[type] ? { searchInclude: INCLUDES[type] } : {}),
          searchParam: params.map((p) => ({ name: p.name, type: p.type, documentation: p.documentation })),
        };
      }),
    }],
  };
}
