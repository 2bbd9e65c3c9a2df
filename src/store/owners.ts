/** Owners (tenants). Rows made before tenancy, and keys made without an owner, belong to "default". */
import type { Db } from './db.js';

/** the owner the tenancy migration created for the rows that existed before it */
export const DEFAULT_OWNER_ID = '00000000-0000-4000-8000-000000000000';

/** the owner with this name, created if it does not exist yet */
export async function ensureOwner(db: Db, name: string): Promise<{ id: string; name: string }> {
  return db.owner.upsert({ where: { name }, create: { name }, update: {}, select: { id: true, name: true } });
}
