/** Errors of the provisioning CLI: bad input names the field and exits with code 2. */

/** Invalid input from the operator (a flag, a file): nothing is written. */
export class InputError extends Error {
  override readonly name = 'InputError';
  constructor(readonly field: string, message: string, options?: { cause?: unknown }) {
    super(`${field}: ${message}`, options);
  }
}

/** A generated file failed its validator (edge schema, parseInventory, nats-server -t, promtool). */
export class ValidationError extends Error {
  override readonly name = 'ValidationError';
  constructor(readonly file: string, message: string, options?: { cause?: unknown }) {
    super(`${file}: ${message}`, options);
  }
}

export function isInputError(e: unknown): e is InputError {
  return e instanceof InputError;
}
