/** The only import surface of `network-monitor/` for other folders (demo, provisioning). */
export { startNetworkMonitor, type NetworkMonitorHandle, type StartOptions } from './monitor.ts';
export { loadConfig, parseConfig, configSchema, ConfigError, type NetworkMonitorConfig, type NetworkMonitorConfigInput } from './config.ts';
export {
  inventorySchema, parseInventory, loadInventoryFile, clinicStreams, InventoryError,
  type Inventory, type InventoryInput, type Target, type Clinic, type SnmpCredentials,
} from './inventory.ts';
export { computeImpact, rootFaults, type Fault, type ImpactEntry } from './impact.ts';
export type { NetEvent, EventType, Severity } from './events.ts';
export { IF_COUNTERS } from './metrics.ts';
