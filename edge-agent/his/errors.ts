/** Errors of the HIS front desk: a field name (for the message next to the input) and a Chinese message. */
export class HisError extends Error {
  override name = 'HisError';
  constructor(readonly field: string, message: string, readonly status: 400 | 404 | 409 = 400) {
    super(message);
  }
}

export const isHisError = (e: unknown): e is HisError => e instanceof HisError;
