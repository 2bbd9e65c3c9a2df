/**
 * Request bodies arrive in time, and are never read after the answer.
 * - A body must arrive within REQUEST_BODY_TIMEOUT_MS of its headers, or the
 *   client gets 408 and the connection closes. (Node's own requestTimeout
 *   stops counting once the headers are in, so a client that trickles a body
 *   would otherwise hold its connection until the handler timeout and get a
 *   misleading 503.)
 * - A request answered before its body was read (404, 401, 413, 408, ...)
 *   closes its connection: Node would otherwise read and discard the rest
 *   (a client could make it read 512 MiB of junk), or, where the body stream
 *   was paused, keep the socket open for ever. The answer goes out first, then
 *   a FIN; whatever the client still sends in the next second is discarded,
 *   and then the socket is closed.
 */
import fp from 'fastify-plugin';
import type { FastifyInstance } from 'fastify';
import { PassThrough } from 'node:stream';
import { HttpError } from './errors.js';

const LINGER_MS = 1000;

declare module 'fastify' {
  interface FastifyContextConfig {
    /** this route's time for a whole request body (default REQUEST_BODY_TIMEOUT_MS) */
    bodyTimeoutMs?: number;
    /** this route's time for its handler (default REQUEST_TIMEOUT_MS) */
    handlerTimeoutMs?: number;
    /** the body reaches the handler as a stream (uploads), not parsed: the handler reads and checks it */
    streamedBody?: boolean;
  }
}

export default fp(async function requestBodies(app: FastifyInstance) {
  const defaultTimeoutMs = app.config.REQUEST_BODY_TIMEOUT_MS;
  app.addHook('preParsing', async (req, reply, payload) => {
    const hasBody = req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0;
    if (!hasBody) return payload;
    // (a route that takes large uploads says how long they may take: its config.bodyTimeoutMs)
    const timeoutMs = req.routeOptions.config.bodyTimeoutMs ?? defaultTimeoutMs;
    const guarded = new PassThrough();
    // Fastify listens for errors while it reads the body; once it has answered (413, 404, ...) it
    // stops, and an error emitted then must not be an uncaught exception
    guarded.on('error', () => undefined);
    const timer = setTimeout(() => {
      payload.unpipe(guarded);
      guarded.destroy(new HttpError(408, `the request body did not arrive within ${timeoutMs} ms`));
    }, timeoutMs);
    const stop = () => clearTimeout(timer);
    payload.once('end', stop);
    payload.once('close', stop);
    reply.raw.once('close', stop);
    payload.once('error', (err) => {
      stop();
      guarded.destroy(err);
    });
    payload.pipe(guarded);
    return guarded;
  });

  // Not with a Connection: close header: Node would then destroy the socket as soon as the answer is
  // written, and with unread data in the socket the client gets a reset instead of the answer (its
  // kernel drops what it had not read yet). Fastify adds that header to every answer to a body it
  // could not parse (413, 400): it goes, and the close below takes its place.
  app.addHook('onSend', async (req, reply, payload) => {
    if (!req.raw.complete && String(reply.getHeader('connection')).toLowerCase() === 'close') reply.removeHeader('connection');
    return payload;
  });
  app.addHook('onResponse', async (req) => {
    const socket = req.raw.socket;
    if (req.raw.complete || !socket || socket.destroyed) return;
    req.raw.unpipe();
    req.raw.resume();
    socket.end();
    setTimeout(() => socket.destroy(), LINGER_MS).unref();
  });
});
