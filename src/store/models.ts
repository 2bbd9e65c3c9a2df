/** The model registry: named, versioned probe heads over a CPC encoder, per owner. */
import type { Db } from './db.js';
import type { Prisma } from '../generated/prisma/client.js';
import { NotFound } from './errors.js';
import type { Scope } from './scope.js';

/** every model row comes with its probe job's CPC job (the encoder it serves), data set and report (its class names) */
const WITH_CPC_JOB = { job: { select: { parentJobId: true, datasetId: true, result: true } } } as const;

export type ModelRow = Prisma.ModelGetPayload<{ include: typeof WITH_CPC_JOB }>;

export interface NewModelVersion {
  ownerId: string;
  name: string;
  /** the succeeded probe job whose head it serves */
  jobId: string;
  head: string;
  metrics: Record<string, number | null>;
}

export class ModelsRepository {
  constructor(private readonly db: Db) {}

  /**
   * The next version of the name. One registration of a name at a time (a transaction-scoped
   * advisory lock on owner and name), so concurrent registrations take consecutive versions
   * instead of colliding.
   */
  register(model: NewModelVersion): Promise<ModelRow> {
    const { ownerId, name } = model;
    return this.db.$transaction(async (tx) => {
      await tx.$executeRaw`SELECT pg_advisory_xact_lock(hashtextextended(${`${ownerId}/${name}`}, 0))`;
      const latest = await tx.model.findFirst({ where: { ownerId, name }, orderBy: { version: 'desc' }, select: { version: true } });
      return tx.model.create({ data: { ...model, version: (latest?.version ?? 0) + 1 }, include: WITH_CPC_JOB });
    });
  }

  /** the latest version of every name the scope may see */
  listLatest(scope: Scope): Promise<ModelRow[]> {
    return this.db.model.findMany({
      where: scope,
      orderBy: [{ ownerId: 'asc' }, { name: 'asc' }, { version: 'desc' }],
      distinct: ['ownerId', 'name'],
      include: WITH_CPC_JOB,
    });
  }

  /** one of the owner's versions (or its latest); NotFound when there is none */
  async get(ownerId: string, name: string, version?: number): Promise<ModelRow> {
    const model = await this.db.model.findFirst({
      where: { ownerId, name, ...(version ? { version } : {}) },
      orderBy: { version: 'desc' },
      include: WITH_CPC_JOB,
    });
    if (!model) throw new NotFound(version ? `no model ${name} version ${version}` : `no model ${name}`);
    return model;
  }
}
