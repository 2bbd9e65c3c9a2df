/**
 * Live streams at scale, against the real service: 200 clients streaming one
 * job share one feed (one LISTEN, one read per change) instead of polling
 * Postgres each; a change written to the database (by anyone) reaches every
 * one of them by notification alone (the resync timer is set longer than the
 * test); the API answers other requests meanwhile; every connection and feed
 * is cleaned up, whether the job ends or the clients leave; the listener comes
 * back after Postgres dropped its connection; an experiment's stream follows
 * its jobs.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { request, type ClientRequest } from 'node:http';
import { connect } from 'node:net';
import { createParser } from 'eventsource-parser';
import { api, startHarness, waitFor, type Harness } from './harness.js';
import { tinyConfig } from './fixtures.js';
import { LISTENER_APPLICATION_NAME } from '../../src/store/change-listener.js';

let h: Harness;
const STREAMS = 200;

beforeAll(async () => {
  h = await startHarness({
    workers: 0,
    env: {
      EVENT_STREAMS_PER_KEY: '400',
      EVENT_STREAMS_MAX: '400',
      MAX_CONNECTIONS_PER_CLIENT: '0',
      // only notifications can deliver a change within this test
      LIVE_FEED_RESYNC_MS: '600000',
    },
  });
}, 120_000);

afterAll(async () => {
  await h?.stop();
});

interface OpenStream {
  events: Array<{ event?: string; id?: string; data: any }>;
  /** the server ended the response */
  ended: Promise<void>;
  req: ClientRequest;
}

/** one event stream on its own connection */
function openStream(path: string, headers: Record<string, string> = {}): Promise<OpenStream> {
  return new Promise((resolve, reject) => {
    const req = request(h.baseUrl + path, { agent: false, headers: { authorization: `Bearer ${h.adminKey}`, ...headers } }, (res) => {
      if (res.statusCode !== 200) return reject(new Error(`${path}: ${res.statusCode}`));
      const events: OpenStream['events'] = [];
      const parser = createParser({ onEvent: (e) => events.push({ event: e.event, id: e.id, data: JSON.parse(e.data) }) });
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => parser.feed(chunk));
      const ended = new Promise<void>((done) => res.on('end', done).on('close', done));
      resolve({ events, ended, req });
    });
    req.on('error', reject);
    req.end();
  });
}

async function gauges(): Promise<Record<string, number>> {
  const text = (await api(h, 'GET', '/metrics')).text;
  const value = (re: RegExp) => Number(text.match(re)?.[1] ?? NaN);
  return {
    streams: value(/^cpc_event_streams (\d+)$/m),
    jobEventFeeds: value(/^cpc_live_feeds\{kind="job_events"\} (\d+)$/m),
    jobLogFeeds: value(/^cpc_live_feeds\{kind="job_logs"\} (\d+)$/m),
    experimentFeeds: value(/^cpc_live_feeds\{kind="experiment"\} (\d+)$/m),
    channels: value(/^cpc_change_channels (\d+)$/m),
  };
}

/** transactions committed in the test database so far (every Prisma query outside a transaction is one) */
async function commits(): Promise<number> {
  const rows = await h.app.db.$queryRaw<
    Array<{ n: bigint }>
  >`SELECT xact_commit AS n FROM pg_stat_database WHERE datname = current_database()`;
  return Number(rows[0].n);
}

/** a job no worker takes (none runs here): it stays queued until cancelled */
async function queuedJob(extra: object = {}): Promise<string> {
  const res = await api(h, 'POST', '/v1/jobs', { kind: 'cpc', device: 'gpu', config: tinyConfig(), ...extra });
  expect(res.status).toBe(202);
  return res.json.id;
}

const allHave = (streams: OpenStream[], f: (s: OpenStream) => boolean) => streams.every(f);

