/** Critical ranges (危急值) per institution: profile defaults, overridden in the UI. Audited. */
import type { Db } from '../../contracts/runtime/index.ts';
import type { Quantity, Range } from '../../device-drivers/index.ts';
import type { Accounts } from '../web/accounts.ts';
import type { ProfileCatalog } from './profiles.ts';
import { RegistryError, type Actor } from './registry.ts';

export interface RangeRow {
  profileId: string;
  profileName: string;
  quantity: string;
  display: string;
  unit: string;
  critical: Range | undefined;
  defaultCritical: Range | undefined;
  overridden: boolean;
}

export class CriticalRanges {
  constructor(private readonly db: Db, private readonly accounts: Accounts, private readonly profiles: ProfileCatalog) {}

  private override(profileId: string, key: string): Range | undefined {
    const r = this.db.prepare<[string, string], { low: number | null; high: number | null; inclusive: number }>('SELECT low, high, inclusive FROM device_critical_ranges WHERE profile_id = ? AND quantity = ?').get(profileId, key);
    if (!r) return undefined;
    return { ...(r.low !== null ? { low: r.low } : {}), ...(r.high !== null ? { high: r.high } : {}), inclusive: r.inclusive === 1 };
  }

  /** The quantity as this institution evaluates it (critical range replaced if edited). */
  effective(profileId: string, q: Quantity): Quantity {
    const o = this.override(profileId, q.key);
    return o ? { ...q, critical: o } : q;
  }

  list(): RangeRow[] {
    return this.profiles.list().flatMap((p) => p.quantities.map((q) => {
      const o = this.override(p.id, q.key);
      return { profileId: p.id, profileName: p.nameZh ?? p.name, quantity: q.key, display: q.displayZh ?? q.display, unit: q.unit, critical: o ?? q.critical, defaultCritical: q.critical, overridden: !!o };
    }));
  }

  set(profileId: string, key: string, r: { low?: number; high?: number; inclusive: boolean }, by: Actor): void {
    if (!this.profiles.quantity(profileId, key)) throw new RegistryError('quantity', `未知项目 / unknown quantity ${profileId}/${key}`, 404);
    if (r.low !== undefined && r.high !== undefined && r.low > r.high) throw new RegistryError('low', '下限不能大于上限 / low must be <= high');
    this.db.prepare(`INSERT INTO device_critical_ranges (profile_id, quantity, low, high, inclusive, updated_by, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)
      ON CONFLICT (profile_id, quantity) DO UPDATE SET low = excluded.low, high = excluded.high, inclusive = excluded.inclusive, updated_by = excluded.updated_by, updated_at = excluded.updated_at`)
      .run(profileId, key, r.low ?? null, r.high ?? null, r.inclusive ? 1 : 0, by.username, new Date().toISOString());
    this.accounts.audit(by.username, 'critical_range.set', `${profileId}/${key} low=${r.low ?? ''} high=${r.high ?? ''} inclusive=${r.inclusive}`, by.ip, 'ok');
  }

  reset(profileId: string, key: string, by: Actor): void {
    this.db.prepare('DELETE FROM device_critical_ranges WHERE profile_id = ? AND quantity = ?').run(profileId, key);
    this.accounts.audit(by.username, 'critical_range.reset', `${profileId}/${key}`, by.ip, 'ok');
  }
}
