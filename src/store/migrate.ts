/**
 * Applies the committed Prisma migrations (prisma/migrations/<name>/migration.sql)
 * without the Prisma schema engine, keeping `_prisma_migrations` in Prisma's
 * own format so `prisma migrate deploy` agrees elsewhere. Serialised across
 * processes with an advisory lock, each migration in its own transaction.
 */
import pg from 'pg';
import { randomUUID } from 'node:crypto';
import { sha256Hex } from '../lib/hash.js';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const LOCK_KEY = 727_318_001;

export function migrationsDir(): string {
  return resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', 'prisma', 'migrations');
}

export interface MigrationResult {
  applied: string[];
  alreadyApplied: string[];
}

const CREATE_TABLE = `CREATE TABLE IF NOT EXISTS "_prisma_migrations" (
  "id" VARCHAR(36) PRIMARY KEY NOT NULL,
  "checksum" VARCHAR(64) NOT NULL,
  "finished_at" TIMESTAMPTZ,
  "migration_name" VARCHAR(255) NOT NULL,
  "logs" TEXT,
  "rolled_back_at" TIMESTAMPTZ,
  "started_at" TIMESTAMPTZ NOT NULL DEFAULT now(),
  "applied_steps_count" INTEGER NOT NULL DEFAULT 0
)`;

export async function migrate(databaseUrl: string, dir = migrationsDir()): Promise<MigrationResult> {
  const names = readdirSync(dir, { withFileTypes: true })
    .filter((d) => d.isDirectory() && existsSync(join(dir, d.name, 'migration.sql')))
    .map((d) => d.name)
    .sort();
  const client = new pg.Client({ connectionString: databaseUrl, connectionTimeoutMillis: 10_000 });
  await client.connect();
  const result: MigrationResult = { applied: [], alreadyApplied: [] };
  try {
    await client.query('SELECT pg_advisory_lock($1)', [LOCK_KEY]);
    await client.query(CREATE_TABLE);
    const { rows } = await client.query<{
      migration_name: string;
      checksum: string;
      finished_at: Date | null;
      rolled_back_at: Date | null;
    }>('SELECT migration_name, checksum, finished_at, rolled_back_at FROM "_prisma_migrations"');
    for (const name of names) {
      const sql = readFileSync(join(dir, name, 'migration.sql'), 'utf8');
      const checksum = sha256Hex(sql);
      const row = rows.find((r) => r.migration_name === name && r.rolled_back_at === null);
      if (row?.finished_at) {
        if (row.checksum !== checksum) throw new Error(`migration ${name} was modified after it was applied`);
        result.alreadyApplied.push(name);
        continue;
      }
      if (row) throw new Error(`migration ${name} failed earlier and needs manual resolution (see _prisma_migrations)`);
      const id = randomUUID();
      await client.query('BEGIN');
      try {
        await client.query(sql);
        await client.query(
          'INSERT INTO "_prisma_migrations" (id, checksum, migration_name, started_at, finished_at, applied_steps_count) VALUES ($1, $2, $3, now(), now(), 1)',
          [id, checksum, name],
        );
        await client.query('COMMIT');
        result.applied.push(name);
      } catch (err) {
        await client.query('ROLLBACK');
        throw new Error(`migration ${name} failed: ${(err as Error).message}`, { cause: err });
      }
    }
    return result;
  } finally {
    await client.query('SELECT pg_advisory_unlock($1)', [LOCK_KEY]).catch(() => undefined);
    await client.end();
  }
}
