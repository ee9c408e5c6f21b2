/** The only import surface of `contracts/` for the other folders. */
export * from './hlc.ts';
export * from './subjects.ts';
export * from './identity.ts';
export * from './records.ts';
export * from './envelope.ts';
export * from './dictionaries.ts';
export * from './metrics.ts';
export * from './empi.ts';
export * from './clinic-token.ts';
