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

export default fp(async function errors(app: FastifyInstance) {
  app.setErrorHandler((err: FastifyError & { details?: unknown }, request, reply) => {
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
