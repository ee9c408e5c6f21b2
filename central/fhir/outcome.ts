/** FHIR errors: one `OperationOutcomeError` carrying the HTTP status (after Medplum's outcomes.ts). */
export type IssueType = 'invalid' | 'structure' | 'required' | 'value' | 'code-invalid' | 'business-rule' | 'duplicate' | 'not-found' | 'not-supported'
  | 'security' | 'login' | 'forbidden' | 'expired' | 'throttled' | 'too-costly' | 'conflict' | 'processing' | 'informational' | 'exception';

export type HttpStatus = 400 | 401 | 403 | 404 | 405 | 409 | 412 | 422 | 429 | 500;

export interface OperationOutcome {
  resourceType: 'OperationOutcome';
  issue: { severity: 'error' | 'warning' | 'information'; code: IssueType; diagnostics?: string; expression?: string[] }[];
}

export class OperationOutcomeError extends Error {
  override name = 'OperationOutcomeError';
  constructor(readonly status: HttpStatus, readonly code: IssueType, message: string, readonly expression?: string) {
    super(message);
  }

  get outcome(): OperationOutcome {
    return outcome(this.code, this.message, this.expression);
  }
}

export function isOperationOutcomeError(e: unknown): e is OperationOutcomeError {
  return e instanceof OperationOutcomeError;
}

export function outcome(code: IssueType, diagnostics: string, expression?: string, severity: 'error' | 'information' = 'error'): OperationOutcome {
  return { resourceType: 'OperationOutcome', issue: [{ severity, code, diagnostics, ...(expression ? { expression: [expression] } : {}) }] };
}

export const badRequest = (msg: string, expression?: string) => new OperationOutcomeError(400, 'invalid', msg, expression);
export const notSupported = (msg: string, expression?: string) => new OperationOutcomeError(400, 'not-supported', msg, expression);
export const notFound = (msg: string) => new OperationOutcomeError(404, 'not-found', msg);