describe('200 clients streaming one job', () => {
  it('share one feed, get every change by notification, and are all cleaned up when the job ends', async () => {
    const jobId = await queuedJob();
    const eventStreams = await Promise.all(Array.from({ length: STREAMS * 0.75 }, () => openStream(`/v1/jobs/${jobId}/events`)));
    const logStreams = await Promise.all(Array.from({ length: STREAMS * 0.25 }, () => openStream(`/v1/jobs/${jobId}/logs?follow=true`)));
    const streams = [...eventStreams, ...logStreams];
    await waitFor(
      'every events client has the status',
      async () => allHave(eventStreams, (s) => s.events.some((e) => e.event === 'status')),
      30_000,
    );
    expect(await gauges()).toMatchObject({ streams: STREAMS, jobEventFeeds: 1, jobLogFeeds: 1, channels: 1 });

    // quiet: no client polls. (One poll per client every 500 ms would commit ~200 × 2 × 6 queries here.)
    const before = await commits();
    await new Promise((r) => setTimeout(r, 3000));
    expect(await commits()).toBeLessThan(before + 60);

    // the API answers other requests while 200 streams are open
    expect((await api(h, 'GET', '/healthz')).status).toBe(200);
    expect((await api(h, 'GET', `/v1/jobs/${jobId}`)).json.status).toBe('queued');

    // rows written straight to the database (as a worker writes them) reach every client
    await h.app.db.metricPoint.create({ data: { jobId, step: 1, epoch: 0, split: 'train', name: 'loss', value: 0.5 } });
    await h.app.db.jobLogLine.create({ data: { jobId, attempt: 1, level: 'info', message: 'a line for everyone' } });
    await waitFor(
      'the metric row at every events client',
      async () => allHave(eventStreams, (s) => s.events.some((e) => e.event === 'metrics' && e.data[0]?.value === 0.5)),
      30_000,
    );
    await waitFor(
      'the log line at every log follower',
      async () => allHave(logStreams, (s) => s.events.some((e) => e.event === 'log' && e.data.message === 'a line for everyone')),
      30_000,
    );
    // each row once, with its id as the event id
    for (const s of eventStreams) expect(s.events.filter((e) => e.event === 'metrics').map((e) => e.data.length)).toEqual([1]);

    // the job ends: every stream gets the final status and `end`, and the server closes it
    expect((await api(h, 'POST', `/v1/jobs/${jobId}/cancel`)).status).toBeLessThan(300);
    await Promise.all(streams.map((s) => s.ended));
    for (const s of eventStreams) {
      expect(s.events.filter((e) => e.event === 'status').map((e) => e.data.status)).toEqual(['queued', 'cancelled']);
      expect(s.events.at(-1)).toMatchObject({ event: 'end', data: { status: 'cancelled' } });
    }
    for (const s of logStreams) expect(s.events.at(-1)).toMatchObject({ event: 'end', data: { status: 'cancelled' } });
    await waitFor(
      'no stream, feed or channel left',
      async () => {
        const g = await gauges();
        return g.streams === 0 && g.jobEventFeeds === 0 && g.jobLogFeeds === 0 && g.channels === 0;
      },
      10_000,
    );
  }, 180_000);

  it('gives back every connection and feed when the clients leave first', async () => {
    const jobs = [await queuedJob(), await queuedJob()];
    const streams = await Promise.all(Array.from({ length: 100 }, (_, i) => openStream(`/v1/jobs/${jobs[i % 2]}/events`)));
    await waitFor('every client has the status', async () => allHave(streams, (s) => s.events.length > 0), 30_000);
    expect(await gauges()).toMatchObject({ streams: 100, jobEventFeeds: 2, channels: 2 });
    for (const s of streams) s.req.destroy();
    await waitFor(
      'no stream, feed or channel left',
      async () => {
        const g = await gauges();
        return g.streams === 0 && g.jobEventFeeds === 0 && g.channels === 0;
      },
      10_000,
    );
    for (const id of jobs) await api(h, 'POST', `/v1/jobs/${id}/cancel`);
  }, 60_000);

  it('a late client catches up from its Last-Event-ID, and the feed keeps going after Postgres dropped its listener', async () => {
    const jobId = await queuedJob();
    const first = await openStream(`/v1/jobs/${jobId}/events`);
    const rows = await h.app.db.metricPoint.createManyAndReturn({
      data: [1, 2, 3].map((step) => ({ jobId, step, epoch: 0, split: 'train', name: 'loss', value: step })),
    });
    await waitFor('three rows', async () => first.events.filter((e) => e.event === 'metrics').flatMap((e) => e.data).length === 3, 10_000);
    // resumes after the first row: gets the other two, and not the first again
    const late = await openStream(`/v1/jobs/${jobId}/events`, { 'last-event-id': String(rows[0].id) });
    await waitFor('the late client’s rows', async () => late.events.some((e) => e.event === 'metrics'), 10_000);
    expect(late.events.filter((e) => e.event === 'metrics').flatMap((e) => e.data.map((m: any) => m.step))).toEqual([2, 3]);

    // Postgres ends the listening connection; the listener reconnects and listens again
    await h.app.db.$executeRawUnsafe(
      `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = '${LISTENER_APPLICATION_NAME}'`,
    );
    await waitFor(
      'the listener back',
      async () => {
        const r = await h.app.db.$queryRaw<Array<{ n: bigint }>>`
        SELECT count(*) AS n FROM pg_stat_activity WHERE application_name = ${LISTENER_APPLICATION_NAME}`;
        return h.app.live.listener.connected && Number(r[0].n) === 1;
      },
      20_000,
    );
    await h.app.db.metricPoint.create({ data: { jobId, step: 4, epoch: 0, split: 'train', name: 'loss', value: 4 } });
    for (const s of [first, late])
      await waitFor(
        'the row written after the reconnect',
        async () => s.events.some((e) => e.event === 'metrics' && e.data.some((m: any) => m.step === 4)),
        20_000,
      );
    await api(h, 'POST', `/v1/jobs/${jobId}/cancel`);
    await Promise.all([first.ended, late.ended]);
  }, 60_000);

  it('one client cannot hold rows back from the others: a made-up Last-Event-ID, or a catch-up that reads ahead', async () => {
    const jobId = await queuedJob();
    const steps = (s: OpenStream) => s.events.filter((e) => e.event === 'metrics').flatMap((e) => e.data.map((m: any) => m.step));
    const live = await openStream(`/v1/jobs/${jobId}/events`);
    await waitFor('the status', async () => live.events.length > 0, 10_000);
    // a client claiming a row far in the future gets the rows from now on, and so does everyone else
    const bogus = await openStream(`/v1/jobs/${jobId}/events`, { 'last-event-id': '999999999999999999' });
    const bogusLog = await openStream(`/v1/jobs/${jobId}/logs?follow=true&after=999999999999999999`);
    await waitFor('their status', async () => bogus.events.length > 0, 10_000);
    await h.app.db.metricPoint.create({ data: { jobId, step: 1, epoch: 0, split: 'train', name: 'loss', value: 1 } });
    await h.app.db.jobLogLine.create({ data: { jobId, attempt: 1, level: 'info', message: 'heard by all' } });
    await waitFor('row 1 at both', async () => steps(live).includes(1) && steps(bogus).includes(1), 10_000);
    await waitFor('the line', async () => bogusLog.events.some((e) => e.event === 'log'), 10_000);
    // many clients joining while rows arrive: the live ones still get every row, once
    const joining = Promise.all(Array.from({ length: 20 }, () => openStream(`/v1/jobs/${jobId}/events`)));
    for (let step = 2; step <= 21; step++)
      await h.app.db.metricPoint.create({ data: { jobId, step, epoch: 0, split: 'train', name: 'loss', value: step } });
    const joined = await joining;
    const all = Array.from({ length: 21 }, (_, i) => i + 1);
    for (const s of [live, bogus, ...joined]) await waitFor('every row', async () => steps(s).length === 21, 10_000);
    for (const s of [live, bogus, ...joined]) expect(steps(s).sort((a, b) => a - b)).toEqual(all);
    await api(h, 'POST', `/v1/jobs/${jobId}/cancel`);
    await Promise.all([live, bogus, bogusLog, ...joined].map((s) => s.ended));
  }, 60_000);

  it('lets go of a client that does not read, instead of buffering the history for it', async () => {
    const jobId = await queuedJob();
    // (~40 MB of events: more than the kernel's socket buffers take on loopback, and the server's own limit)
    // (in slices: one statement must stay within the client's query timeout on a busy machine)
    for (let from = 1; from <= 300_000; from += 25_000)
      await h.app.db.$executeRaw`
        INSERT INTO metric_points (job_id, step, epoch, split, name, value)
        SELECT ${jobId}, g, 0, 'train', 'loss', g FROM generate_series(${from}::int, ${from + 24_999}::int) AS g`;
    const socket = connect(new URL(h.baseUrl).port ? Number(new URL(h.baseUrl).port) : 80, '127.0.0.1');
    socket.write(`GET /v1/jobs/${jobId}/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${h.adminKey}\r\n\r\n`);
    socket.pause();
    const closed = new Promise<void>((r) => socket.on('close', () => r()));
    await waitFor('the stream opened', async () => (await gauges()).streams === 1, 10_000);
    await waitFor('the server to let it go', async () => (await gauges()).streams === 0, 60_000);
    socket.destroy();
    await closed;
    await api(h, 'POST', `/v1/jobs/${jobId}/cancel`);
  }, 120_000);
});

