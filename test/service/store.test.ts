/**
 * The store's moving parts against a real PostgreSQL and Redis, without the API or workers:
 * the reaper's table row by row (queue entries put in each state with BullMQ's manual
 * processing), Postgres write retries, the migration runner, the API's model-file cache, and
 * the job service's data set lookups.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { Worker } from 'bullmq';
import pg from 'pg';
import { cpSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { queuedJob, startDatabase, type TestDatabase } from './database.js';
import * as lifecycle from '../../src/store/lifecycle.js';
import { LeaseLost, withRetry } from '../../src/store/leases.js';
import { migrate, migrationsDir } from '../../src/store/migrate.js';
import { reapOnce, type ReaperDeps } from '../../src/worker/reaper.js';
import { allQueues, enqueue, laneQueues, locate, queueName, redisConnection, type LaneQueues } from '../../src/queue/queues.js';
import { ModelFilesCache } from '../../src/api/model-cache.js';
import { ArtifactsRepository, recordArtifact } from '../../src/store/artifacts.js';
import { LocalArtifactStore } from '../../src/artifacts/store.js';
import { JobService } from '../../src/api/job-service.js';
import { JobsRepository } from '../../src/store/jobs.js';
import { ExperimentsRepository } from '../../src/store/experiments.js';
import { BUILTIN_DATASET_ID, DatasetsRepository } from '../../src/store/datasets.js';
import { DEFAULT_OWNER_ID } from '../../src/store/owners.js';
import { JobQueue } from '../../src/queue/producer.js';
import type { Scope } from '../../src/store/scope.js';
import type { Redis } from 'ioredis';
import { createDb, type Db } from '../../src/store/db.js';
import { isDatabaseBusy, isDatabaseUnavailable } from '../../src/store/errors.js';

let t: TestDatabase;
let db: Db;
let connection: Redis;
let queues: LaneQueues;
const PREFIX = 'storetest';

beforeAll(async () => {
  t = await startDatabase();
  db = t.db;
  connection = redisConnection(t.redisUrl);
  queues = laneQueues(connection, PREFIX);
}, 120_000);

afterAll(async () => {
  for (const q of queues ? allQueues(queues) : []) await q.close();
  connection?.disconnect();
  await t?.stop();
});

describe('reaper', () => {
  const config: ReaperDeps['config'] = {
    HEARTBEAT_TIMEOUT_MS: 60_000,
    ORPHAN_QUEUED_MS: 60_000,
    CRASH_BUDGET: 2,
    JOB_ATTEMPTS: 1,
    IDEMPOTENCY_TTL_MS: 3_600_000,
  };
  const reap = () => reapOnce({ db, queues, config, log: () => undefined });
  // each test starts from empty queues (the manual worker below takes the first entry waiting)
  beforeEach(async () => {
    for (const q of allQueues(queues)) await q.obliterate({ force: true });
  });
  const ref = (id: string) => ({ id, kind: 'cpc' as const, device: 'any' as const, priority: 50 });
  const ago = (ms: number) => new Date(Date.now() - ms);

  /** a running job whose attempt went quiet two minutes ago, its queue entry in `state` */
  async function quietRunning(state: 'waiting' | 'missing' | 'failed' | 'completed' | 'active', crashes = 0) {
    const job = await queuedJob(db);
    if (state !== 'missing') await enqueue(queues, ref(job.id), 1);
    if (state === 'failed' || state === 'completed' || state === 'active') {
      // BullMQ's manual processing: take the entry as a worker would, then finish it
      const workerConnection = redisConnection(t.redisUrl);
      const worker = new Worker(queueName('cpc'), null, { connection: workerConnection, prefix: PREFIX, autorun: false });
      const entry = (await worker.getNextJob('token'))!;
      expect(entry.id).toBe(job.id);
      if (state === 'failed') await entry.moveToFailed(new Error('boom in the queue'), 'token', false);
      if (state === 'completed') await entry.moveToCompleted({}, 'token', false);
      await worker.close();
      workerConnection.disconnect();
    }
    await lifecycle.start(db, job.id, { host: 'gone', backend: 'test' });
    await db.job.update({ where: { id: job.id }, data: { heartbeatAt: ago(120_000), crashes } });
    return job.id;
  }

  it('a quiet running job: waiting entry -> queued with a crash; missing -> enqueued again; over budget -> failed', async () => {
    const waiting = await quietRunning('waiting');
    const missing = await quietRunning('missing');
    const spent = await quietRunning('missing', 2);
    const report = await reap();
    expect(report.requeued).toContain(waiting);
    expect(report.reenqueued).toContain(missing);
    expect(report.failed).toContain(spent);
    expect(await db.job.findUniqueOrThrow({ where: { id: waiting } })).toMatchObject({ status: 'queued', crashes: 1, leaseId: null });
    expect(await db.job.findUniqueOrThrow({ where: { id: missing } })).toMatchObject({ status: 'queued', crashes: 1 });
    expect((await locate(queues, ref(missing)))?.state).toBe('prioritized');
    expect(await db.job.findUniqueOrThrow({ where: { id: spent } })).toMatchObject({
      status: 'failed',
      crashes: 3,
      error: 'worker lost 3 times (crash budget 2)',
    });
  });

  it('a quiet running job whose entry failed or completed ends failed, saying why; an active one is left alone', async () => {
    const failed = await quietRunning('failed');
    const completed = await quietRunning('completed');
    const active = await quietRunning('active');
    const report = await reap();
    expect(report.failed).toEqual(expect.arrayContaining([failed, completed]));
    expect(await db.job.findUniqueOrThrow({ where: { id: failed } })).toMatchObject({ status: 'failed', error: 'boom in the queue' });
    expect(await db.job.findUniqueOrThrow({ where: { id: completed } })).toMatchObject({
      status: 'failed',
      error: 'the attempt ended without recording its outcome',
    });
    // (its lock is held: BullMQ's own stall check decides about it, not the reaper)
    expect((await db.job.findUniqueOrThrow({ where: { id: active } })).status).toBe('running');
  });

  it('a running job with a fresh heartbeat is left alone whatever its entry', async () => {
    const id = await quietRunning('missing');
    await db.job.update({ where: { id }, data: { heartbeatAt: new Date() } });
    const report = await reap();
    expect([...report.requeued, ...report.reenqueued, ...report.failed]).not.toContain(id);
    expect((await db.job.findUniqueOrThrow({ where: { id } })).status).toBe('running');
  });

  it('a quiet queued job whose cancel was requested (while Redis was away) ends cancelled, its entry removed', async () => {
    const job = await queuedJob(db, { device: 'gpu' });
    await enqueue(queues, { ...ref(job.id), device: 'gpu' }, 1);
    await lifecycle.requestCancel(db, job.id);
    await db.job.update({ where: { id: job.id }, data: { updatedAt: ago(120_000) } });
    const report = await reap();
    expect(report.cancelled).toEqual([job.id]);
    expect(report.reenqueued).not.toContain(job.id);
    expect(await db.job.findUniqueOrThrow({ where: { id: job.id } })).toMatchObject({ status: 'cancelled' });
    expect(await locate(queues, { ...ref(job.id), device: 'gpu' })).toBeNull();
  });

  it('a succeeded CPC job whose probe was not submitted gets it once, however many reapers race; then it is queued', async () => {
    const probeConfig = { seed: 4, trainImages: 100, testImages: 50 };
    const cpc = await queuedJob(db, { probeAfter: probeConfig, priority: 70, device: 'cpu' });
    const waiting = await queuedJob(db, { probeAfter: probeConfig });
    const lease = await lifecycle.start(db, cpc.id, { host: 'h', backend: 'test' });
    expect(await lifecycle.complete(db, lease!, { ok: true })).toBe(true);
    // three reapers at once (each a worker's): one probe
    const reports = await Promise.all([reap(), reap(), reap()]);
    const probes = reports.flatMap((r) => r.probes);
    expect(probes).toHaveLength(1);
    const probe = await db.job.findUniqueOrThrow({ where: { id: probes[0] } });
    expect(probe).toMatchObject({
      kind: 'probe',
      status: 'queued',
      parentJobId: cpc.id,
      config: probeConfig,
      seed: 4,
      priority: 70,
      device: 'cpu',
    });
    expect((await locate(queues, { ...ref(probe.id), kind: 'probe', device: 'cpu' }))?.state).toBe('prioritized');
    expect((await db.job.findUniqueOrThrow({ where: { id: cpc.id } })).probeAfter).toBeNull();
    expect((await reap()).probes).toEqual([]);
    // a job that has not succeeded keeps its request
    expect((await db.job.findUniqueOrThrow({ where: { id: waiting.id } })).probeAfter).toEqual(probeConfig);
  });

  it('a quiet queued job: no entry or a completed one -> enqueued; a failed entry -> failed; a recent one is left alone', async () => {
    const stale = await quietRunning('completed'); // its attempt ended; then a retry lost its enqueue
    await db.job.update({ where: { id: stale }, data: { status: 'queued', leaseId: null } });
    const gaveUp = await quietRunning('failed');
    await db.job.update({ where: { id: gaveUp }, data: { status: 'queued', leaseId: null } });
    const orphan = await queuedJob(db);
    const recent = await queuedJob(db);
    await db.job.updateMany({ where: { id: { in: [orphan.id, stale, gaveUp] } }, data: { updatedAt: ago(120_000) } });
    const report = await reap();
    expect(report.reenqueued).toEqual(expect.arrayContaining([orphan.id, stale]));
    expect(report.failed).toContain(gaveUp);
    expect([...report.reenqueued, ...report.failed]).not.toContain(recent.id);
    expect((await locate(queues, ref(orphan.id)))?.state).toBe('prioritized');
    expect((await locate(queues, ref(stale)))?.state).toBe('prioritized');
    expect(await db.job.findUniqueOrThrow({ where: { id: gaveUp } })).toMatchObject({ status: 'failed', error: 'boom in the queue' });
    // the pass it took is recorded (updatedAt), so a second reaper right behind it does nothing
    expect((await reap()).reenqueued).not.toContain(orphan.id);
  });
});

