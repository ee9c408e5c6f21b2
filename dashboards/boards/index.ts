import { networkOverview } from './network-overview.ts';
import { clinicLink } from './clinic-link.ts';
import { edgeFleet } from './edge-fleet.ts';
import { deviceHealth } from './device-health.ts';
import { centralApi } from './central-api.ts';
import type { DashboardSpec } from '../spec.ts';

export const dashboards: DashboardSpec[] = [networkOverview, clinicLink, edgeFleet, deviceHealth, centralApi];
