/** Runtime helpers shared by every process (logging, config, ops endpoints). */
export * from './logger.ts';
export * from './config.ts';
export * from './http.ts';
export * from './sqlite.ts';
export * from './json.ts';
export * from './nats-tls.ts';
