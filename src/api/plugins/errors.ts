/**
 * Every error leaves as {error, message, details?, requestId}, whoever raised
 * it: our handlers, Fastify (validation, body limits, bad URLs), the HTTP
 * parser (timeouts, oversized headers), Prisma (a name taken, a row gone).
 * 5xx messages are never leaked; the cause goes to the log.
 */
import fp from 'fastify-plugin';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { STATUS_CODES, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { randomUUID } from 'node:crypto';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { Conflict, isDatabaseBusy, isDatabaseUnavailable, isInvalidValue, NotFound, Unprocessable } from '../../store/errors.js';
import { ConfigError } from '../../cpc/config.js';
import { isRedisUnavailable, QueueUnavailable } from '../../queue/producer.js';
import { ChecksumMismatch } from '../../artifacts/store.js';
import { DatasetError } from '../../cpc/dataset.js';
import { UploadTooLarge } from '../../datasets/archive.js';
import { IngestBusy } from '../ingest/pool.js';

/**
 * The error body's `code` for each status, unless the error names a more precise one: a client
 * branches on `code` (stable), and shows `message` (for people, may change).
 */
export const CODE_OF_STATUS: Readonly<Record<number, string>> = {
  400: 'bad_request',
  401: 'unauthenticated',
  403: 'forbidden',
  404: 'not_found',
  405: 'method_not_allowed',
  408: 'request_timeout',
  409: 'conflict',
  413: 'payload_too_large',
  414: 'uri_too_long',
  415: 'unsupported_media_type',
  417: 'expectation_failed',
  422: 'unprocessable',
  429: 'too_many_requests',
  431: 'headers_too_large',
  500: 'internal',
  503: 'unavailable',
};

export const codeOfStatus = (status: number) => CODE_OF_STATUS[status] ?? (status >= 500 ? 'internal' : 'bad_request');

export class HttpError extends Error {
  readonly code: string;

  constructor(
    readonly statusCode: number,
    message: string,
    readonly details?: unknown,
    options: {
      /** seconds a client should wait before trying again (sent as Retry-After) */
      retryAfter?: number;
      /** the machine-readable code (default: the status's, CODE_OF_STATUS) */
      code?: string;
    } = {},
  ) {
    super(message);
    this.code = options.code ?? codeOfStatus(statusCode);
    this.retryAfter = options.retryAfter;
  }

  readonly retryAfter?: number;
}

/**
 * What our layers and libraries raise, as HTTP errors: the one place the API maps the store's
 * errors (store/errors.ts), the engine's config errors, and a database or queue that is away.
 */
function asHttpError(err: unknown): HttpError | null {
  if (err instanceof HttpError) return err;
  if (err instanceof NotFound) return new HttpError(404, err.message, undefined, { code: err.code });
  if (err instanceof Conflict) return new HttpError(409, err.message, err.details, { code: err.code });
  if (err instanceof Unprocessable) return new HttpError(422, err.message, undefined, { code: err.code });
  if (err instanceof ConfigError) return new HttpError(400, err.message, undefined, { code: 'invalid_config' });
  if (err instanceof DatasetError) return new HttpError(400, err.message, undefined, { code: 'invalid_dataset' });
  if (err instanceof UploadTooLarge) return new HttpError(413, err.message);
  if (err instanceof IngestBusy) return new HttpError(503, err.message, undefined, { code: 'ingest_busy' });
  if (err instanceof QueueUnavailable) return new HttpError(503, err.message, err.details, { code: 'queue_unavailable' });
  if (isRedisUnavailable(err))
    return new HttpError(503, 'the job queue (Redis) is unavailable; try again shortly', undefined, { code: 'queue_unavailable' });
  if (isDatabaseBusy(err as Error))
    return new HttpError(503, 'the database (PostgreSQL) is busy: no connection was free in time; try again shortly', undefined, {
      retryAfter: 1,
      code: 'database_busy',
    });
  if (isDatabaseUnavailable(err as Error))
    return new HttpError(503, 'the database (PostgreSQL) is unavailable; try again shortly', undefined, { code: 'database_unavailable' });
  if (isInvalidValue(err)) return new HttpError(400, 'a value in the request is not valid for the database');
  // a stored file that does not match its checksum is our fault, and worth saying plainly
  if (err instanceof ChecksumMismatch) return new HttpError(500, err.message, undefined, { code: 'checksum_mismatch' });
  return null;
}

export function errorBody(status: number, message: string, requestId: string, details?: unknown, code = codeOfStatus(status)) {
  return { error: STATUS_CODES[status] ?? 'Error', code, message, ...(details !== undefined ? { details } : {}), requestId };
}

export function sendNotFound(request: FastifyRequest, reply: FastifyReply) {
  return reply
    .status(404)
    .send(errorBody(404, `no route ${request.method} ${request.url.slice(0, 200)}`, request.id, undefined, 'route_not_found'));
}

/**
 * Errors the HTTP parser raises before there is a request (Fastify's
 * clientErrorHandler): a request that took too long to arrive (408), headers
 * too large (431), anything malformed (400). Written straight to the socket.
 */
export function clientErrorHandler(err: Error & { code?: string }, socket: Socket): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  const status = err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : err.code === 'HPE_HEADER_OVERFLOW' ? 431 : 400;
  const message =
    status === 408
      ? 'the request did not arrive in time'
      : status === 431
        ? 'the request headers are too large'
        : `malformed HTTP request${err.code ? ` (${err.code})` : ''}`;
  answerOnSocket(socket, status, message);
  socket.destroy(err);
}

