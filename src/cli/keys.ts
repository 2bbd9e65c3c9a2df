/**
 * `cpc keys create|list|revoke`: API-key administration straight against
 * Postgres (DATABASE_URL), the only way to mint the first key.
 */
import { Command } from 'commander';
import { createDb, type Db } from '../store/db.js';
import { migrate } from '../store/migrate.js';
import { createApiKey, listApiKeys, revokeApiKey, SCOPES } from '../store/api-keys.js';
import type { ApiKeyScope } from '../generated/prisma/client.js';
import { UsageError } from './usage-error.js';

async function withDb<T>(f: (db: Db) => Promise<T>): Promise<T> {
  const databaseUrl = process.env.DATABASE_URL;
  if (!databaseUrl) throw new UsageError('DATABASE_URL is not set (scripts/services.sh env prints it for the local services)');
  await migrate(databaseUrl);
  const db = createDb({ databaseUrl, queryTimeoutMs: 10_000, connectTimeoutMs: 5000, poolSize: 1 });
  try {
    return await f(db);
  } finally {
    await db.$disconnect();
  }
}

const OWNER_NAME = /^[A-Za-z0-9._-]{1,100}$/;

function parseScopes(value: string): ApiKeyScope[] {
  const scopes = value.split(',').map((s) => s.trim());
  const bad = scopes.filter((s) => !SCOPES.includes(s as ApiKeyScope));
  if (bad.length || !scopes.length) throw new UsageError(`--scopes takes a comma list of ${SCOPES.join(', ')}; got ${value}`);
  return scopes as ApiKeyScope[];
}

export function keysCommand(): Command {
  const keys = new Command('keys').description('API keys (needs DATABASE_URL)');
  keys
    .command('create')
    .description('create a key and print it once (only its hash is stored)')
    .requiredOption('--name <name>', 'who or what the key is for')
    .option('--scopes <list>', `comma list of ${SCOPES.join(', ')}`, 'read')
    .option('--owner <name>', 'the owner (tenant) whose resources the key sees and changes; made if new (default: the key name)')
    .option('--json', 'print {key, name, prefix, scopes, owner} as JSON')
    .action((f: { name: string; scopes: string; owner?: string; json?: boolean }) =>
      withDb(async (db) => {
        if (f.owner !== undefined && !OWNER_NAME.test(f.owner)) throw new UsageError(`--owner must be 1-100 letters, digits, '.', '_' or '-'; got ${JSON.stringify(f.owner)}`);
        const { key, identity, owner } = await createApiKey(db, f.name, parseScopes(f.scopes), f.owner ?? f.name);
        process.stdout.write(f.json ? JSON.stringify({ key, name: identity.name, prefix: identity.prefix, scopes: identity.scopes, owner }) + '\n' : `${key}\n`);
      }),
    );
  keys
    .command('list')
    .description('list keys (prefix, scopes, use; never the key)')
    .action(() => withDb(async (db) => void process.stdout.write(JSON.stringify(await listApiKeys(db), null, 1) + '\n')));
  keys
    .command('revoke')
    .description('revoke a key by its prefix (the 12 hex digits after cpc_)')
    .argument('<prefix>')
    .action((prefix: string) =>
      withDb(async (db) => {
        if (!(await revokeApiKey(db, prefix))) throw new UsageError(`no active key with prefix ${prefix}`);
        process.stdout.write(`revoked ${prefix}\n`);
      }),
    );
  return keys;
}
