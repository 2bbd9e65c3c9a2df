/**
 * The path of a request target. HTTP/1.1 allows the absolute form
 * (`GET http://host/v1/jobs`), which Fastify routes like `/v1/jobs`: every
 * check on a path must see it the same way (the rate limit once did not).
 */
export function requestPath(url: string): string {
  if (url.startsWith('/')) return url;
  try {
    return new URL(url).pathname;
  } catch {
    return url;
  }
}
