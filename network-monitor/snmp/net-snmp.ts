/**
 * Typed access to net-snmp 3.29, which ships no typings: only what this repo uses.
 * Values are typed as the library delivers them (Counter64 as a Buffer, strings as Buffers).
 * Loaded with createRequire (CommonJS package) so no ambient declaration file is needed.
 */
import { createRequire } from 'node:module';
import type { Socket } from 'node:dgram';
export interface Varbind {
  oid: string;
  type: number;
  value: unknown;
}
export interface SessionOptions {
  port?: number;
  retries?: number;
  timeout?: number;
  backoff?: number;
  transport?: 'udp4' | 'udp6';
  trapPort?: number;
  version?: number;
  idBitsSize?: 16 | 32;
  context?: string;
  engineID?: string;
}
export interface User {
  name: string;
  level: number;
  authProtocol?: string;
  authKey?: string;
  privProtocol?: string;
  privKey?: string;
}
export interface Session {
  get(oids: string[], cb: (err: Error | null, varbinds?: Varbind[]) => void): void;
  getBulk(oids: string[], nonRepeaters: number, maxRepetitions: number, cb: (err: Error | null, varbinds?: Varbind[] | Varbind[][]) => void): void;
  subtree(oid: string, maxRepetitions: number, feed: (varbinds: Varbind[]) => boolean | void, done: (err: Error | null) => void): void;
  trap(typeOrOid: number | string, varbinds: Varbind[], cb: (err: Error | null) => void): void;
  inform(typeOrOid: number | string, varbinds: Varbind[], cb: (err: Error | null) => void): void;
  on(ev: 'error', cb: (err: Error) => void): void;
  on(ev: 'close', cb: () => void): void;
  close(): void;
  dgram?: Socket;
}
export interface Notification {
  pdu: { type: number; id: number; varbinds: Varbind[]; scoped?: boolean; enterprise?: string; agentAddr?: string; generic?: number; specific?: number; upTime?: number };
  rinfo: { address: string; family: string; port: number; size: number };
  user?: string;
  community?: string;
}
export interface Authorizer {
  addCommunity(c: string): void;
  addUser(u: User): void;
}
export interface Receiver {
  getAuthorizer(): Authorizer;
  close(cb?: () => void): void;
}
export interface ReceiverOptions {
  port?: number;
  address?: string | null;
  transport?: 'udp4' | 'udp6';
  disableAuthorization?: boolean;
  includeAuthentication?: boolean;
  engineID?: string;
}
export interface Mib {
  registerProvider(def: unknown): void;
  setScalarValue(name: string, value: unknown): void;
  addTableRow(name: string, row: unknown[]): void;
  setTableSingleCell(name: string, column: number, rowIndex: unknown[], value: unknown): void;
}
export interface Agent {
  getAuthorizer(): Authorizer;
  getMib(): Mib;
  close(cb?: () => void): void;
}

export interface NetSnmp {
  Version1: number;
  Version2c: number;
  Version3: number;
  SecurityLevel: { noAuthNoPriv: number; authNoPriv: number; authPriv: number };
  AuthProtocols: { md5: string; sha: string; sha224: string; sha256: string; sha384: string; sha512: string };
  PrivProtocols: { des: string; aes: string; aes256b: string; aes256r: string };
  ObjectType: Record<string, number>;
  TrapType: { ColdStart: number; WarmStart: number; LinkDown: number; LinkUp: number; AuthenticationFailure: number; EgpNeighborLoss: number; EnterpriseSpecific: number };
  PduType: Record<string, number>;
  MibProviderType: { Scalar: string; Table: string };
  MaxAccess: Record<string, number>;
  RequestTimedOutError: new (...args: unknown[]) => Error;
  createSession(target: string, community: string, options?: SessionOptions): Session;
  createV3Session(target: string, user: User, options?: SessionOptions): Session;
  createReceiver(options: ReceiverOptions, cb: (err: Error | null, n: Notification | null) => void): Receiver;
  createAgent(options: { port?: number; address?: string | null; disableAuthorization?: boolean }, cb: (err: Error | null, data: unknown) => void, mib?: Mib): Agent;
  isVarbindError(vb: Varbind): boolean;
  varbindError(vb: Varbind): string;
}

const require = createRequire(import.meta.url);
/** The net-snmp module, typed. */
export const snmp = require('net-snmp') as NetSnmp;
export default snmp;
