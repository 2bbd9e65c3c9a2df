/**
 * API keys. A key is `cpc_<prefix>_<secret>`; Postgres keeps the public
 * prefix (to find the row) and a sha256 of the whole key, never the key. A
 * presented key is hashed and compared in constant time.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { sha256Digest } from '../lib/hash.js';
import type { Db } from './db.js';
import type { ApiKeyScope } from '../generated/prisma/client.js';
import { ensureOwner } from './owners.js';

export const SCOPES: ApiKeyScope[] = ['read', 'write', 'admin'];

export interface ApiKeyIdentity {
  id: string;
  name: string;
  prefix: string;
  scopes: ApiKeyScope[];
  /** the owner whose resources this key sees and changes (admin keys see every owner's) */
  ownerId: string;
}

const KEY_PATTERN = /^cpc_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$/;

function digest(key: string): Buffer {
  return sha256Digest(key);
}

/** admin implies write, write implies read */
export function allows(scopes: ApiKeyScope[], needed: ApiKeyScope): boolean {
  const rank = (s: ApiKeyScope) => SCOPES.indexOf(s);
  return scopes.some((s) => rank(s) >= rank(needed));
}

/** A new key for the owner named `owner` (created if new; by default an owner of the key's own name). */
export async function createApiKey(
  db: Db,
  name: string,
  scopes: ApiKeyScope[],
  owner = name,
): Promise<{ key: string; identity: ApiKeyIdentity; owner: string }> {
  const { id: ownerId } = await ensureOwner(db, owner);
  const prefix = randomBytes(6).toString('hex');
  const key = `cpc_${prefix}_${randomBytes(32).toString('base64url')}`;
  const row = await db.apiKey.create({ data: { name, prefix, hash: digest(key).toString('hex'), scopes, ownerId } });
  return { key, identity: { id: row.id, name, prefix, scopes, ownerId }, owner };
}

/** the public prefix of a well-formed key, else null */
export function keyPrefix(presented: string): string | null {
  return KEY_PATTERN.exec(presented)?.[1] ?? null;
}

/** prefixes of the keys that are not revoked */
export async function activeKeyPrefixes(db: Db): Promise<string[]> {
  return (await db.apiKey.findMany({ where: { revokedAt: null }, select: { prefix: true } })).map((r) => r.prefix);
}

/** The key's identity, or null for a malformed, unknown, revoked or wrong key. */
export async function verifyApiKey(db: Db, presented: string): Promise<ApiKeyIdentity | null> {
  const m = KEY_PATTERN.exec(presented);
  if (!m) return null;
  const row = await db.apiKey.findUnique({ where: { prefix: m[1] } });
  if (!row || row.revokedAt) return null;
  const expected = Buffer.from(row.hash, 'hex');
  const actual = digest(presented);
  if (expected.length !== actual.length || !timingSafeEqual(expected, actual)) return null;
  return { id: row.id, name: row.name, prefix: row.prefix, scopes: row.scopes, ownerId: row.ownerId };
}

export async function revokeApiKey(db: Db, prefix: string): Promise<boolean> {
  const r = await db.apiKey.updateMany({ where: { prefix, revokedAt: null }, data: { revokedAt: new Date() } });
  return r.count === 1;
}

export async function listApiKeys(db: Db) {
  return db.apiKey.findMany({
    orderBy: { createdAt: 'asc' },
    select: {
      name: true,
      prefix: true,
      scopes: true,
      createdAt: true,
      lastUsedAt: true,
      revokedAt: true,
      owner: { select: { name: true } },
    },
  });
}

/** note that the key was used just now */
export async function touchApiKey(db: Db, id: string): Promise<void> {
  await db.apiKey.update({ where: { id }, data: { lastUsedAt: new Date() } });
}
