/**
 * Predict-endpoint latency benchmark (loopback only, bounded): a fixed request
 * rate of single-image predictions against a running service for a fixed
 * time, with autocannon. Prints one JSON line with p50/p99 latency and throughput.
 *   CPC_API_KEY=... node --import tsx scripts/bench-predict.ts [url] [model] [rate] [seconds] [connections] [batch]
 * batch > 1: each request embeds that many images (POST .../embed) and the
 * line adds images/s; rate 0: each connection sends the next request as soon
 * as the last is answered.
 * autocannon paces each connection separately and starts them together, so
 * with C connections requests arrive in bursts of C: connections=1 gives
 * evenly spaced arrivals at the target rate, connections=10 a bursty load.
 */
import autocannon from 'autocannon';
import { loadDataset } from '../src/cpc/load-dataset.js';
import { digitPixels } from '../src/cpc/images.js';

const [url = 'http://127.0.0.1:3000', model = 'quickstart-digits', rate = '100', seconds = '30', connections = '1', batch = '1'] =
  process.argv.slice(2);
if (!/^http:\/\/(127\.\d+\.\d+\.\d+|localhost|\[::1\])(:\d+)?$/.test(url)) throw new Error('loopback targets only');
const test = loadDataset().splits.test;
const grey = Array.from({ length: 28 }, (_, y) => Array.from(digitPixels(test, 0).subarray(y * 28, y * 28 + 28)));
const images = Math.max(1, Number(batch));
const endpoint = `${url}/v1/models/${model}/${images > 1 ? 'embed' : 'predict'}`;
const body = JSON.stringify({ instances: Array.from({ length: images }, () => grey) });
const headers = {
  'content-type': 'application/json',
  ...(process.env.CPC_API_KEY ? { authorization: `Bearer ${process.env.CPC_API_KEY}` } : {}),
};
// warm the model cache first
await fetch(endpoint, { method: 'POST', headers, body });

const result = await autocannon({
  url: endpoint,
  method: 'POST',
  headers,
  body,
  connections: Number(connections),
  ...(Number(rate) > 0 ? { overallRate: Number(rate) } : {}),
  duration: Number(seconds),
});
console.log(
  JSON.stringify({
    endpoint:
      images > 1
        ? `POST /v1/models/:name/embed (${images} images, 28x28 grey JSON)`
        : 'POST /v1/models/:name/predict (1 image, 28x28 grey JSON)',
    targetRate: Number(rate),
    connections: Number(connections),
    seconds: Number(seconds),
    requests: result.requests.total,
    throughput: +result.requests.average.toFixed(1),
    ...(images > 1 ? { imagesPerSec: +((result.requests.total * images) / Number(seconds)).toFixed(1) } : {}),
    non2xx: result.non2xx,
    errors: result.errors,
    latencyMs: { p50: result.latency.p50, p90: result.latency.p90, p99: result.latency.p99, max: result.latency.max },
    date: new Date().toISOString(),
  }),
);