describe('withRetry', () => {
  it('retries a failing write with doubling delays until it succeeds', async () => {
    // the delays it asks for, not the wall clock between tries (a loaded machine stretches those)
    const timeout = vi.spyOn(globalThis, 'setTimeout');
    let calls = 0;
    try {
      const result = await withRetry(
        async () => {
          if (++calls < 4) throw new Error('connection terminated');
          return 'ok';
        },
        { firstDelayMs: 23 },
      );
      expect([result, calls]).toEqual(['ok', 4]);
      const asked = timeout.mock.calls.map((c) => c[1]).filter((ms) => ms === 23 || ms === 46 || ms === 92);
      expect(asked).toEqual([23, 46, 92]);
    } finally {
      timeout.mockRestore();
    }
  });

  it('gives up after its tries with the last error, and never retries a lost lease', async () => {
    let calls = 0;
    await expect(
      withRetry(
        async () => {
          calls++;
          throw new Error(`down ${calls}`);
        },
        { tries: 3, firstDelayMs: 1 },
      ),
    ).rejects.toThrow('down 3');
    calls = 0;
    await expect(
      withRetry(async () => {
        calls++;
        throw new LeaseLost('job_x');
      }),
    ).rejects.toBeInstanceOf(LeaseLost);
    expect(calls).toBe(1);
  });
});

