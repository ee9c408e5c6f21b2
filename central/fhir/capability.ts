/** The CapabilityStatement served at `/fhir/metadata`: what this facade reads and searches. */
import type { Resource } from './map.ts';

export interface SearchParamDef { name: string; type: 'token' | 'string' | 'date' | 'reference' | 'number'; documentation: string }

/** Search parameters per resource type (besides `_count`, `_offset`); the routes accept exactly these. */
export const SEARCH_PARAMS: Record<'Patient' | 'Encounter' | 'Condition' | 'Observation' | 'ImagingStudy', SearchParamDef[]> = {
  Patient: [
    { name: '_id', type: 'token', documentation: 'Resident id' },
    { name: 'identifier', type: 'token', documentation: 'system|value; systems: resident id, ID card, other ID documents, insurance card, e-health card' },
    { name: 'name', type: 'string', documentation: 'Part of the name' },
    { name: 'gender', type: 'token', documentation: 'male | female | unknown' },
    { name: 'birthdate', type: 'date', documentation: 'Exact date yyyy-MM-dd (eq)' },
  ],
  Encounter: [
    { name: '_id', type: 'token', documentation: 'Encounter id' },
    { name: 'patient', type: 'reference', documentation: 'Patient/<id> or <id>' },
    { name: 'subject', type: 'reference', documentation: 'Patient/<id>' },
    { name: 'date', type: 'date', documentation: 'Registration time; prefixes eq ge gt le lt; repeat for a range; dates are days in +08:00' },
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
    { name: 'date', type: 'date', documentation: 'Effective / result time; prefixes eq ge gt le lt; repeat for a range; dates are days in +08:00' },
    { name: 'code', type: 'token', documentation: 'LOINC (http://loinc.org|code) or local code' },
  ],
  ImagingStudy: [
    { name: '_id', type: 'token', documentation: 'ImagingStudy id (the StudyInstanceUID)' },
    { name: 'patient', type: 'reference', documentation: 'Patient/<id> or <id>' },
    { name: 'subject', type: 'reference', documentation: 'Patient/<id>' },
  ],
};

export const INCLUDES: Record<string, string[]> = {
  Encounter: ['Encounter:patient', 'Encounter:subject'],
  Condition: ['Condition:patient', 'Condition:subject'],
  Observation: ['Observation:patient', 'Observation:subject'],
  ImagingStudy: ['ImagingStudy:patient', 'ImagingStudy:subject'],
};

export function capabilityStatement(baseUrl: string, version: string): Resource {
  return {
    resourceType: 'CapabilityStatement',
    status: 'active',
    date: '2026-01-01',
    publisher: 'District health bureau',
    kind: 'instance',
    software: { name: 'district-primary-care central', version },
    implementation: { description: 'District primary-care warehouse, FHIR R4 read facade', url: baseUrl },
    fhirVersion: '4.0.1',
    format: ['application/fhir+json', 'json'],
    rest: [{
      mode: 'server',
      documentation: 'Read and search. Send Authorization: Bearer <token>; every access is audited. Errors are OperationOutcome resources. Paging with _count (max 1000) and _offset.',
      security: { description: 'Bearer token (OAuth2 client credentials with SMART scopes is planned)' },
      resource: Object.entries(SEARCH_PARAMS).map(([type, params]) => ({
        type,
        interaction: [{ code: 'read' }, { code: 'search-type' }],
        ...(INCLUDES[type] ? { searchInclude: INCLUDES[type] } : {}),
        searchParam: params.map((p) => ({ name: p.name, type: p.type, documentation: p.documentation })),
      })),
    }],
  };
}
