/**
 * A Server-Sent Events answer: the per-client and overall caps on open
 * streams (one InFlightLimit for every stream route of the process), the
 * headers, keep-alive comments through idle proxies, and clean-up once, however
 * the stream ends (the job ended, the client left, the server closes).
 */
import fp from 'fastify-plugin';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { HttpError } from './plugins/errors.js';
import { InFlightLimit, clientOf } from './in-flight.js';

export interface EventStream {
  /** an event; `id` is what a reconnecting client sends back as Last-Event-ID */
  send(event: string, data: unknown, id?: string): void;
  /** ends the stream (once) */
  close(): void;
  readonly closed: boolean;
  /** runs when the stream ends, whoever ends it */
  onClose(f: () => void): void;
}

/** the most bytes a stream may have waiting for its client before it is closed */
export const MAX_BUFFERED_BYTES = 2 * 1024 * 1024;

export class EventStreams {
  private readonly limit: InFlightLimit;
  private readonly streams = new Set<EventStream>();

  constructor(
    perClient: number,
    overall: number,
    private readonly keepAliveMs: number,
  ) {
    this.limit = new InFlightLimit(perClient, overall);
  }

  /** Take a slot and answer 200 text/event-stream (429 when the caps are reached). */
  open(req: FastifyRequest, reply: FastifyReply): EventStream {
    // HEAD: the headers only (Node writes no body for it, so a stream would never answer), no slot taken
    if (req.method === 'HEAD') {
      reply.hijack();
      reply.raw.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', 'x-request-id': req.id });
      reply.raw.end();
      return { send: () => undefined, close: () => undefined, closed: true, onClose: (f) => f() };
    }
    const release = this.limit.enter(clientOf(req));
    if (!release)
      throw new HttpError(
        429,
        `too many open event streams (at most ${this.limit.perClient} per API key and ${this.limit.overall} in all); close one first`,
        undefined,
        { code: 'too_many_streams' },
      );
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, {
      'content-type': 'text/event-stream',
      'cache-control': 'no-cache',
      connection: 'keep-alive',
      'x-request-id': req.id,
    });
    // (the headers now, not with the first event: a job's log may stay quiet for a long time)
    res.flushHeaders();
    const cleanups: Array<() => void> = [];
    let closed = false;
    // a comment now and then keeps a quiet stream (a long epoch) open through proxies that close idle connections
    const keepAlive = setInterval(() => res.write(': keep-alive\n\n'), this.keepAliveMs);
    const stream: EventStream = {
      send: (event, data, id) => {
        if (closed) return;
        res.write(`${id !== undefined ? `id: ${id}\n` : ''}event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
        // a client that does not read (or reads far slower than its job writes) is let go rather than
        // buffered for: it reconnects with Last-Event-ID and resumes where it stopped reading
        // (destroyed, not ended: ending would wait for the buffered bytes to go)
        if (res.writableLength > MAX_BUFFERED_BYTES) {
          stream.close();
          res.destroy();
        }
      },
      close: () => {
        if (closed) return;
        closed = true;
        this.streams.delete(stream);
        release();
        clearInterval(keepAlive);
        for (const f of cleanups.splice(0)) f();
        res.end();
      },
      get closed() {
        return closed;
      },
      onClose: (f) => (closed ? f() : cleanups.push(f)),
    };
    // (the response's close fires when the connection goes; a client that left while the route was
    // looking things up is gone already, so its slot and timers are given back at once)
    this.streams.add(stream);
    res.on('close', stream.close);
    if (res.destroyed || req.raw.socket?.destroyed) stream.close();
    return stream;
  }

  /** streams open now */
  get count(): number {
    return this.streams.size;
  }

  /** end every open stream (the server is closing: its clients reconnect, to another process if need be) */
  closeAll(): void {
    for (const stream of [...this.streams]) stream.close();
  }
}

/** the id a reconnecting client last saw (Last-Event-ID), when it is one of ours: a non-negative integer */
export function lastEventId(req: FastifyRequest): bigint | null {
  const header = req.headers['last-event-id'];
  return typeof header === 'string' && /^[0-9]{1,18}$/.test(header) ? BigInt(header) : null;
}

declare module 'fastify' {
  interface FastifyInstance {
    eventStreams: EventStreams;
  }
}

/** one EventStreams per API process (EVENT_STREAMS_PER_KEY, EVENT_STREAMS_MAX, EVENT_STREAM_KEEPALIVE_MS) */
export const eventStreams = fp(async function eventStreams(app: FastifyInstance) {
  const { EVENT_STREAMS_PER_KEY, EVENT_STREAMS_MAX, EVENT_STREAM_KEEPALIVE_MS } = app.config;
  const streams = new EventStreams(EVENT_STREAMS_PER_KEY, EVENT_STREAMS_MAX, EVENT_STREAM_KEEPALIVE_MS);
  app.decorate('eventStreams', streams);
  // (before the server waits for its connections to end: an open stream would hold it to the grace period)
  app.addHook('preClose', async () => streams.closeAll());
});
