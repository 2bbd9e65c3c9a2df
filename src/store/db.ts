/** The Prisma client over node-postgres (driver adapter: no engine binary), with fast-failing timeouts. */
import { PrismaPg } from '@prisma/adapter-pg';
import { PrismaClient } from '../generated/prisma/client.js';

export type Db = PrismaClient;

export interface DbOptions {
  databaseUrl: string;
  queryTimeoutMs: number;
  connectTimeoutMs: number;
  poolSize?: number;
}

export function createDb(options: DbOptions): Db {
  const adapter = new PrismaPg({
    connectionString: options.databaseUrl,
    max: options.poolSize ?? 10,
    connectionTimeoutMillis: options.connectTimeoutMs,
    query_timeout: options.queryTimeoutMs,
    statement_timeout: options.queryTimeoutMs,
  });
  return new PrismaClient({ adapter });
}