describe('an experiment’s stream', () => {
  it('sends the experiment at once and again as its jobs are added and end; ends when no client is left', async () => {
    const experiment = (await api(h, 'POST', '/v1/experiments', { name: 'live-streams' })).json;
    const stream = await openStream(`/v1/experiments/${experiment.id}/events`);
    const snapshots = () => stream.events.filter((e) => e.event === 'experiment').map((e) => e.data);
    await waitFor('the first snapshot', async () => snapshots().length === 1, 10_000);
    expect(snapshots()[0]).toMatchObject({ id: experiment.id, status: 'empty', jobCount: 0, jobs: [] });

    const a = await queuedJob({ experimentId: experiment.id });
    await waitFor('one job', async () => snapshots().at(-1)?.jobCount === 1, 10_000);
    expect(snapshots().at(-1)).toMatchObject({ status: 'queued', jobs: [{ id: a, status: 'queued' }] });
    const b = await queuedJob({ experimentId: experiment.id, config: tinyConfig({ seed: 9 }) });
    await waitFor('two jobs', async () => snapshots().at(-1)?.jobCount === 2, 10_000);
    for (const id of [a, b]) await api(h, 'POST', `/v1/jobs/${id}/cancel`);
    await waitFor('cancelled', async () => snapshots().at(-1)?.status === 'cancelled', 10_000);
    expect(snapshots().at(-1)).toMatchObject({ byStatus: { cancelled: 2 } });
    // (a snapshot only when something changed)
    const counts = snapshots().map((s) => JSON.stringify(s));
    expect(new Set(counts).size).toBe(counts.length);

    expect((await openStream(`/v1/experiments/00000000-0000-4000-8000-000000000000/events`).catch((e: Error) => e)).toString()).toMatch(
      /404/,
    );
    stream.req.destroy();
    await waitFor('no experiment feed left', async () => (await gauges()).experimentFeeds === 0, 10_000);

    // an empty experiment deleted: its stream ends at once (a trigger, not the resync)
    const empty = (await api(h, 'POST', '/v1/experiments', { name: 'empty-live' })).json;
    const watching = await openStream(`/v1/experiments/${empty.id}/events`);
    await waitFor('its snapshot', async () => watching.events.length > 0, 10_000);
    expect((await api(h, 'DELETE', `/v1/experiments/${empty.id}`)).status).toBe(200);
    await watching.ended;
    expect(watching.events.at(-1)).toMatchObject({ event: 'end', data: { status: 'deleted' } });
  }, 60_000);
});
