/**
 * The service as the dashboard reaches it: same origin, the API key from this
 * browser tab's session storage (entered once; gone when the tab closes), sent
 * as a Bearer header. Event streams are read with fetch (EventSource cannot
 * send a header, and a key in a URL ends up in logs).
 */
import { createParser } from 'eventsource-parser';

const KEY = 'cpc-api-key';

export const apiKey = {
  get: (): string => sessionStorage.getItem(KEY) ?? '',
  set: (key: string): void => (key ? sessionStorage.setItem(KEY, key.trim()) : sessionStorage.removeItem(KEY)),
};

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    /** the error body's machine-readable code */
    readonly code?: string,
  ) {
    super(message);
  }
}

function headers(extra: Record<string, string> = {}): Record<string, string> {
  const key = apiKey.get();
  return { ...(key ? { authorization: `Bearer ${key}` } : {}), ...extra };
}

async function answer<T>(res: Response): Promise<T> {
  const text = await res.text();
  let body: unknown = null;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    // not JSON: the message below says what came back
  }
  if (!res.ok) {
    const error = body as { message?: string; code?: string } | null;
    throw new ApiError(res.status, error?.message ?? `${res.status} ${res.statusText}`, error?.code);
  }
  return body as T;
}

export async function get<T>(path: string): Promise<T> {
  return answer<T>(await fetch(path, { headers: headers() }));
}

/** a text answer (plain text, JSON lines) */
export async function text(path: string): Promise<string> {
  const res = await fetch(path, { headers: headers() });
  if (!res.ok) await answer(res);
  return res.text();
}

export async function send<T>(method: 'POST' | 'PUT' | 'DELETE', path: string, body?: unknown): Promise<T> {
  const init: RequestInit = { method, headers: headers(body === undefined ? {} : { 'content-type': 'application/json' }) };
  if (body !== undefined) init.body = JSON.stringify(body);
  return answer<T>(await fetch(path, init));
}

/** an image the API serves behind the key, as an object URL for an <img> (the caller revokes it) */
export async function imageUrl(path: string): Promise<string> {
  const res = await fetch(path, { headers: headers() });
  if (!res.ok) await answer(res);
  return URL.createObjectURL(await res.blob());
}

/**
 * Follow `path`'s Server-Sent Events until the stream ends or `signal` aborts; resumes after a
 * dropped connection (a second later) while the page still wants it.
 */
export async function follow(path: string, onEvent: (event: string, data: unknown) => void, signal: AbortSignal): Promise<void> {
  // (a reconnection resumes after the last event id seen instead of replaying the stream)
  let lastId: string | undefined;
  while (!signal.aborted) {
    let ended = false;
    try {
      const resume: Record<string, string> = lastId !== undefined ? { 'last-event-id': lastId } : {};
      const res = await fetch(path, { headers: headers({ accept: 'text/event-stream', ...resume }), signal });
      if (!res.ok || !res.body) return void (await answer(res));
      const parser = createParser({
        onEvent: (e) => {
          if (e.id !== undefined) lastId = e.id;
          if (e.event === 'end') ended = true;
          onEvent(e.event ?? 'message', JSON.parse(e.data));
        },
      });
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        parser.feed(value);
      }
      if (ended) return;
    } catch (err) {
      if (signal.aborted || err instanceof ApiError) throw err;
    }
    await new Promise((r) => setTimeout(r, 1000));
  }
}
