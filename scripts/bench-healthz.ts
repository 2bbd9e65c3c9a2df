/**
 * Event-loop health under prediction load (loopback only, bounded): while
 * `connections` clients send predictions back to back (each `images` 28x28
 * grey images, JSON; the next as soon as the last is answered), a probe asks
 * GET /healthz every 20 ms. Prints one JSON line: /healthz latency
 * (p50/p99/max) and the predictions served.
 *   CPC_API_KEY=... node --import tsx scripts/bench-healthz.ts [url] [model] [seconds] [connections] [images]
 * Stay within PREDICT_CONCURRENCY_PER_KEY connections per key (default 4),
 * or the extra requests are 429s (counted as non2xx).
 */
import { loadDataset } from '../src/cpc/load-dataset.js';
import { digitPixels } from '../src/cpc/images.js';

const [url = 'http://127.0.0.1:3000', model = 'quickstart-digits', seconds = '30', connections = '4', images = '256'] =
  process.argv.slice(2);
if (!/^http:\/\/(127\.\d+\.\d+\.\d+|localhost|\[::1\])(:\d+)?$/.test(url)) throw new Error('loopback targets only');
const test = loadDataset().splits.test;
const instances = Array.from({ length: Number(images) }, (_, i) =>
  Array.from({ length: 28 }, (_, y) => Array.from(digitPixels(test, i).subarray(y * 28, y * 28 + 28))),
);
const body = JSON.stringify({ instances });
const headers = {
  'content-type': 'application/json',
  ...(process.env.CPC_API_KEY ? { authorization: `Bearer ${process.env.CPC_API_KEY}` } : {}),
};
const warm = await fetch(`${url}/v1/models/${model}/predict`, { method: 'POST', headers, body });
if (warm.status !== 200) throw new Error(`predict answered ${warm.status}: ${await warm.text()}`);

const latencies: number[] = [];
const at = (xs: number[], p: number) => +xs[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))].toFixed(1);
let probing = true;
const probe = (async () => {
  while (probing) {
    const t0 = performance.now();
    const res = await fetch(`${url}/healthz`);
    await res.arrayBuffer();
    latencies.push(performance.now() - t0);
    await new Promise((r) => setTimeout(r, Math.max(0, 20 - (performance.now() - t0))));
  }
})();
// closed-loop clients: each sends its next prediction when the last is answered (no client timeout,
// so no request is abandoned while the server still works on it)
const predictMs: number[] = [];
const statuses: Record<number, number> = {};
const until = performance.now() + Number(seconds) * 1000;
await Promise.all(
  Array.from({ length: Number(connections) }, async () => {
    while (performance.now() < until) {
      const t0 = performance.now();
      const res = await fetch(`${url}/v1/models/${model}/predict`, { method: 'POST', headers, body });
      await res.arrayBuffer();
      predictMs.push(performance.now() - t0);
      statuses[res.status] = (statuses[res.status] ?? 0) + 1;
    }
  }),
);
probing = false;
await probe;
predictMs.sort((a, b) => a - b);
const ok = statuses[200] ?? 0;
latencies.sort((a, b) => a - b);
console.log(
  JSON.stringify({
    date: new Date().toISOString(),
    load: `POST /v1/models/${model}/predict, ${images} images per request, ${connections} connections back to back, ${seconds} s`,
    predict: {
      statuses,
      perSecond: +(ok / Number(seconds)).toFixed(2),
      imagesPerSecond: Math.round((ok * Number(images)) / Number(seconds)),
      p50ms: Math.round(predictMs[Math.floor(predictMs.length / 2)]),
      maxms: Math.round(predictMs.at(-1)!),
    },
    healthz: { probes: latencies.length, p50ms: at(latencies, 50), p99ms: at(latencies, 99), maxms: +latencies.at(-1)!.toFixed(1) },
  }),
);
