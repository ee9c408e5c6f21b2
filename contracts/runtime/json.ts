/** A message body as JSON, or null when it is not JSON (the caller's schema check then reports it). */
export function jsonOrNull(data: Uint8Array): unknown {
  try {
    return JSON.parse(Buffer.from(data).toString('utf8'));
  } catch {
    return null;
  }
}
