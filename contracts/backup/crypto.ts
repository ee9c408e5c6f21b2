/**
 * Backup encryption: AES-256-GCM (authenticated) under keys derived by HKDF-SHA256 from one
 * 32-byte master key kept in a key file APART from the backups (a backup directory or the
 * off-site target never holds it). Chunk ids are HMAC-SHA256 of the plaintext under a derived
 * id key, so equal content dedupes without the ids revealing content to the target.
 */
import { createCipheriv, createDecipheriv, createHmac, hkdfSync, randomBytes } from 'node:crypto';
import { readFileSync, statSync, writeFileSync, existsSync } from 'node:fs';
import { deflateRawSync, inflateRawSync } from 'node:zlib';
import { BackupError } from './errors.ts';

export interface BackupKey {
  /** 16 hex chars identifying the key (derived, safe to store next to the backup). */
  keyId: string;
  enc: Buffer;
  id: Buffer;
  /** Where it came from, for messages. */
  source: string;
}

const derive = (master: Buffer, info: string, len = 32) => Buffer.from(hkdfSync('sha256', master, Buffer.alloc(0), `dpc-backup ${info} v1`, len));

export function keyFromBytes(master: Buffer, source = '(in memory)'): BackupKey {
  if (master.length !== 32) throw new BackupError('KEY_FILE', `backup key ${source} must hold 32 bytes (64 hex characters or 44 base64 characters); generate one with "npm run backup -- keygen --key <file>"`);
  return { keyId: derive(master, 'keyid', 8).toString('hex'), enc: derive(master, 'enc'), id: derive(master, 'id'), source };
}

/** Read a key file: 64 hex chars or base64 of 32 bytes (whitespace ignored). */
export function loadKeyFile(file: string): BackupKey {
  let text: string;
  try {
    text = readFileSync(file, 'utf8').trim();
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new BackupError('KEY_FILE', code === 'ENOENT'
      ? `backup key file ${file} does not exist: generate one with "npm run backup -- keygen --key ${file}" and keep a copy somewhere other than the backups (without it no backup can be restored)`
      : `cannot read backup key file ${file}: ${(e as Error).message}`);
  }
  let bytes: Buffer;
  if (/^[0-9a-fA-F]{64}$/.test(text)) bytes = Buffer.from(text, 'hex');
  else if (/^[A-Za-z0-9+/_-]{43}=?$/.test(text)) bytes = Buffer.from(text, text.includes('-') || text.includes('_') ? 'base64url' : 'base64');
  else throw new BackupError('KEY_FILE', `backup key file ${file} is not a key (expected 64 hex characters or base64 of 32 bytes)`);
  return keyFromBytes(bytes, file);
}

/** Create a new key file (mode 0600); refuses to overwrite an existing one. */
export function generateKeyFile(file: string): BackupKey {
  if (existsSync(file)) throw new BackupError('KEY_FILE', `backup key file ${file} already exists: it may be needed to restore existing backups, so it is not overwritten`);
  const master = randomBytes(32);
  writeFileSync(file, `${master.toString('hex')}\n`, { mode: 0o600, flag: 'wx' });
  return keyFromBytes(master, file);
}

/** True when group/other can read the key file (callers warn). */
export function keyFileTooOpen(file: string): boolean {
  try {
    return (statSync(file).mode & 0o077) !== 0;
  } catch {
    return false;
  }
}

export function chunkId(key: BackupKey, chainId: string, data: Buffer): string {
  return createHmac('sha256', key.id).update(chainId).update('\0').update(data).digest('hex');
}

const NONCE = 12;
const TAG = 16;

/** Compress (when it helps), then encrypt. Output: nonce | ciphertext | tag. AAD = chunk id. */
export function sealChunk(key: BackupKey, id: string, data: Buffer, compress: boolean): Buffer {
  let body = data;
  let flag = 0;
  if (compress) {
    const z = deflateRawSync(data, { level: 1 });
    if (z.length < data.length * 0.95) { body = z; flag = 1; }
  }
  const nonce = randomBytes(NONCE);
  const c = createCipheriv('aes-256-gcm', key.enc, nonce);
  c.setAAD(Buffer.from(id, 'hex'));
  const ct = Buffer.concat([c.update(Buffer.of(flag)), c.update(body), c.final()]);
  return Buffer.concat([nonce, ct, c.getAuthTag()]);
}

