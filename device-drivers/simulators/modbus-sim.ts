/**
 * Modbus TCP device simulator for a profile, on modbus-serial's ServerTCP: the register
 * map is filled with generated engineering values (scaled and encoded per the profile),
 * refreshed every `updateMs`; occasional critical and implausible values included.
 */
import type { ModbusProfile } from '../profiles/schema.ts';
import { ServerTCP } from '../modbus/lib.ts';
import { encodeValue } from '../modbus/registers.ts';
import { freePort } from './free-port.ts';
import { generateValue, rng, type ValueKind, type ValueMix } from './values.ts';

export interface ModbusSimulatorOptions {
  host?: string;
  /** 0/undefined: a free port is picked */
  port?: number;
  profile: ModbusProfile;
  unitId?: number;
  updateMs?: number;
  seed?: number;
  mix?: ValueMix;
  /** Delay every answer (a slow device) */
  delayMs?: number;
}

export interface ModbusSimulator {
  port: number;
  host: string;
  /** Current engineering values by quantity key, and what kind they were generated as */
  current(): Record<string, { value: number; kind: ValueKind }>;
  /** Force a value (tests) */
  set(key: string, value: number): void;
  requests: number;
  stop(): Promise<void>;
}

type Table = 'coil' | 'discrete' | 'holding' | 'input';

export async function startModbusSimulator(o: ModbusSimulatorOptions): Promise<ModbusSimulator> {
  const host = o.host ?? '127.0.0.1';
  const r = rng(o.seed);
  const tables: Record<Table, Map<number, number>> = { coil: new Map(), discrete: new Map(), holding: new Map(), input: new Map() };
  const values: Record<string, { value: number; kind: ValueKind }> = {};
  const p = o.profile;
  const put = (key: string, value: number, kind: ValueKind) => {
    const q = p.quantities.find((x) => x.key === key);
    if (!q?.modbus) throw new Error(`no quantity ${key} in ${p.id}`);
    values[key] = { value, kind };
    encodeValue(q, value, p.modbus.wordOrder).forEach((w, i) => tables[q.modbus!.table].set(q.modbus!.address + i, w));
  };
  const refresh = () => { for (const q of p.quantities) { const v = generateValue(q, r, o.mix); put(q.key, v.value, v.kind); } };
  refresh();
  const timer = setInterval(refresh, o.updateMs ?? p.pollIntervalMs);
  timer.unref();
  const sim = { requests: 0 } as ModbusSimulator;
  const get = (t: Table) => async (addr: number) => {
    sim.requests++;
    if (o.delayMs) await new Promise((res) => setTimeout(res, o.delayMs));
    return tables[t].get(addr) ?? 0;
  };
  // callback style: modbus-serial treats a non-callback getMultiple* as synchronous
  const getMany = (t: Table) => (addr: number, len: number, _unit: number, cb: (err: Error | null, v: number[]) => void) => {
    sim.requests++;
    const answer = () => cb(null, Array.from({ length: len }, (_, i) => tables[t].get(addr + i) ?? 0));
    if (o.delayMs) setTimeout(answer, o.delayMs);
    else answer();
  };
  const vector = {
    getCoil: async (a: number) => (await get('coil')(a)) !== 0,
    getDiscreteInput: async (a: number) => (await get('discrete')(a)) !== 0,
    getHoldingRegister: get('holding'),
    getInputRegister: get('input'),
    getMultipleHoldingRegisters: getMany('holding'),
    getMultipleInputRegisters: getMany('input'),
  };
  let server: InstanceType<typeof ServerTCP> | undefined;
  let port = o.port ?? 0;
  for (let attempt = 0; attempt < 5 && !server; attempt++) {
    const tryPort = port || (await freePort(host));
    const s = new ServerTCP(vector, { host, port: tryPort, unitID: o.unitId ?? p.modbus.unitId });
    const ok = await new Promise<boolean>((resolve) => {
      s.on('initialized', () => resolve(true));
      s.on('serverError', () => resolve(false));
    });
    s.on('socketError', () => undefined);
    if (ok) { server = s; port = tryPort; } else if (o.port) throw new Error(`port ${o.port} is in use`);
  }
  if (!server) throw new Error('could not start the Modbus simulator');
  const srv = server;
  Object.assign(sim, {
    port,
    host,
    current: () => ({ ...values }),
    set: (key: string, value: number) => put(key, value, 'normal'),
    stop: async () => {
      clearInterval(timer);
      // ServerTCP.close does not end open sockets: destroy them so close() completes
      for (const sock of srv.socks.keys()) sock.destroy();
      await new Promise<void>((resolve) => srv.close(() => resolve()));
    },
  });
  return sim;
}
