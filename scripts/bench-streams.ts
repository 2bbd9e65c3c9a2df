/**
 * Live streams at scale (loopback only, bounded): opens `streams` event
 * streams on one queued job (device gpu: it waits while no GPU worker runs),
 * then measures
 *   - how long the streams took to open and get their first event,
 *   - GET /healthz latency (p50/p99/max, one probe every 20 ms) for `seconds`
 *     with no stream open, then with all of them open,
 *   - the fan-out: from the job's cancel to its `end` event at each stream
 *     (p50/p99/max), the one change reaching every client.
 * Prints one JSON line.
 *   CPC_API_KEY=... node --import tsx scripts/bench-streams.ts [url] [streams] [seconds]
 * The API's per-key stream cap (EVENT_STREAMS_PER_KEY, default 8) and its per-address connection
 * cap (MAX_CONNECTIONS_PER_CLIENT, 64) must allow `streams`: start it with both raised.
 */
import { request } from 'node:http';

const [url = 'http://127.0.0.1:3000', streams = '200', seconds = '10'] = process.argv.slice(2);
if (!/^http:\/\/(127\.\d+\.\d+\.\d+|localhost|\[::1\])(:\d+)?$/.test(url)) throw new Error('loopback targets only');
const auth: Record<string, string> = process.env.CPC_API_KEY ? { authorization: `Bearer ${process.env.CPC_API_KEY}` } : {};

async function call(method: string, path: string, body?: unknown) {
  const res = await fetch(url + path, {
    method,
    headers: { ...auth, ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const json = (await res.json()) as Record<string, unknown>;
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(json)}`);
  return json;
}

const at = (xs: number[], p: number) =>
  +[...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))].toFixed(1);
const summary = (xs: number[]) => ({ p50: at(xs, 50), p99: at(xs, 99), max: at(xs, 100) });

async function healthz(ms: number): Promise<number[]> {
  const latencies: number[] = [];
  const until = performance.now() + ms;
  while (performance.now() < until) {
    const t0 = performance.now();
    await (await fetch(`${url}/healthz`)).arrayBuffer();
    latencies.push(performance.now() - t0);
    await new Promise((r) => setTimeout(r, Math.max(0, 20 - (performance.now() - t0))));
  }
  return latencies;
}

/** one stream on its own connection: resolves at its first event; `ended` at its `end` event (the time it came) */
function open(path: string): Promise<{ ended: Promise<number> }> {
  return new Promise((resolve, reject) => {
    const req = request(url + path, { agent: false, headers: auth }, (res) => {
      if (res.statusCode !== 200) return reject(new Error(`${path}: ${res.statusCode}`));
      let text = '';
      let first = true;
      let endAt: (t: number) => void = () => undefined;
      const ended = new Promise<number>((r) => (endAt = r));
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        text += chunk;
        if (first && text.includes('\n\n')) {
          first = false;
          resolve({ ended });
        }
        if (text.includes('event: end')) endAt(performance.now());
      });
    });
    req.on('error', reject);
    req.end();
  });
}

const job = await call('POST', '/v1/jobs', {
  kind: 'cpc',
  device: 'gpu',
  config: { imageSize: 28, color: 'grey', greySteps: 0, epochs: 1, stepsPerEpoch: 4 },
});
const quiet = await healthz(Number(seconds) * 1000);
const t0 = performance.now();
const opened = await Promise.all(Array.from({ length: Number(streams) }, () => open(`/v1/jobs/${job.id}/events`)));
const openMs = performance.now() - t0;
const busy = await healthz(Number(seconds) * 1000);
const cancelledAt = performance.now();
await call('POST', `/v1/jobs/${job.id}/cancel`);
const fanOut = (await Promise.all(opened.map((s) => s.ended))).map((t) => t - cancelledAt);
console.log(
  JSON.stringify({
    streams: Number(streams),
    openAllMs: +openMs.toFixed(0),
    healthzMsNoStreams: summary(quiet),
    healthzMsWithStreams: summary(busy),
    cancelToEndMs: summary(fanOut),
  }),
);
