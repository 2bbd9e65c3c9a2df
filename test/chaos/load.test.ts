/**
 * Bounded loopback load (`npm run test:chaos`): the API runs as its own
 * process pinned to core 0, the load comes from this process pinned to core 1.
 *  1. 1000 concurrent submissions mixing repeated and conflicting
 *     Idempotency-Keys: each key gets at most one job; every answer is 202,
 *     409 (in flight), 422 (conflict), 429 or 503; Postgres and Redis agree.
 *  2. Predictions at LOAD_RATE req/s for LOAD_SECONDS: p50/p99 recorded, the
 *     API's tensor count flat and its RSS bounded (read from /metrics every 5 s).
 * Prints a JSON report.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import autocannon from 'autocannon';
import { Queue } from 'bullmq';
import { freePort, startHarness, waitFor, type Harness } from '../service/harness.js';
import { stopFirstWorker, tinyConfig, trainDigitsModel } from '../service/fixtures.js';
import { queueName, redisConnection } from '../../src/queue/queues.js';
import { loadDataset } from '../../src/cpc/load-dataset.js';
import { digitPixels } from '../../src/cpc/images.js';

const SUBMISSIONS = 1000;
const RATE = Number(process.env.LOAD_RATE ?? 100);
const SECONDS = Number(process.env.LOAD_SECONDS ?? 60);
const root = join(import.meta.dirname, '..', '..');

let h: Harness;
let apiProcess: ChildProcess;
let url = '';
const report: Record<string, unknown> = { date: new Date().toISOString() };

beforeAll(async () => {
  h = await startHarness();
  await trainDigitsModel(h);
  // submissions only queue from here on
  await stopFirstWorker(h);
  const port = await freePort();
  apiProcess = spawn('taskset', ['-c', '0', process.execPath, '--import', 'tsx', join(root, 'src', 'server.ts')], {
    // all the load comes from one address here (in production, from many clients): no per-client connection cap
    env: { ...h.env, PORT: String(port), LOG_LEVEL: 'warn', MAX_CONNECTIONS_PER_CLIENT: '0' },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  url = `http://127.0.0.1:${port}`;
  await waitFor('the pinned API', async () => (await fetch(`${url}/readyz`).catch(() => null))?.status === 200, 60_000);
  execFileSync('taskset', ['-p', '-c', '1', String(process.pid)]);
}, 240_000);

afterAll(async () => {
  apiProcess?.kill('SIGTERM');
  await h?.stop();
  console.log(`load report: ${JSON.stringify(report)}`);
  if (process.env.LOAD_REPORT) writeFileSync(process.env.LOAD_REPORT, JSON.stringify(report, null, 1) + '\n');
});

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];

async function scrape(): Promise<{ tensors: number; rss: number }> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const value = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1]);
  return { tensors: value('cpc_tensors'), rss: value('cpc_api_process_resident_memory_bytes') };
}

describe('load', () => {
  it(`${SUBMISSIONS} concurrent submissions with repeated and conflicting Idempotency-Keys: one job per key, Postgres and Redis agree`, async () => {
    const auth = { authorization: `Bearer ${h.adminKey}`, 'content-type': 'application/json' };
    // 300 keys sent twice with the same body, 100 keys sent twice with different bodies, 200 without a key
    const requests: Array<{ key?: string; body: object }> = [];
    for (let i = 0; i < 300; i++)
      for (let r = 0; r < 2; r++) requests.push({ key: `same-${i}`, body: { kind: 'cpc', config: tinyConfig({ seed: i }) } });
    for (let i = 0; i < 100; i++)
      for (let r = 0; r < 2; r++)
        requests.push({ key: `conflict-${i}`, body: { kind: 'cpc', priority: r === 0 ? 10 : 90, config: tinyConfig({ seed: 5000 + i }) } });
    for (let i = 0; i < 200; i++) requests.push({ body: { kind: 'cpc', config: tinyConfig({ seed: 9000 + i }) } });
    expect(requests.length).toBe(SUBMISSIONS);
    const started = performance.now();
    const answers = await Promise.all(
      requests.map(async (r) => {
        const t0 = performance.now();
        const res = await fetch(`${url}/v1/jobs`, {
          method: 'POST',
          headers: { ...auth, ...(r.key ? { 'idempotency-key': r.key } : {}) },
          body: JSON.stringify(r.body),
        });
        const json = (await res.json()) as { id?: string; message?: string; details?: { jobId?: string } };
        // a 503 that recorded the job (Redis did not take the enqueue; the reaper does it later) names it
        return { ...r, status: res.status, id: json.id ?? json.details?.jobId, message: json.message, ms: performance.now() - t0 };
      }),
    );
    const seconds = (performance.now() - started) / 1000;
    const histogram: Record<number, number> = {};
    for (const a of answers) histogram[a.status] = (histogram[a.status] ?? 0) + 1;
    const latencies = answers.map((a) => a.ms).sort((a, b) => a - b);
    Object.assign(report, {
      submissions: {
        count: SUBMISSIONS,
        seconds: +seconds.toFixed(2),
        perSecond: Math.round(SUBMISSIONS / seconds),
        statuses: histogram,
        // why the unavailable answers were unavailable (none is expected with Redis and Postgres up)
        unavailable: Object.fromEntries(
          [...new Set(answers.filter((a) => a.status === 503).map((a) => a.message))].map((m) => [
            m,
            answers.filter((a) => a.message === m).length,
          ]),
        ),
        p50ms: Math.round(percentile(latencies, 50)),
        p99ms: Math.round(percentile(latencies, 99)),
      },
    });
    expect(
      Object.keys(histogram)
        .map(Number)
        .every((s) => [202, 409, 422, 429, 503].includes(s)),
    ).toBe(true);

    // each key: every 202 names the same job; a conflicting pair never yields two jobs
    const byKey = new Map<string, Set<string>>();
    for (const a of answers) if (a.key && a.status === 202) byKey.set(a.key, (byKey.get(a.key) ?? new Set()).add(a.id!));
    for (const [key, ids] of byKey) expect(ids.size, key).toBe(1);
    const db = h.app.db;
    const rows = await db.job.findMany({ where: { status: 'queued' }, select: { id: true, idempotencyKey: true } });
    const keyed = rows.filter((r) => r.idempotencyKey);
    expect(new Set(keyed.map((r) => r.idempotencyKey)).size).toBe(keyed.length);
    for (const [key, ids] of byKey) expect(keyed.find((r) => r.idempotencyKey === key)?.id).toBe([...ids][0]);
    // recorded: every 202, and the 503s that say so (a 503 from the database recorded nothing)
    const accepted = answers.filter((a) => a.status === 202 || (a.status === 503 && a.id));
    expect(rows.length).toBe(new Set(accepted.map((a) => a.key ?? a.id)).size);

    // Redis agrees: exactly the queued rows wait in BullMQ
    const connection = redisConnection(h.config.REDIS_URL);
    const queue = new Queue(queueName('cpc'), { connection, prefix: h.config.QUEUE_PREFIX });
    try {
      const waiting = await queue.getJobs(['waiting', 'prioritized'], 0, -1);
      expect(new Set(waiting.map((j) => j.id)).size).toBe(waiting.length);
      expect(waiting.map((j) => j.id).sort()).toEqual(rows.map((r) => r.id).sort());
    } finally {
      await queue.close();
      connection.disconnect();
    }
    // a second wave once the first has been answered: replays get the same job, changed bodies 422
    const replays = await Promise.all(
      [
        ...[...byKey.keys()].filter((k) => k.startsWith('same-')).slice(0, 100),
        ...[...byKey.keys()].filter((k) => k.startsWith('conflict-')),
      ].map(async (key) => {
        const original = requests.find((r) => r.key === key)!;
        const conflicting = key.startsWith('conflict-');
        const body = conflicting ? { ...original.body, priority: 50 } : original.body;
        const res = await fetch(`${url}/v1/jobs`, {
          method: 'POST',
          headers: { ...auth, 'idempotency-key': key },
          body: JSON.stringify(body),
        });
        return { key, conflicting, status: res.status, id: ((await res.json()) as { id?: string }).id };
      }),
    );
    for (const r of replays) {
      if (r.conflicting) expect(r.status, r.key).toBe(422);
      else expect([r.status, r.id], r.key).toEqual([202, [...byKey.get(r.key)!][0]]);
    }
    expect(await db.job.count({ where: { status: 'queued' } })).toBe(rows.length);
    report.submissions = {
      ...(report.submissions as object),
      jobsCreated: rows.length,
      postgresRedisAgree: true,
      replays: replays.length,
      conflictsRejected: replays.filter((r) => r.status === 422).length,
    };
  });

  it(`serves predictions at ${RATE} req/s for ${SECONDS} s with a flat tensor count and bounded RSS`, async () => {
    const test = loadDataset().splits.test;
    const grey = Array.from({ length: 28 }, (_, y) => Array.from(digitPixels(test, 0).subarray(y * 28, y * 28 + 28)));
    const body = JSON.stringify({ instances: [grey] });
    const headers = { authorization: `Bearer ${h.adminKey}`, 'content-type': 'application/json' };
    // warm the model cache, then measure
    for (let i = 0; i < 20; i++)
      expect((await fetch(`${url}/v1/models/digits/predict`, { method: 'POST', headers, body })).status).toBe(200);
    const before = await scrape();
    // the API's RSS every 5 s during the run: a leak keeps climbing, a heap finding its size levels off
    const samples: number[] = [];
    const sampler = setInterval(() => void scrape().then((s) => samples.push(Math.round(s.rss / 2 ** 20))), 5000);
    const result = await autocannon({
      url: `${url}/v1/models/digits/predict`,
      method: 'POST',
      headers,
      body,
      connections: 1,
      overallRate: RATE,
      duration: SECONDS,
    });
    clearInterval(sampler);
    const after = await scrape();
    report.predict = {
      rate: RATE,
      seconds: SECONDS,
      requests: result.requests.total,
      non2xx: result.non2xx,
      errors: result.errors,
      p50ms: result.latency.p50,
      p99ms: result.latency.p99,
      maxms: result.latency.max,
      tensorsBefore: before.tensors,
      tensorsAfter: after.tensors,
      rssBeforeMB: Math.round(before.rss / 2 ** 20),
      rssAfterMB: Math.round(after.rss / 2 ** 20),
      rssEvery5sMB: samples,
    };
    expect(result.non2xx).toBe(0);
    expect(result.errors).toBe(0);
    expect(result.requests.total).toBeGreaterThanOrEqual(RATE * SECONDS * 0.95);
    expect(after.tensors).toBe(before.tensors);
    // RSS is a sawtooth here (V8 lets the heaps grow, then a major GC gives memory back: 524 → 609 → 441 MB
    // in one run), so no single reading shows a leak; the bound is on the peak and catches a gross one
    // (≥ 40 KB a request). The tensor count above is the exact check for the models' memory.
    expect(Math.max(after.rss / 2 ** 20, ...samples) - before.rss / 2 ** 20).toBeLessThan(256);
  });
});
