/**
 * Bad input never crashes the write path: any JSON sent as a Patient, Encounter or Observation
 * either maps to a record or is refused with an OperationOutcome error (400/422), never a 500.
 */
import fc from 'fast-check';
import t from 'tap';
import { isOperationOutcomeError, SID, CS } from '../../central/fhir/index.ts';
import { parseWrite, type WritableType } from '../../central/fhir/write.ts';
import { makeResidentId } from '../../contracts/index.ts';

const ID = makeResidentId('110101', new Date(Date.UTC(1956, 2, 7)), 14);

const near = (type: WritableType) => fc.record({
  resourceType: fc.constantFrom(type, 'Patient', 'X'),
  identifier: fc.oneof(fc.constant(undefined), fc.array(fc.record({ system: fc.constantFrom(SID.idCard, `${SID.idDocument}/03`, SID.insuranceCard, 'http://x', ''), value: fc.oneof(fc.string(), fc.constant(ID)) }, { requiredKeys: [] }))),
  name: fc.oneof(fc.anything(), fc.array(fc.record({ text: fc.string(), family: fc.string(), given: fc.array(fc.string()) }, { requiredKeys: [] }))),
  gender: fc.oneof(fc.constantFrom('male', 'female', 'other', 'unknown'), fc.anything()),
  birthDate: fc.oneof(fc.constantFrom('1956-03-07', '1956', '1956-13-45'), fc.anything()),
  status: fc.oneof(fc.constantFrom('final', 'preliminary', 'finished', 'arrived', 'amended'), fc.anything()),
  class: fc.oneof(fc.record({ system: fc.constant(CS.v3ActCode), code: fc.constantFrom('AMB', 'EMER', 'X') }), fc.anything()),
  code: fc.oneof(fc.record({ coding: fc.array(fc.record({ system: fc.constantFrom(CS.loinc, CS.localLab, 'x'), code: fc.string(), display: fc.string() }, { requiredKeys: [] })) }), fc.anything()),
  category: fc.oneof(fc.constant([{ coding: [{ system: CS.observationCategory, code: 'laboratory' }] }]), fc.anything()),
  subject: fc.oneof(fc.constant({ reference: 'Patient/p1' }), fc.anything()),
  effectiveDateTime: fc.oneof(fc.constantFrom('2026-03-01T08:00:00+08:00', '2026-03-01', '2026-03-01T08:00'), fc.anything()),
  period: fc.oneof(fc.constant({ start: '2026-03-01T08:00:00+08:00' }), fc.anything()),
  valueQuantity: fc.oneof(fc.record({ value: fc.oneof(fc.double(), fc.integer()), unit: fc.string(), code: fc.string() }, { requiredKeys: [] }), fc.anything()),
  valueString: fc.anything(),
  serviceType: fc.oneof(fc.constant({ coding: [{ system: CS.departments, code: 'GP' }] }), fc.anything()),
  reasonCode: fc.anything(),
  specimen: fc.anything(),
  interpretation: fc.anything(),
  referenceRange: fc.anything(),
  extension: fc.anything(),
  telecom: fc.anything(),
  address: fc.anything(),
  maritalStatus: fc.anything(),
  other: fc.anything(),
}, { requiredKeys: [] });

const VALID: Record<WritableType, Record<string, unknown>> = {
  Patient: { resourceType: 'Patient', identifier: [{ system: SID.idCard, value: ID }], name: [{ text: '王秀英' }], gender: 'female', birthDate: '1956-03-07', telecom: [{ system: 'phone', value: '13800000000' }] },
  Encounter: { resourceType: 'Encounter', status: 'finished', class: { system: CS.v3ActCode, code: 'AMB' }, serviceType: { coding: [{ system: CS.departments, code: 'GP' }] }, subject: { reference: 'Patient/p1' }, period: { start: '2026-03-01T08:00:00+08:00' } },
  Observation: { resourceType: 'Observation', status: 'final', code: { coding: [{ system: CS.loinc, code: '8480-6' }] }, subject: { reference: 'Patient/p1' }, effectiveDateTime: '2026-03-01T08:00:00+08:00', valueQuantity: { value: 120, code: 'mm[Hg]' } },
};

/** A valid resource with up to three elements replaced by anything, removed, or added. */
const mutated = (type: WritableType) => fc.tuple(fc.subarray([...Object.keys(VALID[type]), 'extra', 'id']), fc.array(fc.oneof(fc.anything(), fc.constant(undefined)), { minLength: 3, maxLength: 3 })).map(([keys, vals]) => {
  const r: Record<string, unknown> = structuredClone(VALID[type]);
  keys.slice(0, 3).forEach((k, i) => { if (vals[i] === undefined) delete r[k]; else r[k] = vals[i]; });
  return r;
});

t.test('parseWrite never throws anything but an OperationOutcome', async (t) => {
  for (const type of ['Patient', 'Encounter', 'Observation'] as const) {
    let mapped = 0;
    fc.assert(fc.property(fc.oneof(mutated(type), near(type), fc.anything()), (body) => {
      try {
        parseWrite(type, body, 'id-1');
        mapped++;
        return true;
      } catch (e) {
        return isOperationOutcomeError(e) && [400, 422].includes(e.status);
      }
    }), { numRuns: 3000 });
    t.pass(`${type}: 3000 random bodies, ${mapped} mapped, the rest refused with 400/422`);
  }
});