/**
 * CONNECT (a proxy tunnel) never reaches Fastify: Node hands it to the
 * server's 'connect' listeners and, with none, drops the connection without
 * a word. This answers 405 in the usual body and closes.
 */
export function refuseTunnels(server: Server): void {
  server.on('connect', (_req: IncomingMessage, socket: Duplex) => {
    answerOnSocket(socket, 405, 'the CONNECT method is not supported (this is not a proxy)');
    socket.destroy();
  });
}

/** An `Expect` other than 100-continue: Node answers 417 itself, with an empty body; this gives it the usual one. */
export function answerExpectations(server: Server): void {
  server.on('checkExpectation', (req: IncomingMessage, res: ServerResponse) => {
    const body = JSON.stringify(
      errorBody(417, `Expect: ${String(req.headers.expect).slice(0, 40)} is not supported (only 100-continue)`, randomUUID()),
    );
    res.writeHead(417, {
      'content-type': 'application/json; charset=utf-8',
      'content-length': Buffer.byteLength(body),
      connection: 'close',
    });
    res.end(body);
  });
}

function answerOnSocket(socket: Duplex, status: number, message: string): void {
  if (!socket.writable) return;
  const body = JSON.stringify(errorBody(status, message, randomUUID()));
  socket.write(
    `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Length: ${Buffer.byteLength(body)}\r\nContent-Type: application/json; charset=utf-8\r\nConnection: close\r\n\r\n${body}`,
  );
}

/** Fastify's own errors that deserve a code of their own (the rest take their status's) */
function fastifyCode(code: string | undefined): string | undefined {
  return code === 'FST_ERR_CTP_INVALID_JSON_BODY' || code === 'FST_ERR_CTP_EMPTY_JSON_BODY' ? 'invalid_json' : undefined;
}

/** Node's error when the client goes away in the middle of its request body (not a database reset). */
function isClientAbort(err: { code?: string; message?: string }): boolean {
  return err.code === 'ECONNRESET' && err.message === 'aborted';
}

/** Fastify's framework errors (a URL that does not decode, a path parameter over maxParamLength): same body as every other error. */
export function frameworkErrors(err: FastifyError, request: FastifyRequest, reply: FastifyReply) {
  const status = err.statusCode && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 400;
  const message =
    err.code === 'FST_ERR_BAD_URL'
      ? 'the URL is not valid (a percent-escape does not decode)'
      : err.code === 'FST_ERR_MAX_PARAM_LENGTH'
        ? 'a path segment is too long'
        : err.message;
  void reply.status(status).send(errorBody(status, message, request.id));
}

export default fp(async function errors(app: FastifyInstance) {
  app.setErrorHandler((raw: FastifyError & { details?: unknown }, request, reply) => {
    if (isClientAbort(raw)) {
      // nobody is left to read the answer; not the database's fault either
      request.log.info('the client closed the connection before its request had arrived');
      return reply.status(400).send(errorBody(400, 'the request was aborted by the client', request.id));
    }
    const mapped = asHttpError(raw);
    if (mapped?.statusCode === 503) request.log.warn({ err: raw.message }, 'dependency unavailable');
    const err = (mapped ?? raw) as FastifyError & { details?: unknown };
    let status = err.statusCode ?? 500;
    let details = err.details;
    let code = err instanceof HttpError ? err.code : fastifyCode(err.code);
    if (err.validation) {
      status = 400;
      code = 'validation_failed';
      details = err.validation.map((v) => ({ path: v.instancePath || '/', message: v.message, params: v.params }));
    }
    if (status >= 500 && !(err instanceof HttpError)) request.log.error({ err }, 'request failed');
    if (err instanceof HttpError && err.retryAfter !== undefined) void reply.header('retry-after', String(err.retryAfter));
    // our own errors and Fastify's (timeouts, limits) say what happened; anything else might leak internals
    const message = status >= 500 && !(err instanceof HttpError) && !err.code?.startsWith('FST_') ? 'internal error' : err.message;
    reply.status(status).send(errorBody(status, message, request.id, details, code ?? codeOfStatus(status)));
  });
});
