/**
 * A worker's Prometheus metrics, scraped from the real worker process while
 * it trains: images per second and seconds per step from its jobs' progress,
 * attempts by outcome with their durations, and a sandboxed child killed under
 * its job counted as a crash (and the job still succeeds on its next attempt).
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { api, freePort, startHarness, waitFor, type Harness } from './harness.js';
import { tinyConfig } from './fixtures.js';
import { childrenOf } from './processes.js';

let h: Harness;
let port: number;

beforeAll(async () => {
  port = await freePort();
  h = await startHarness({ env: { WORKER_METRICS_PORT: String(port), JOB_LOCK_MS: '3000', HEARTBEAT_MS: '500' } });
}, 120_000);

afterAll(async () => {
  await h?.stop();
});

async function scrape(): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${port}/metrics`);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/text\/plain/);
  return res.text();
}

/** the value of one series (labels in any order), or null when it is not there */
function value(text: string, name: string, labels: Record<string, string> = {}): number | null {
  for (const line of text.split('\n')) {
    const m = /^([a-z_]+)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = Object.fromEntries([...(m[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]]));
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) return Number(m[3]);
  }
  return null;
}

describe('worker metrics', () => {
  it('show the training speed while a job runs, count a killed child as a crash, and the attempts by outcome', async () => {
    await waitFor('the worker’s metrics', () => scrape().catch(() => null), 60_000);
    const id = (await api(h, 'POST', '/v1/jobs', { kind: 'cpc', config: tinyConfig({ stepsPerEpoch: 60, checkpointEvery: 4 }) })).json.id;
    // while it runs: its throughput, and seconds per step from two progress reports
    const running = await waitFor(
      'images per second and a step time',
      async () => {
        const text = await scrape();
        const ips = value(text, 'cpc_worker_images_per_second', { kind: 'cpc' });
        const steps = value(text, 'cpc_worker_step_seconds_count', { kind: 'cpc' }) ?? 0;
        return (ips ?? 0) > 0 && steps > 0 ? text : null;
      },
      120_000,
    );
    expect(value(running, 'cpc_worker_jobs_running', { kind: 'cpc' })).toBe(1);
    expect(running).toMatch(/backend="wasm"/);
    expect(running).toMatch(/^cpc_worker_process_cpu_seconds_total/m);

    // its sandboxed child dies: a crash, and the job resumes on its next attempt
    const children = childrenOf(h.worker.pid!);
    expect(children.length).toBeGreaterThan(0);
    for (const pid of children) process.kill(pid, 'SIGKILL');
    const done = await waitFor('the job to succeed', async () => {
      const j = (await api(h, 'GET', `/v1/jobs/${id}`)).json;
      if (j.status === 'failed') throw new Error(`job failed: ${j.error}`);
      return j.status === 'succeeded' && j;
    });
    expect(done.attempts).toBe(2);
    const after = await waitFor('the attempts counted', async () => {
      const text = await scrape();
      return value(text, 'cpc_worker_attempts_total', { kind: 'cpc', outcome: 'succeeded' }) === 1 && text;
    });
    expect(value(after, 'cpc_worker_crashes_total', { kind: 'cpc' })).toBe(1);
    expect(value(after, 'cpc_worker_attempts_total', { kind: 'cpc', outcome: 'crashed' })).toBe(1);
    expect(value(after, 'cpc_worker_attempt_seconds_count', { kind: 'cpc', outcome: 'succeeded' })).toBe(1);
    expect(value(after, 'cpc_worker_jobs_running', { kind: 'cpc' })).toBe(0);
    expect((await fetch(`http://127.0.0.1:${port}/nope`)).status).toBe(404);
  }, 300_000);
});
