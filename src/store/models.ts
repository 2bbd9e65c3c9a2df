/** The model registry: named, versioned probe heads over a CPC encoder, per owner. */
import type { Db } from './db.js';
import type { Prisma } from '../generated/prisma/client.js';
import { isForeignKeyViolation, NotFound } from './errors.js';
import type { Scope } from './scope.js';

/** every model row comes with its probe job's CPC job (the encoder it serves), data set and report (its class names) */
const WITH_CPC_JOB = {
  job: { select: { parentJobId: true, datasetId: true, result: true, parent: { select: { config: true } } } },
  aliases: { select: { alias: true }, orderBy: { alias: 'asc' } },
} as const;

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
    return this.db
      .$transaction(async (tx) => {
        await tx.$executeRaw`SELECT pg_advisory_xact_lock(hashtextextended(${`${ownerId}/${name}`}, 0))`;
        const latest = await tx.model.findFirst({ where: { ownerId, name }, orderBy: { version: 'desc' }, select: { version: true } });
        // (after the highest version the name has had, deleted or not)
        const had = await tx.modelName.findUnique({ where: { ownerId_name: { ownerId, name } } });
        const version = Math.max(latest?.version ?? 0, had?.lastVersion ?? 0) + 1;
        await tx.modelName.upsert({
          where: { ownerId_name: { ownerId, name } },
          create: { ownerId, name, lastVersion: version },
          update: { lastVersion: version },
        });
        return tx.model.create({ data: { ...model, version }, include: WITH_CPC_JOB });
      })
      .catch((err: unknown) => {
        // the job was deleted meanwhile
        if (isForeignKeyViolation(err)) throw new NotFound(`no job ${model.jobId}`);
        throw err;
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

  /** every version of one of the owner's models, newest first (NotFound when it has none) */
  async versions(ownerId: string, name: string): Promise<ModelRow[]> {
    const rows = await this.db.model.findMany({ where: { ownerId, name }, orderBy: { version: 'desc' }, include: WITH_CPC_JOB });
    if (!rows.length) throw new NotFound(`no model ${name}`);
    return rows;
  }

  /**
   * One of the owner's versions: a version number, an alias, or (none given) the latest;
   * NotFound when there is no such version or alias.
   */
  async get(ownerId: string, name: string, ref?: number | string): Promise<ModelRow> {
    let version = typeof ref === 'number' ? ref : undefined;
    if (typeof ref === 'string') {
      const alias = await this.db.modelAlias.findUnique({ where: { ownerId_name_alias: { ownerId, name, alias: ref } } });
      if (!alias) throw new NotFound(`model ${name} has no alias ${ref}`);
      version = alias.version;
    }
    const model = await this.db.model.findFirst({
      where: { ownerId, name, ...(version ? { version } : {}) },
      orderBy: { version: 'desc' },
      include: WITH_CPC_JOB,
    });
    if (!model) throw new NotFound(version ? `no model ${name} version ${version}` : `no model ${name}`);
    return model;
  }

  /** point the alias at a version (moving it if it pointed elsewhere); NotFound when there is no such version */
  async setAlias(ownerId: string, name: string, alias: string, version: number): Promise<void> {
    try {
      await this.db.modelAlias.upsert({
        where: { ownerId_name_alias: { ownerId, name, alias } },
        create: { ownerId, name, alias, version },
        update: { version },
      });
    } catch (err) {
      if (isForeignKeyViolation(err)) throw new NotFound(`no model ${name} version ${version}`);
      throw err;
    }
  }

  /** remove the alias; NotFound when there was none */
  async removeAlias(ownerId: string, name: string, alias: string): Promise<void> {
    const { count } = await this.db.modelAlias.deleteMany({ where: { ownerId, name, alias } });
    if (!count) throw new NotFound(`model ${name} has no alias ${alias}`);
  }
}