describe('migrate', () => {
  async function freshDatabase(name: string): Promise<string> {
    const admin = new pg.Client({ connectionString: t.databaseUrl });
    await admin.connect();
    await admin.query(`CREATE DATABASE ${name}`);
    await admin.end();
    const url = new URL(t.databaseUrl);
    url.pathname = `/${name}`;
    return url.toString();
  }

  it('applies every migration once, in Prisma’s table format, and nothing the second time', async () => {
    const url = await freshDatabase('migrate_once');
    const first = await migrate(url);
    expect(first.applied.length).toBeGreaterThan(3);
    expect(first.alreadyApplied).toEqual([]);
    const again = await migrate(url);
    expect(again).toEqual({ applied: [], alreadyApplied: first.applied });
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    const { rows } = await client.query(
      'SELECT migration_name, checksum, finished_at, applied_steps_count FROM "_prisma_migrations" ORDER BY migration_name',
    );
    await client.end();
    expect(rows.map((r) => r.migration_name)).toEqual(first.applied);
    for (const r of rows) expect(r).toMatchObject({ checksum: expect.stringMatching(/^[0-9a-f]{64}$/), applied_steps_count: 1 });
  });

  it('refuses a migration edited after it was applied, and rolls back one that fails (no row, no half a schema)', async () => {
    const url = await freshDatabase('migrate_edits');
    const dir = mkdtempSync(join(tmpdir(), 'migrations-'));
    cpSync(migrationsDir(), dir, { recursive: true });
    const applied = (await migrate(url, dir)).applied;
    writeFileSync(join(dir, applied[0], 'migration.sql'), '-- edited\n', { flag: 'a' });
    await expect(migrate(url, dir)).rejects.toThrow(`migration ${applied[0]} was modified after it was applied`);

    const url2 = await freshDatabase('migrate_fails');
    const dir2 = mkdtempSync(join(tmpdir(), 'migrations-'));
    cpSync(migrationsDir(), dir2, { recursive: true });
    mkdirSync(join(dir2, '99990101000000_broken'));
    writeFileSync(join(dir2, '99990101000000_broken', 'migration.sql'), 'CREATE TABLE half_done (id int);\nSELECT no_such_function();\n');
    await expect(migrate(url2, dir2)).rejects.toThrow(/migration 99990101000000_broken failed/);
    const client = new pg.Client({ connectionString: url2 });
    await client.connect();
    const tables = await client.query(`SELECT to_regclass('half_done') AS t`);
    const rows = await client.query(`SELECT count(*)::int AS n FROM "_prisma_migrations" WHERE migration_name = '99990101000000_broken'`);
    await client.end();
    expect(tables.rows[0].t).toBeNull();
    expect(rows.rows[0].n).toBe(0);
  });
});

