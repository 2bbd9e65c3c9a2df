/**
 * Event-loop health under prediction load (loopback only, bounded): while
 * `connections` clients send predictions back to back (each `images` 28x28
 * grey images, JSON), a probe asks GET /healthz every 20 ms. Prints one JSON
 * line: /healthz latency (p50/p99/max) and the predictions served.
 *   CPC_API_KEY=... node --import tsx scripts/bench-healthz.ts [url] [model] [seconds] [connections] [images]
 * Stay within PREDICT_CONCURRENCY_PER_KEY connections per key (default 4),
 * or the extra requests are 429s (counted as non2xx).
 */
import autocannon from 'autocannon';
import { loadDigits } from '../src/cpc/mnist.js';
import { digitPixels } from '../src/cpc/images.js';

const [url = 'http://127.0.0.1:3000', model = 'quickstart-digits', seconds = '30', connections = '4', images = '256'] = process.argv.slice(2);
if (!/^http:\/\/(127\.\d+\.\d+\.\d+|localhost|\[::1\])(:\d+)?$/.test(url)) throw new Error('loopback targets only');
const test = loadDigits().splits.test;
const instances = Array.from({ length: Number(images) }, (_, i) => Array.from({ length: 28 }, (_, y) => Array.from(digitPixels(test, i).subarray(y * 28, y * 28 + 28))));
const body = JSON.stringify({ instances });
const headers = { 'content-type': 'application/json', ...(process.env.CPC_API_KEY ? { authorization: `Bearer ${process.env.CPC_API_KEY}` } : {}) };
const warm = await fetch(`${url}/v1/models/${model}/predict`, { method: 'POST', headers, body });
if (warm.status !== 200) throw new Error(`predict answered ${warm.status}: ${await warm.text()}`);

const latencies: number[] = [];
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
const result = await autocannon({ url: `${url}/v1/models/${model}/predict`, method: 'POST', headers, body, connections: Number(connections), duration: Number(seconds) });
probing = false;
await probe;
latencies.sort((a, b) => a - b);
const at = (p: number) => +latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))].toFixed(1);
console.log(
  JSON.stringify({
    date: new Date().toISOString(),
    load: `POST /v1/models/${model}/predict, ${images} images per request, ${connections} connections back to back, ${seconds} s`,
    predict: { requests: result.requests.total, perSecond: +result.requests.average.toFixed(1), imagesPerSecond: Math.round(result.requests.average * Number(images)), non2xx: result.non2xx, p50ms: result.latency.p50, p99ms: result.latency.p99 },
    healthz: { probes: latencies.length, p50ms: at(50), p99ms: at(99), maxms: +latencies.at(-1)!.toFixed(1) },
  }),
);
