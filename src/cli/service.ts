/**
 * The service, as the CLI's service commands reach it: `--url` (env CPC_URL, default
 * http://127.0.0.1:3000) and the key from CPC_API_KEY. An error answer becomes ServiceError
 * with the service's own message (the CLI prints it on one line and exits 1).
 */
import { Option } from 'commander';
import { createParser } from 'eventsource-parser';

export interface ServiceFlags {
  url: string;
  json?: boolean;
}

export class ServiceError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'ServiceError';
  }
}

export const urlOption = () => new Option('--url <url>', 'the service').env('CPC_URL').default('http://127.0.0.1:3000');

export interface ServiceClient {
  url: string;
  headers: Record<string, string>;
  get<T = unknown>(path: string): Promise<T>;
  /** a text answer (plain text, JSON lines) as it came */
  text(path: string): Promise<string>;
  send<T = unknown>(method: 'POST' | 'PUT' | 'DELETE', path: string, body?: unknown, headers?: Record<string, string>): Promise<T>;
  /** POST a multipart form (streamed from the files it holds) */
  upload<T = unknown>(path: string, form: FormData): Promise<T>;
  /** Server-Sent Events of `path`, until the stream ends (or `onEvent` returns true) */
  events(path: string, onEvent: (event: string, data: unknown) => boolean | void): Promise<void>;
}

async function answer(res: Response): Promise<unknown> {
  const text = await res.text();
  let body: { message?: string } | null = null;
  try {
    body = text ? (JSON.parse(text) as { message?: string }) : null;
  } catch {
    // not JSON: said below as text
  }
  if (!res.ok) throw new ServiceError(res.status, `${res.status} ${res.statusText}: ${body?.message ?? text.slice(0, 200)}`);
  return body;
}

/** fetch, with a refused connection said in words */
async function reach(url: string, init: RequestInit): Promise<Response> {
  try {
    return await fetch(url, init);
  } catch (err) {
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    throw new ServiceError(
      0,
      `cannot reach the service at ${new URL(url).origin} (${cause?.code ?? cause?.message ?? (err as Error).message}); is it running? (--url or CPC_URL)`,
    );
  }
}

export function serviceClient(flags: Pick<ServiceFlags, 'url'>): ServiceClient {
  const url = flags.url.replace(/\/+$/, '');
  const key = process.env.CPC_API_KEY;
  const headers: Record<string, string> = key ? { authorization: `Bearer ${key}` } : {};
  return {
    url,
    headers,
    get: async <T>(path: string) => (await answer(await reach(url + path, { headers }))) as T,
    async text(path) {
      const res = await reach(url + path, { headers });
      if (!res.ok) await answer(res);
      return res.text();
    },
    send: async <T>(method: 'POST' | 'PUT' | 'DELETE', path: string, body?: unknown, extra: Record<string, string> = {}) =>
      (await answer(
        await reach(url + path, {
          method,
          headers: { ...headers, ...extra, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
          body: body === undefined ? undefined : JSON.stringify(body),
        }),
      )) as T,
    upload: async <T>(path: string, form: FormData) =>
      (await answer(await reach(url + path, { method: 'POST', body: form, headers }))) as T,
    async events(path, onEvent) {
      const controller = new AbortController();
      const res = await reach(url + path, { headers: { ...headers, accept: 'text/event-stream' }, signal: controller.signal });
      if (!res.ok || !res.body) await answer(res);
      let done = false;
      const parser = createParser({
        onEvent: (e) => {
          if (done) return;
          let data: unknown = e.data;
          try {
            data = JSON.parse(e.data);
          } catch {
            // a plain text event
          }
          if (onEvent(e.event ?? 'message', data) === true) {
            done = true;
            controller.abort();
          }
        },
      });
      const decoder = new TextDecoder();
      try {
        for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
          parser.feed(decoder.decode(chunk, { stream: true }));
          if (done) break;
        }
      } catch (err) {
        if (!done) throw err;
      }
    },
  };
}

/** a value for a person: numbers rounded, objects as compact JSON */
export const show = (v: unknown) => (typeof v === 'number' ? String(+v.toFixed(4)) : typeof v === 'string' ? v : JSON.stringify(v));

/** print `value` as one JSON line with --json, else as the lines `describe` makes */
export function output<T>(flags: { json?: boolean }, value: T, describe: (v: T) => string): void {
  process.stdout.write((flags.json ? JSON.stringify(value) : describe(value)) + '\n');
}
