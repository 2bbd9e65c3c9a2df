/**
 * A real PostgreSQL (and Redis) for tests of the store and the reaper that need no API and no
 * worker: scripts/services.sh in a temporary directory, migrated, with one Prisma client.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServices } from './harness.js';
import { migrate } from '../../src/store/migrate.js';
import { createDb, type Db } from '../../src/store/db.js';
import { createJob, type NewJob } from '../../src/store/jobs.js';
import { DEFAULT_OWNER_ID } from '../../src/store/owners.js';

export interface TestDatabase {
  db: Db;
  databaseUrl: string;
  redisUrl: string;
  dir: string;
  stop(): Promise<void>;
}

export async function startDatabase(): Promise<TestDatabase> {
  const dir = mkdtempSync(join(tmpdir(), 'cpc-store-'));
  const urls = startServices(dir);
  await migrate(urls.DATABASE_URL);
  const db = createDb({ DATABASE_URL: urls.DATABASE_URL, PG_QUERY_TIMEOUT_MS: 10_000, PG_CONNECT_TIMEOUT_MS: 5000 });
  return {
    db,
    databaseUrl: urls.DATABASE_URL,
    redisUrl: urls.REDIS_URL,
    dir,
    async stop() {
      await db.$disconnect();
      spawnSync('bash', [join(import.meta.dirname, '..', '..', 'scripts', 'services.sh'), 'stop'], {
        env: { ...process.env, CPC_LOCAL_DIR: dir },
      });
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** a queued CPC job row (no queue entry) */
export async function queuedJob(db: Db, extra: Partial<NewJob> = {}) {
  const { job } = await createJob(db, {
    ownerId: DEFAULT_OWNER_ID,
    kind: 'cpc',
    config: { seed: 1 },
    seed: 1,
    priority: 50,
    totalSteps: 8,
    ...extra,
  });
  return job;
}
