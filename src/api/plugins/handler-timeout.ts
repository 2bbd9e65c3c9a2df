/**
 * A handler that runs longer than REQUEST_TIMEOUT_MS answers 503, and
 * `req.handlerDeadline` aborts (work that listens to it stops; other work goes
 * on and its late result is dropped). Fastify 5.12's own
 * `handlerTimeout` stops its timer at the request's 'close' event, which Node
 * emits as soon as a request body has been read, so it never fired for a POST
 * with a body; this timer starts when the handler is about to run (the body
 * has its own limit, REQUEST_BODY_TIMEOUT_MS) and ends with the response.
 */
import fp from 'fastify-plugin';
import type { FastifyInstance } from 'fastify';
import { errorBody } from './errors.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** aborted when the handler times out (work it started may stop: predictions do) */
    handlerDeadline: AbortSignal | null;
  }
}

export default fp(async function handlerTimeout(app: FastifyInstance) {
  const defaultMs = app.config.REQUEST_TIMEOUT_MS;
  app.decorateRequest('handlerDeadline', null);
  app.addHook('preHandler', async (req, reply) => {
    const ms = req.routeOptions.config.handlerTimeoutMs ?? defaultMs;
    const deadline = new AbortController();
    req.handlerDeadline = deadline.signal;
    const timer = setTimeout(() => {
      deadline.abort();
      // answered meanwhile, or the reply was taken over (event streams)
      if (reply.sent || reply.raw.headersSent) return;
      req.log.warn({ ms }, 'handler timed out');
      void reply
        .code(503)
        .send(errorBody(503, `the request handler timed out after ${ms} ms; try again`, req.id, undefined, 'handler_timeout'));
    }, ms);
    timer.unref();
    reply.raw.once('close', () => clearTimeout(timer));
    reply.raw.once('finish', () => clearTimeout(timer));
  });
});
