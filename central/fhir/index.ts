/** FHIR R4 facade of the central warehouse: the only import surface of central/fhir. */
export { fhirApi, type FhirDeps } from './routes.ts';
export { fhirStoreFor, type FhirStore } from './store.ts';
export { CS, SID, EXT } from './systems.ts';
export { OperationOutcomeError, isOperationOutcomeError } from './outcome.ts';
