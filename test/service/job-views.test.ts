/**
 * What a job shows besides its row, against the real service: its log (plain
 * text, JSON lines, followed over SSE and resumed with Last-Event-ID; bounded
 * per attempt), the sample-sequence grid its worker drew, and event streams
 * that resume after the last metric row seen instead of replaying them all.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { createParser } from 'eventsource-parser';
import { PNG } from 'pngjs';
import { api, authHeader, startHarness, waitFor, type Harness } from './harness.js';
import { tinyConfig } from './fixtures.js';
import { JobLogWriter } from '../../src/worker/job-log.js';
import { buildApp } from '../../src/api/app.js';

let h: Harness;
let jobId: string;

beforeAll(async () => {
  h = await startHarness();
  const job = await api(h, 'POST', '/v1/jobs', { kind: 'cpc', config: tinyConfig({ epochs: 2, stepsPerEpoch: 4 }) });
  expect(job.status).toBe(202);
  jobId = job.json.id;
  await waitFor('the job', async () => (await api(h, 'GET', `/v1/jobs/${jobId}`)).json.status === 'succeeded');
}, 240_000);

afterAll(async () => {
  await h?.stop();
});

/** every event of a stream until it ends */
async function readEvents(path: string, headers: Record<string, string> = {}) {
  const res = await fetch(h.baseUrl + path, { headers: { ...authHeader(h), ...headers } });
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/text\/event-stream/);
  const events: Array<{ event?: string; id?: string; data: any }> = [];
  const parser = createParser({ onEvent: (e) => events.push({ event: e.event, id: e.id, data: JSON.parse(e.data) }) });
  const decoder = new TextDecoder();
  for await (const chunk of res.body!) parser.feed(decoder.decode(chunk as Uint8Array, { stream: true }));
  return events;
}

