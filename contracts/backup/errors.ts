/**
 * Every failure of a backup, restore or drill is a `BackupError` with a code and a message
 * that names the file or target and says what to do. Callers (CLI, scheduler, HTTP) print
 * the message as is.
 */
export type BackupErrorCode =
  | 'KEY_FILE' // key file missing, unreadable or malformed
  | 'WRONG_KEY' // the backup was made with another key
  | 'CORRUPT' // checksum or authentication failure
  | 'TRUNCATED' // an object is shorter than its manifest says
  | 'NOT_FOUND' // no such backup / object
  | 'NOT_EMPTY' // restore into a non-empty directory
  | 'NO_SPACE' // disk full (ENOSPC / EDQUOT)
  | 'TARGET_UNREACHABLE' // off-site target went away
  | 'TARGET_REFUSED' // off-site target answered with an error
  | 'LOCKED' // another backup runs on the same repository
  | 'ABORTED'
  | 'SOURCE'; // the live data could not be read

export class BackupError extends Error {
  override name = 'BackupError';
  constructor(readonly code: BackupErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** Map an fs error to a BackupError naming the file; ENOSPC becomes NO_SPACE. */
export function fsError(e: unknown, file: string, doing: string): BackupError {
  if (e instanceof BackupError) return e;
  const err = e as NodeJS.ErrnoException;
  if (err?.code === 'ENOSPC' || err?.code === 'EDQUOT') {
    return new BackupError('NO_SPACE', `disk full while ${doing} ${file}: free space on that disk (or choose another backup directory) and run the backup again; nothing was changed in the live data and the partial output was removed`, { cause: e });
  }
  if (err?.code === 'EACCES' || err?.code === 'EPERM') {
    return new BackupError('SOURCE', `permission denied while ${doing} ${file}: run as the service user or fix the directory's permissions`, { cause: e });
  }
  return new BackupError('SOURCE', `${doing} ${file} failed: ${err?.message ?? String(e)}`, { cause: e });
}
