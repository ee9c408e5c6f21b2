/** Profiles available for registration: the shipped ones, overridden by an institution directory. */
import { existsSync } from 'node:fs';
import { loadProfiles, type DeviceProfile, type Quantity } from '../../device-drivers/index.ts';

export class ProfileCatalog {
  readonly all: Map<string, DeviceProfile>;
  constructor(dir: string) {
    this.all = loadProfiles();
    if (dir && existsSync(dir)) for (const [id, p] of loadProfiles(dir)) this.all.set(id, p);
  }
  get(id: string): DeviceProfile | undefined {
    return this.all.get(id);
  }
  list(): DeviceProfile[] {
    return [...this.all.values()];
  }
  quantity(profileId: string, key: string): Quantity | undefined {
    return this.all.get(profileId)?.quantities.find((q) => q.key === key);
  }
}
