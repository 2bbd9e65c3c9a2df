/**
 * What the store says went wrong, in its own words: the API maps these to HTTP in one place
 * (api/plugins/errors.ts); nothing above the store looks at Prisma's or PostgreSQL's codes.
 */

/** the row does not exist, or the caller may not see it (the two answer alike, so ids do not leak) */
export class NotFound extends Error {
  constructor(
    message: string,
    /** the machine-readable code of the answer (the error body's `code`) */
    readonly code = 'not_found',
  ) {
    super(message);
    this.name = 'NotFound';
  }
}

/** the request collides with what is stored: a name taken, a state that does not allow it */
export class Conflict extends Error {
  constructor(
    message: string,
    readonly details?: object,
    /** the machine-readable code of the answer (the error body's `code`) */
    readonly code = 'conflict',
  ) {
    super(message);
    this.name = 'Conflict';
  }
}

/** the request is well-formed but cannot apply to what it names (a probe of a probe job, say) */
export class Unprocessable extends Error {
  constructor(
    message: string,
    /** the machine-readable code of the answer (the error body's `code`) */
    readonly code = 'unprocessable',
  ) {
    super(message);
    this.name = 'Unprocessable';
  }
}

type LibraryError = { name?: string; code?: string; message?: string; cause?: unknown };

/** a unique index refused the row (a concurrent request took the name or key first) */
export const isUniqueViolation = (err: unknown) => (err as LibraryError | null)?.code === 'P2002';

/** a foreign key refused the change (a row still points at the one being deleted) */
export const isForeignKeyViolation = (err: unknown) => {
  const e = err as LibraryError | null;
  return e?.code === 'P2003' || /foreign key/i.test(`${e?.message ?? ''} ${(e?.cause as Error | undefined)?.message ?? ''}`);
};

/** a value the API's schemas let through but PostgreSQL refuses (a safety net: the schemas should catch it) */
export const isInvalidValue = (err: unknown) => (err as LibraryError | null)?.code === 'P2007';

/** every connection of the pool busy past the wait for one (under load: Postgres itself is fine) */
export function isDatabaseBusy(err: LibraryError): boolean {
  if (err.code === 'P2028' || err.code === 'P2024') return true;
  return /Unable to start a transaction in the given time|Timed out fetching a new connection/i.test(
    `${err.message ?? ''} ${(err.cause as Error | undefined)?.message ?? ''}`,
  );
}

/** Postgres unreachable, frozen or restarting (Prisma and node-postgres say so in several ways). */
export function isDatabaseUnavailable(err: LibraryError): boolean {
  if (err.name === 'PrismaClientInitializationError' || isDatabaseBusy(err)) return true;
  if (err.code && ['P1001', 'P1002', 'P1008', 'P1017', 'ECONNREFUSED', 'ECONNRESET', '57P01', '57P03'].includes(err.code)) return true;
  const text = `${err.message ?? ''} ${(err.cause as Error | undefined)?.message ?? ''}`;
  return /Query read timeout|timeout exceeded when trying to connect|Connection terminated|ECONNREFUSED|Can't reach database|the database system is (starting up|shutting down)|terminating connection/i.test(
    text,
  );
}
