/** Every error leaves as {error, message, details?, requestId}; 5xx messages are not leaked. */
import fp from 'fastify-plugin';
import type { FastifyError, FastifyInstance } from 'fastify';
import { STATUS_CODES } from 'node:http';

export class HttpError extends Error {
  constructor(
    readonly statusCode: number,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
  }
}

/** Postgres unreachable, frozen or restarting (Prisma and node-postgres say so in several ways). */
export function isDatabaseUnavailable(err: { name?: string; code?: string; message?: string; cause?: unknown }): boolean {
  if (err.name === 'PrismaClientInitializationError') return true;
  if (err.code && ['P1001', 'P1002', 'P1008', 'P1017', 'P2024', 'ECONNREFUSED', 'ECONNRESET', '57P01', '57P03'].includes(err.code)) return true;
  const text = `${err.message ?? ''} ${(err.cause as Error | undefined)?.message ?? ''}`;
  return /Query read timeout|timeout exceeded when trying to connect|Connection terminated|ECONNREFUSED|Can't reach database|the database system is (starting up|shutting down)|terminating connection/i.test(text);
}

export default fp(async function errors(app: FastifyInstance) {
  app.setErrorHandler((err: FastifyError & { details?: unknown }, request, reply) => {
    if (!(err instanceof HttpError) && isDatabaseUnavailable(err)) {
      request.log.warn({ err: err.message }, 'database unavailable');
      err = new HttpError(503, 'the database (PostgreSQL) is unavailable; try again shortly') as unknown as FastifyError & { details?: unknown };
    }
    let status = err.statusCode ?? 500;
    let details = err.details;
    if (err.validation) {
      status = 400;
      details = err.validation.map((v) => ({ path: v.instancePath || '/', message: v.message, params: v.params }));
    }
    if (status >= 500) request.log.error({ err }, 'request failed');
    reply.status(status).send({
      error: STATUS_CODES[status] ?? 'Error',
      // our own errors and Fastify's (timeouts, limits) say what happened; anything else might leak internals
      message: status >= 500 && !(err instanceof HttpError) && !err.code?.startsWith('FST_') ? 'internal error' : err.message,
      ...(details !== undefined ? { details } : {}),
      requestId: request.id,
    });
  });
  app.setNotFoundHandler((request, reply) => {
    reply.status(404).send({ error: 'Not Found', message: `no route ${request.method} ${request.url}`, requestId: request.id });
  });
});
