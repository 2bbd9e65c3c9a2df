/**
 * Who may see what. Every experiment, job (with its metrics, events and
 * artifacts) and model has an owner; an API key acts for its owner, and an
 * admin key sees every owner's resources. A resource another owner holds
 * answers 404, exactly like one that does not exist, so ids and names do not
 * leak. Anonymous requests reach reads only when READS_REQUIRE_KEY=false,
 * which makes every resource public; with AUTH=off everything belongs to the
 * default owner.
 */
import type { FastifyRequest } from 'fastify';
import { DEFAULT_OWNER_ID } from '../store/owners.js';

/** the Prisma filter of the resources this request may see */
export function visibleTo(req: FastifyRequest): { ownerId?: string } {
  const key = req.apiKey;
  if (!key || key.scopes.includes('admin')) return {};
  return { ownerId: key.ownerId };
}

/** the owner that new resources of this request belong to, and whose names (models, experiments) it uses */
export function ownerOf(req: FastifyRequest): string {
  return req.apiKey?.ownerId ?? DEFAULT_OWNER_ID;
}
