/**
 * Directory resources, paged in memory (small lists):
 * - Organization: the clinics that sent data; id = clinic id (names are not held centrally, the id is the name).
 * - Practitioner: the central staff dictionary; id = staff code.
 * - Device: devices referenced by observations (deviceId) and lab results (analyserId); id = `<clinic id>.<device id>`.
 */
import { type Resource, isFhirId } from './map.ts';
import { badRequest } from './outcome.ts';
import type { FhirStore } from './store.ts';
import { SID } from './systems.ts';

export type DirectoryType = 'Organization' | 'Practitioner' | 'Device';
export interface DirectoryQuery { id?: string; identifier?: string; name?: string; count: number; offset: number }

const idMatch = (r: Resource, token: string) => {
  const bar = token.indexOf('|');
  const system = bar >= 0 ? token.slice(0, bar) : undefined;
  const value = bar >= 0 ? token.slice(bar + 1) : token;
  if (!value) throw badRequest('identifier needs a value (system|value)', 'identifier');
  return (r.identifier as { system: string; value: string }[]).some((i) => i.value === value && (system === undefined || system === '' || i.system === system));
};

const nameOf = (r: Resource) => (typeof r.name === 'string' ? r.name : Array.isArray(r.name) ? (r.name as { text?: string }[]).map((n) => n.text ?? '').join(' ') : '');

async function all(store: FhirStore, type: DirectoryType): Promise<Resource[]> {
  if (type === 'Organization') {
    return ((await store.clinics?.()) ?? []).filter(isFhirId).map((c) => ({
      resourceType: 'Organization', id: c, identifier: [{ system: SID.clinic, value: c }], active: true,
      type: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/organization-type', code: 'prov', display: 'Healthcare Provider' }] }], name: c,
    }));
  }
  if (type === 'Practitioner') {
    return ((await store.staff?.()) ?? []).filter((s) => isFhirId(s.code)).map((s) => ({
      resourceType: 'Practitioner', id: s.code, identifier: [{ system: SID.staff, value: s.code }], active: s.active, name: [{ text: s.name }],
    }));
  }
  return ((await store.devices?.()) ?? []).map((d) => ({
    resourceType: 'Device', id: `${d.clinicId}.${d.deviceId}`, identifier: [{ system: `${SID.device}/${d.clinicId}`, value: d.deviceId }],
    status: 'active', owner: { reference: `Organization/${d.clinicId}` },
  })).filter((d) => isFhirId(d.id));
}

export async function searchDirectory(store: FhirStore, type: DirectoryType, q: DirectoryQuery): Promise<{ rows: Resource[]; total: number }> {
  const name = q.name?.toLowerCase();
  const found = (await all(store, type)).filter((r) => (q.id === undefined || r.id === q.id)
    && (q.identifier === undefined || idMatch(r, q.identifier))
    && (name === undefined || nameOf(r).toLowerCase().includes(name)));
  return { rows: found.slice(q.offset, q.offset + q.count), total: found.length };
}