describe('ModelFilesCache', () => {
  it('reads a model’s files once, verifies them, forgets a failed load, and keeps at most its capacity', async () => {
    const store = new LocalArtifactStore(mkdtempSync(join(tmpdir(), 'artifacts-')));
    const artifacts = new ArtifactsRepository(db);
    let reads = 0;
    const counting = {
      ...artifacts,
      byName: (jobId: string, name: string) => (reads++, artifacts.byName(jobId, name)),
    } as ArtifactsRepository;
    const manifest = { config: { imageSize: 28, color: 'grey', textureSeed: 7 } };
    async function model(seed: number, report = true, neighbours = false) {
      const cpc = await queuedJob(db);
      const probe = await queuedJob(db, { kind: 'probe', parentJobId: cpc.id });
      const put = async (jobId: string, name: string, bytes: Uint8Array) =>
        recordArtifact(db, jobId, 'encoder', name, await store.put(`${jobId}/${name}`, bytes));
      await put(cpc.id, 'manifest.json', new TextEncoder().encode(JSON.stringify(manifest)));
      for (const name of ['encoder/model.json', 'encoder/weights.bin']) await put(cpc.id, name, new Uint8Array([seed, 1]));
      for (const name of ['probe/mlp/model.json', 'probe/mlp/weights.bin']) await put(probe.id, name, new Uint8Array([seed, 2]));
      if (report)
        await put(probe.id, 'probe/report.json', new TextEncoder().encode(JSON.stringify({ classNames: ['cat', `dog ${seed}`] })));
      if (neighbours) await put(probe.id, 'probe/neighbours.bin', new Uint8Array([seed, 3]));
      return { id: `model-${seed}`, probeJobId: probe.id, cpcJobId: cpc.id, head: 'mlp' };
    }
    const cache = new ModelFilesCache(counting, store, 1);
    const a = await model(1);
    const files = await cache.get(a);
    expect(files).toMatchObject({ style: { imageSize: 28, color: 'grey' }, textureSeed: 7, classNames: ['cat', 'dog 1'] });
    expect(Array.from(files.headWeights)).toEqual([1, 2]);
    // (a probe from before the neighbour indexes has none)
    expect(files.neighbours).toBeUndefined();
    expect(reads).toBe(7);
    await cache.get(a);
    expect(reads).toBe(7); // cached
    const b = await model(2, true, true);
    expect(Array.from((await cache.get(b)).neighbours!)).toEqual([2, 3]); // capacity 1: a is evicted
    await cache.get(a);
    expect(reads).toBe(21);
    // a probe stored without its report: no class names (the outputs are then named by their labels)
    expect((await cache.get(await model(4, false))).classNames).toBeUndefined();

    const missing = { ...(await model(3)), head: 'linear' }; // no linear head was stored
    await expect(cache.get(missing)).rejects.toThrow(/has no artifact probe\/linear\/model.json/);
    const before = reads;
    await expect(cache.get(missing)).rejects.toThrow(/has no artifact/);
    expect(reads).toBeGreaterThan(before); // tried again, not a cached failure
  });
});