/** Decrypt and decompress a chunk and check its id (content hash); throws CORRUPT. */
export function openChunk(key: BackupKey, chainId: string, id: string, sealed: Buffer, where: string): Buffer {
  if (sealed.length < NONCE + TAG + 1) throw new BackupError('TRUNCATED', `chunk ${id.slice(0, 12)} in ${where} is truncated`);
  let plain: Buffer;
  try {
    const d = createDecipheriv('aes-256-gcm', key.enc, sealed.subarray(0, NONCE));
    d.setAAD(Buffer.from(id, 'hex'));
    d.setAuthTag(sealed.subarray(sealed.length - TAG));
    plain = Buffer.concat([d.update(sealed.subarray(NONCE, sealed.length - TAG)), d.final()]);
  } catch (e) {
    throw new BackupError('CORRUPT', `chunk ${id.slice(0, 12)} in ${where} fails authentication (the file is corrupted or was modified): restore from another backup point`, { cause: e });
  }
  const data = plain[0] === 1 ? inflateRawSync(plain.subarray(1)) : plain.subarray(1);
  if (chunkId(key, chainId, data) !== id) throw new BackupError('CORRUPT', `chunk ${id.slice(0, 12)} in ${where} has the wrong content hash: restore from another backup point`);
  return data;
}

const MAGIC = 'DPCBACKUP1\n';

/** An encrypted, self-describing blob (manifests): MAGIC, a JSON header line (AAD), nonce|ct|tag. */
export function sealBlob(key: BackupKey, header: Record<string, unknown>, data: Buffer): Buffer {
  const h = Buffer.from(`${JSON.stringify({ ...header, keyId: key.keyId })}\n`);
  const nonce = randomBytes(NONCE);
  const c = createCipheriv('aes-256-gcm', key.enc, nonce);
  c.setAAD(h);
  const ct = Buffer.concat([c.update(deflateRawSync(data)), c.final()]);
  return Buffer.concat([Buffer.from(MAGIC), h, nonce, ct, c.getAuthTag()]);
}

export function blobHeader(blob: Buffer, where: string): { header: Record<string, unknown>; headerBytes: Buffer; rest: Buffer } {
  if (blob.subarray(0, MAGIC.length).toString() !== MAGIC) throw new BackupError('CORRUPT', `${where} is not a backup manifest (bad magic): the file is corrupted or not from this tool`);
  const nl = blob.indexOf(10, MAGIC.length);
  if (nl < 0) throw new BackupError('TRUNCATED', `${where} is truncated (no header)`);
  const headerBytes = blob.subarray(MAGIC.length, nl + 1);
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(headerBytes.toString()) as Record<string, unknown>;
  } catch {
    throw new BackupError('CORRUPT', `${where} has a corrupted header`);
  }
  return { header, headerBytes, rest: blob.subarray(nl + 1) };
}

export function openBlob(key: BackupKey, blob: Buffer, where: string): { header: Record<string, unknown>; data: Buffer } {
  const { header, headerBytes, rest } = blobHeader(blob, where);
  if (header.keyId !== key.keyId) {
    throw new BackupError('WRONG_KEY', `${where} was encrypted with key ${String(header.keyId)}, but the key file ${key.source} is key ${key.keyId}: use the key file that was configured when this backup was made`);
  }
  if (rest.length < NONCE + TAG) throw new BackupError('TRUNCATED', `${where} is truncated`);
  try {
    const d = createDecipheriv('aes-256-gcm', key.enc, rest.subarray(0, NONCE));
    d.setAAD(headerBytes);
    d.setAuthTag(rest.subarray(rest.length - TAG));
    const z = Buffer.concat([d.update(rest.subarray(NONCE, rest.length - TAG)), d.final()]);
    return { header, data: inflateRawSync(z) };
  } catch (e) {
    throw new BackupError('CORRUPT', `${where} fails authentication (corrupted, truncated or modified): use another backup point`, { cause: e });
  }
}
