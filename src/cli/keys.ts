/**
 * `cpc keys create|list|revoke`: API-key administration straight against
 * Postgres (DATABASE_URL), the only way to mint the first key.
 */
import { Command } from 'commander';
import type { Db } from '../store/db.js';
import { createApiKey, listApiKeys, revokeApiKey, SCOPES } from '../store/api-keys.js';
import type { ApiKeyScope } from '../generated/prisma/client.js';
import { UsageError } from './usage-error.js';

async function withDb<T>(f: (db: Db) => Promise<T>): Promise<T> {
  const databaseUrl = process.env.DATABASE_URL;
  if (!databaseUrl) throw new UsageError('DATABASE_URL is not set (scripts/services.sh env prints it for the local services)');
  // the database client is loaded only here: the engine commands (train, bench, ...) never need it,
  // nor `npm run generate` before they run
  const [{ createDb }, { migrate }] = await Promise.all([import('../store/db.js'), import('../store/migrate.js')]);
  await migrate(databaseUrl);
  const db = createDb({ DATABASE_URL: databaseUrl, PG_QUERY_TIMEOUT_MS: 10_000, PG_CONNECT_TIMEOUT_MS: 5000 }, 1);
  try {
    return await f(db);
  } finally {
    await db.$disconnect();
  }
}

const OWNER_NAME = /^[A-Za-z0-9._-]{1,100}$/;
// (and the invisible or direction-changing ones: zero-width, bidi controls, line/paragraph separators, BOM)
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]/;
const printable = (text: string) => text.replace(new RegExp(CONTROL.source, 'g'), '?');

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
        // (control characters would reach terminals through `keys list` and logs)
        if (!f.name.trim() || f.name.length > 200 || CONTROL.test(f.name))
          throw new UsageError(`--name must be 1-200 printable characters, not blank; got ${JSON.stringify(f.name)}`);
        const ownerName = f.owner ?? f.name;
        if (!OWNER_NAME.test(ownerName)) {
          const flag = f.owner === undefined ? '--owner (by default the --name)' : '--owner';
          throw new UsageError(
            `${flag} must be 1-100 letters, digits, '.', '_' or '-'; got ${JSON.stringify(ownerName)}${f.owner === undefined ? '; pass --owner' : ''}`,
          );
        }
        const { key, identity, owner } = await createApiKey(db, f.name, parseScopes(f.scopes), ownerName);
        process.stdout.write(
          f.json
            ? JSON.stringify({ key, name: identity.name, prefix: identity.prefix, scopes: identity.scopes, owner }) + '\n'
            : `${key}\n`,
        );
      }),
    );
  keys
    .command('list')
    .description('list keys (prefix, scopes, owner, use; never the key)')
    .option('--json', 'print the list as JSON')
    .action((f: { json?: boolean }) =>
      withDb(async (db) => {
        const rows = await listApiKeys(db);
        if (f.json) return void process.stdout.write(JSON.stringify(rows) + '\n');
        const when = (d: Date | null) => (d ? d.toISOString().slice(0, 19) + 'Z' : '-');
        const table = [['PREFIX', 'NAME', 'OWNER', 'SCOPES', 'CREATED', 'LAST USED', 'REVOKED']];
        for (const r of rows)
          table.push([
            r.prefix,
            printable(r.name),
            r.owner.name,
            r.scopes.join(','),
            when(r.createdAt),
            when(r.lastUsedAt),
            when(r.revokedAt),
          ]);
        const widths = table[0].map((_, i) => Math.max(...table.map((row) => row[i].length)));
        process.stdout.write(
          table
            .map((row) =>
              row
                .map((cell, i) => cell.padEnd(widths[i]))
                .join('  ')
                .trimEnd(),
            )
            .join('\n') + '\n',
        );
      }),
    );
  keys
    .command('revoke')
    .description('revoke a key by its prefix (the 12 hex digits after cpc_)')
    .argument('<prefix>')
    .option('--json', 'print {revoked: prefix} as JSON')
    .action((prefix: string, f: { json?: boolean }) =>
      withDb(async (db) => {
        if (!(await revokeApiKey(db, prefix))) throw new UsageError(`no active key with prefix ${prefix}`);
        process.stdout.write(f.json ? JSON.stringify({ revoked: prefix }) + '\n' : `revoked ${prefix}\n`);
      }),
    );
  // parse errors exit 2 like every other command's (exitOverride is not inherited through addCommand)
  for (const command of [keys, ...keys.commands]) command.exitOverride();
  return keys;
}