describe('JobService', () => {
  it('reads the built-in data set once however many submissions arrive together; a missing one is looked up each time', async () => {
    const datasets = new DatasetsRepository(db);
    let lookups = 0;
    const counting = Object.assign(Object.create(datasets) as DatasetsRepository, {
      get: (id: string, scope: Scope) => (lookups++, datasets.get(id, scope)),
    });
    const service = new JobService(
      db,
      new JobsRepository(db),
      new ExperimentsRepository(db),
      counting,
      new JobQueue(queues, connection, 1),
      {
        IDEMPOTENCY_TTL_MS: 3_600_000,
      },
    );
    const who = { ownerId: DEFAULT_OWNER_ID, scope: { ownerId: DEFAULT_OWNER_ID } };
    type Submission = Parameters<JobService['submit']>[0];
    const config = { batchSize: 8, epochs: 1 };
    // a burst: every submission starts before the first lookup has been answered
    const jobs = await Promise.all(
      Array.from({ length: 40 }, (_, seed) => service.submit({ kind: 'cpc', config: { ...config, seed } } as Submission, who)),
    );
    expect(new Set(jobs.map((j) => j.datasetId))).toEqual(new Set([BUILTIN_DATASET_ID]));
    expect(lookups).toBe(1);
    await service.submit({ kind: 'cpc', config } as Submission, who);
    expect(lookups).toBe(1);
    for (let i = 0; i < 2; i++)
      await expect(service.submit({ kind: 'cpc', datasetId: 'no-such-set', config } as Submission, who)).rejects.toThrow(
        /no data set no-such-set/,
      );
    expect(lookups).toBe(3);
    for (const q of allQueues(queues)) await q.obliterate({ force: true });
  });
});

describe('database errors', () => {
  it('a pool with no connection free in time is told apart from a database that is away', async () => {
    const small = createDb({ DATABASE_URL: t.databaseUrl, PG_QUERY_TIMEOUT_MS: 300, PG_CONNECT_TIMEOUT_MS: 2000 }, 1);
    try {
      let release = () => {};
      const held = small.$transaction(
        async (tx) => {
          await tx.$queryRaw`SELECT 1`;
          await new Promise<void>((resolve) => (release = resolve));
        },
        { timeout: 10_000 },
      );
      await new Promise((r) => setTimeout(r, 100));
      const err = await small.$transaction([small.job.count(), small.job.count()]).catch((e: unknown) => e as Error);
      expect(err).toBeInstanceOf(Error);
      expect(isDatabaseBusy(err as Error)).toBe(true);
      expect(isDatabaseUnavailable(err as Error)).toBe(true); // (a worker records it so)
      release();
      await held;
    } finally {
      await small.$disconnect();
    }
    const away = createDb({ DATABASE_URL: 'postgresql://x:y@127.0.0.1:1/none', PG_QUERY_TIMEOUT_MS: 300, PG_CONNECT_TIMEOUT_MS: 300 }, 1);
    const err = await away.job.count().catch((e: unknown) => e as Error);
    expect([isDatabaseBusy(err as Error), isDatabaseUnavailable(err as Error)]).toEqual([false, true]);
    await away.$disconnect();
  });
});