describe('a job’s log, samples and resumable streams', () => {
  it('serves the log as text and as JSON lines: the attempt, its epochs, its checkpoint, its end', async () => {
    const text = await api(h, 'GET', `/v1/jobs/${jobId}/logs`);
    expect(text.status).toBe(200);
    expect(text.headers.get('content-type')).toMatch(/text\/plain/);
    expect(text.text).toMatch(/#1 INFO {2}attempt 1 started on .* \(backend wasm\)/);
    expect(text.text).toMatch(/epoch 2 \(step 8\): train loss [0-9.]+/);
    expect(text.text).toMatch(/attempt succeeded\n$/);
    const jsonl = await api(h, 'GET', `/v1/jobs/${jobId}/logs?format=jsonl`);
    expect(jsonl.headers.get('content-type')).toMatch(/application\/x-ndjson/);
    const lines = jsonl.text
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines.length).toBe(text.text.trim().split('\n').length);
    expect(lines[0]).toMatchObject({ attempt: 1, level: 'info', message: expect.stringMatching(/^attempt 1 started/) });
    const after = await api(h, 'GET', `/v1/jobs/${jobId}/logs?format=jsonl&after=${lines[1].id}`);
    expect(
      after.text
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l).id),
    ).toEqual(lines.slice(2).map((l) => l.id));
    expect((await api(h, 'GET', `/v1/jobs/${jobId}/logs?after=x`)).status).toBe(400);
    expect((await api(h, 'GET', `/v1/jobs/job_nope/logs`)).status).toBe(404);
  });

  it('follows the log over SSE to its end, and resumes after Last-Event-ID', async () => {
    const all = await readEvents(`/v1/jobs/${jobId}/logs?follow=true`);
    const logs = all.filter((e) => e.event === 'log');
    expect(all.at(-1)).toMatchObject({ event: 'end', data: { status: 'succeeded' } });
    expect(logs.map((e) => e.id)).toEqual(logs.map((e) => e.data.id));
    const resumed = await readEvents(`/v1/jobs/${jobId}/logs?follow=true`, { 'last-event-id': logs[2].id! });
    expect(resumed.filter((e) => e.event === 'log').map((e) => e.id)).toEqual(logs.slice(3).map((e) => e.id));
  });

  it('a followed stream answers its headers at once, HEAD answers without a stream, and follow takes no format', async () => {
    // a job no worker here takes (no GPU worker): it stays queued and its log quiet
    const queued = (await api(h, 'POST', '/v1/jobs', { kind: 'cpc', device: 'gpu', config: tinyConfig() })).json.id;
    for (const path of [`/v1/jobs/${queued}/logs?follow=true`, `/v1/jobs/${queued}/events`]) {
      const controller = new AbortController();
      const started = Date.now();
      const res = await fetch(h.baseUrl + path, { headers: authHeader(h), signal: controller.signal });
      expect([res.status, Date.now() - started < 3000], path).toEqual([200, true]);
      controller.abort();
      const head = await fetch(h.baseUrl + path, { method: 'HEAD', headers: authHeader(h), signal: AbortSignal.timeout(3000) });
      expect([head.status, head.headers.get('content-type')], path).toEqual([200, 'text/event-stream']);
    }
    expect((await api(h, 'GET', `/v1/jobs/${queued}/logs?follow=true&format=jsonl`)).status).toBe(400);
    expect((await api(h, 'POST', `/v1/jobs/${queued}/cancel`)).status).toBe(202);
  });

  it('ends its open streams when the API closes (no wait for the shutdown grace period)', async () => {
    const queued = (await api(h, 'POST', '/v1/jobs', { kind: 'cpc', device: 'gpu', config: tinyConfig({ seed: 5 }) })).json.id;
    const app = await buildApp(h.config, { logger: false });
    await app.listen({ host: '127.0.0.1', port: 0 });
    const { port } = app.server.address() as { port: number };
    const res = await fetch(`http://127.0.0.1:${port}/v1/jobs/${queued}/logs?follow=true`, { headers: authHeader(h) });
    const reading = (async () => {
      for await (const _ of res.body!) void _;
    })();
    const started = Date.now();
    await app.close();
    await reading;
    expect(Date.now() - started).toBeLessThan(3000);
    expect((await api(h, 'POST', `/v1/jobs/${queued}/cancel`)).status).toBe(202);
  });

  it('keeps at most LOG_LINES_PER_ATTEMPT lines of an attempt and says how many it dropped', async () => {
    const writer = new JobLogWriter(h.app.db, jobId, 99, { maxLines: 10, flushMs: 60_000 });
    for (let i = 0; i < 25; i++) writer.line('info', `line ${i}`);
    writer.line('info', 'x'.repeat(10_000));
    await writer.close();
    writer.line('info', 'after close');
    await writer.flush();
    const mine = (await api(h, 'GET', `/v1/jobs/${jobId}/logs?format=jsonl`)).text
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l))
      .filter((l) => l.attempt === 99);
    expect(mine.map((l) => l.message)).toEqual([
      ...Array.from({ length: 10 }, (_, i) => `line ${i}`),
      '16 more line(s) of this attempt were not kept (at most 10 per attempt)',
    ]);
  });

  it('shows a job stored before the similarity and schedule fields as it runs, so its config sent back reproduces it', async () => {
    const row = await h.app.db.job.findUniqueOrThrow({ where: { id: jobId } });
    const current = row.config as Record<string, unknown>;
    const old: Record<string, unknown> = { ...current, logitScale: 1 };
    delete old.similarity;
    delete old.lrSchedule;
    await h.app.db.job.update({ where: { id: jobId }, data: { config: old as object } });
    try {
      const shown = (await api(h, 'GET', `/v1/jobs/${jobId}`)).json.config;
      expect(shown).toMatchObject({ similarity: 'dot', logitScale: 1, lrSchedule: 'plateau' });
      // (a cosine-scored job at scale 1 would be neither the old recipe nor the new one)
      const again = await api(h, 'POST', '/v1/jobs', { kind: 'cpc', config: { ...shown, epochs: 1, stepsPerEpoch: 1 } });
      expect(again.status).toBe(202);
      expect(again.json.config).toMatchObject({ similarity: 'dot', logitScale: 1, lrSchedule: 'plateau' });
      await api(h, 'POST', `/v1/jobs/${again.json.id}/cancel`);
    } finally {
      await h.app.db.job.update({ where: { id: jobId }, data: { config: current as object } });
    }
  });

  it('serves the sample sequences the worker drew: 8 rows of 8 images, framed', async () => {
    const res = await fetch(`${h.baseUrl}/v1/jobs/${jobId}/samples.png`, { headers: authHeader(h) });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('image/png');
    const png = PNG.sync.read(Buffer.from(await res.arrayBuffer()));
    // 28-pixel images in 3-pixel frames: (4 context + 4 future) x 8 rows
    expect([png.width, png.height]).toEqual([8 * 34, 8 * 34]);
    const queued = await api(h, 'GET', `/v1/jobs/job_nope/samples.png`);
    expect(queued.status).toBe(404);
  });

  it('draws the curves as SVG from the stored rows, and keeps a final job’s as an artifact', async () => {
    const first = await fetch(`${h.baseUrl}/v1/jobs/${jobId}/plots/curves.svg`, { headers: authHeader(h) });
    expect(first.status).toBe(200);
    expect(first.headers.get('content-type')).toBe('image/svg+xml');
    const svg = await first.text();
    expect(svg).toMatch(/^<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/);
    // loss: train, validation; accuracy: train, validation, chance (dashed); learning rate
    expect(svg.match(/<polyline /g)).toHaveLength(6);
    // a short series is dotted too (one point alone draws no line)
    expect(svg.match(/<circle /g)!.length).toBeGreaterThan(0);
    expect(svg).toMatch(/stroke-dasharray="6 4" points="[^"]+"><title>chance<\/title>/);
    const trainLoss = (await api(h, 'GET', `/v1/jobs/${jobId}/metrics?split=train&name=loss`)).json.items.length;
    expect(/<polyline[^>]*points="([^"]+)"><title>train<\/title>/.exec(svg)![1].split(' ')).toHaveLength(trainLoss);
    const artifacts = (await api(h, 'GET', `/v1/jobs/${jobId}`)).json.artifacts.map((a: any) => a.name);
    expect(artifacts).toContain('plots/curves.svg');
    const again = await fetch(`${h.baseUrl}/v1/jobs/${jobId}/plots/curves.svg`, { headers: authHeader(h) });
    expect(await again.text()).toBe(svg);
    expect((await api(h, 'GET', `/v1/jobs/job_nope/plots/curves.svg`)).status).toBe(404);
    const png = await fetch(`${h.baseUrl}/v1/jobs/${jobId}/plots/curves.png`, { headers: authHeader(h) });
    expect([png.status, png.headers.get('content-type')]).toEqual([200, 'image/png']);
    const image = PNG.sync.read(Buffer.from(await png.arrayBuffer()));
    expect([image.width, image.height]).toEqual([640, 684]);
    expect((await api(h, 'GET', `/v1/jobs/${jobId}`)).json.artifacts.map((a: any) => a.name)).toContain('plots/curves.png');
  });

  it('resumes an event stream after the last metric row seen (Last-Event-ID), and sends every row before it ends', async () => {
    const rows = (await api(h, 'GET', `/v1/jobs/${jobId}/metrics`)).json.items.length;
    const all = await readEvents(`/v1/jobs/${jobId}/events`);
    const metricEvents = all.filter((e) => e.event === 'metrics');
    expect(metricEvents.flatMap((e) => e.data).length).toBe(rows);
    expect(all.at(-1)?.event).toBe('end');
    const first = metricEvents[0];
    const resumed = await readEvents(`/v1/jobs/${jobId}/events`, { 'last-event-id': first.id! });
    expect(resumed.filter((e) => e.event === 'metrics').flatMap((e) => e.data).length).toBe(rows - first.data.length);
  });
});
