/**
 * A handler that runs longer than REQUEST_TIMEOUT_MS answers 503 (the work it
 * started may go on; its late result is dropped). Fastify 5.12's own
 * `handlerTimeout` stops its timer at the request's 'close' event, which Node
 * emits as soon as a request body has been read, so it never fired for a POST
 * with a body; this timer starts when the handler is about to run (the body
 * has its own limit, REQUEST_BODY_TIMEOUT_MS) and ends with the response.
 */
import fp from 'fastify-plugin';
import type { FastifyInstance } from 'fastify';
import { errorBody } from './errors.js';

export default fp(async function handlerTimeout(app: FastifyInstance) {
  const ms = app.config.REQUEST_TIMEOUT_MS;
  app.addHook('preHandler', async (req, reply) => {
    const timer = setTimeout(() => {
      // answered meanwhile, or the reply was taken over (event streams)
      if (reply.sent || reply.raw.headersSent) return;
      req.log.warn({ ms }, 'handler timed out');
      void reply.code(503).send(errorBody(503, `the request handler timed out after ${ms} ms; try again`, req.id));
    }, ms);
    timer.unref();
    reply.raw.once('close', () => clearTimeout(timer));
    reply.raw.once('finish', () => clearTimeout(timer));
  });
});
