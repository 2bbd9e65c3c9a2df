/** The scripts' HTTP client of the service: JSON in and out, the key from CPC_API_KEY, errors with the service's message. */
export const authHeaders = (): Record<string, string> =>
  process.env.CPC_API_KEY ? { authorization: `Bearer ${process.env.CPC_API_KEY}` } : {};

export function apiClient(base: string) {
  const auth = authHeaders();
  return async function call(method: string, path: string, body?: unknown): Promise<any> {
    const res = await fetch(base + path, {
      method,
      headers: { ...auth, ...(body ? { 'content-type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    const json = await res.json();
    if (res.status >= 400) throw new Error(`${method} ${path}: ${res.status} ${json.message}`);
    return json;
  };
}
