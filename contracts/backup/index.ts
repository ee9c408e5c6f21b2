/** Shared backup library: format, encryption, targets, upload protocol, retention. See README.md. */
export * from './errors.ts';
export * from './crypto.ts';
export * from './manifest.ts';
export * from './retention.ts';
export * from './protocol.ts';
export * from './target.ts';
export * from './snapshot.ts';
export * from './restore.ts';
