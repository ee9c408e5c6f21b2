/**
 * Clinical impact: from the failed targets and links, which clinics, registered medical
 * devices and replication streams are cut off. Pure: takes the inventory and the faults.
 */
import { clinicStreams, type Inventory, type Target } from './inventory.ts';

export interface Fault {
  target: string;
  /** Absent: the whole device is down. */
  ifIndex?: number;
  ifName?: string;
}

export interface ImpactEntry {
  /** The failed target (the root cause, not a child behind it). */
  target: string;
  ifName?: string;
  clinic: string;
  clinicName?: string;
  devices: { id: string; kind: string }[];
  streams: string[];
}

function matchesLink(l: Target['links'][number], f: Fault): boolean {
  return (l.ifIndex !== undefined && l.ifIndex === f.ifIndex) || (l.ifName !== undefined && l.ifName === f.ifName);
}

/** Clinics behind one target: its own `serves`, every link's clinics, and all descendants'. */
export function clinicsBehindTarget(inv: Inventory, target: string, seen = new Set<string>()): Set<string> {
  const out = new Set<string>();
  if (seen.has(target)) return out; // a parent cycle must not loop forever
  seen.add(target);
  const t = inv.targets.find((x) => x.name === target);
  if (!t) return out;
  t.serves.forEach((c) => out.add(c));
  t.links.forEach((l) => l.clinics.forEach((c) => out.add(c)));
  for (const child of inv.targets) {
    if (child.parent === target) clinicsBehindTarget(inv, child.name, seen).forEach((c) => out.add(c));
  }
  return out;
}

/** Impact of a set of faults, one entry per (fault, clinic), sorted for stable output. */
export function computeImpact(inv: Inventory, faults: readonly Fault[]): ImpactEntry[] {
  const entries: ImpactEntry[] = [];
  const seen = new Set<string>();
  for (const f of faults) {
    const t = inv.targets.find((x) => x.name === f.target);
    if (!t) continue;
    let clinics: Set<string>;
    if (f.ifIndex === undefined && f.ifName === undefined) clinics = clinicsBehindTarget(inv, f.target);
    else {
      clinics = new Set();
      t.links.filter((l) => matchesLink(l, f)).forEach((l) => l.clinics.forEach((c) => clinics.add(c)));
    }
    for (const cid of clinics) {
      const key = `${f.target}|${f.ifName ?? f.ifIndex ?? ''}|${cid}`;
      if (seen.has(key)) continue;
      seen.add(key);
      const c = inv.clinics.find((x) => x.id === cid);
      if (!c) continue;
      entries.push({
        target: f.target,
        ...(f.ifName !== undefined || f.ifIndex !== undefined ? { ifName: f.ifName ?? String(f.ifIndex) } : {}),
        clinic: cid,
        ...(c.name ? { clinicName: c.name } : {}),
        devices: c.devices.map((d) => ({ id: d.id, kind: d.kind })),
        streams: clinicStreams(c),
      });
    }
  }
  return entries.sort((a, b) => `${a.target}${a.ifName ?? ''}${a.clinic}`.localeCompare(`${b.target}${b.ifName ?? ''}${b.clinic}`));
}

/** Drop faults whose target has a failed ancestor: the ancestor is the root cause. */
export function rootFaults(inv: Inventory, faults: readonly Fault[]): Fault[] {
  const downTargets = new Set(faults.filter((f) => f.ifIndex === undefined && f.ifName === undefined).map((f) => f.target));
  const ancestorDown = (name: string): boolean => {
    const seen = new Set<string>();
    let p = inv.targets.find((t) => t.name === name)?.parent;
    while (p !== undefined && !seen.has(p)) {
      if (downTargets.has(p)) return true;
      seen.add(p);
      p = inv.targets.find((t) => t.name === p)?.parent;
    }
    return false;
  };
  return faults.filter((f) => !ancestorDown(f.target) && !(f.ifIndex !== undefined || f.ifName !== undefined ? downTargets.has(f.target) : false));
}
