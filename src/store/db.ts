/** The Prisma client over node-postgres (driver adapter: no engine binary), with fast-failing timeouts. */
import { PrismaPg } from '@prisma/adapter-pg';
import { PrismaClient } from '../generated/prisma/client.js';

export type Db = PrismaClient;

/** the settings it is made from (the service config's names: pass the config itself) */
export interface DbSettings {
  DATABASE_URL: string;
  PG_QUERY_TIMEOUT_MS: number;
  PG_CONNECT_TIMEOUT_MS: number;
}

/** The one place a database client is made: the API's pool is larger than a worker's (poolSize). */
export function createDb(settings: DbSettings, poolSize = 10): Db {
  const adapter = new PrismaPg({
    connectionString: settings.DATABASE_URL,
    max: poolSize,
    connectionTimeoutMillis: settings.PG_CONNECT_TIMEOUT_MS,
    query_timeout: settings.PG_QUERY_TIMEOUT_MS,
    statement_timeout: settings.PG_QUERY_TIMEOUT_MS,
  });
  // a transaction waits as long for a free connection as a query may run (Prisma's default is 2 s):
  // a burst of submissions then takes its turn in the pool instead of failing after 2 s
  return new PrismaClient({ adapter, transactionOptions: { maxWait: settings.PG_QUERY_TIMEOUT_MS } });
}

/** a round trip to PostgreSQL (readiness checks) */
export async function ping(db: Db): Promise<void> {
  await db.$queryRaw`SELECT 1`;
}
