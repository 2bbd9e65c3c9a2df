/**
 * The data sets repository. An owner sees its own data sets and the built-in
 * ones (no owner: the vendored MNIST); admin keys see every owner's. A data
 * set is immutable once stored; it is deleted only while no job names it
 * (jobs keep their data set for retries, resumes and the models made from
 * them), and the foreign key from jobs holds that even against a job created
 * while the delete runs.
 */
import { randomBytes } from 'node:crypto';
import type { Db } from './db.js';
import type { Prisma } from '../generated/prisma/client.js';
import { Conflict, isForeignKeyViolation, isUniqueViolation, NotFound } from './errors.js';
import type { Page, Scope } from './scope.js';

export const BUILTIN_DATASET_ID = 'mnist';

export interface StoredDatasetFile {
  name: string;
  uri: string;
  bytes: number;
  sha256: string;
}

export type DatasetRow = Prisma.DatasetGetPayload<object>;

export type NewDataset = Omit<Prisma.DatasetUncheckedCreateInput, 'id' | 'createdAt' | 'files'> & {
  ownerId: string;
  files: StoredDatasetFile[];
};

export const newDatasetId = () => `ds_${randomBytes(12).toString('hex')}`;

/** the rows a scope may see: its owner's and the built-in ones (every row for `{}`) */
const visible = (scope: Scope): Prisma.DatasetWhereInput => (scope.ownerId ? { OR: [{ ownerId: scope.ownerId }, { ownerId: null }] } : {});

export const filesOf = (row: DatasetRow) => row.files as unknown as StoredDatasetFile[];

export class DatasetsRepository {
  constructor(private readonly db: Db) {}

  /** the owner's data set with this content, if it uploaded it before */
  findByChecksum(ownerId: string, checksum: string): Promise<DatasetRow | null> {
    return this.db.dataset.findFirst({ where: { ownerId, checksum } });
  }

  /** Conflict (with the existing id) when the owner has a data set of that name */
  async checkNameFree(ownerId: string, name: string): Promise<void> {
    const existing = await this.db.dataset.findUnique({ where: { ownerId_name: { ownerId, name } }, select: { id: true } });
    if (existing) throw new Conflict(`a data set named "${name}" exists`, { id: existing.id });
  }

  /**
   * The new row, or (`created: false`) the owner's row with the same content that a concurrent
   * upload recorded first; Conflict when the name is taken.
   */
  async create(id: string, data: NewDataset): Promise<{ row: DatasetRow; created: boolean }> {
    await this.checkNameFree(data.ownerId, data.name);
    try {
      return {
        row: await this.db.dataset.create({ data: { ...data, id, files: data.files as unknown as Prisma.InputJsonValue } }),
        created: true,
      };
    } catch (err) {
      if (!isUniqueViolation(err)) throw err;
      // a concurrent upload recorded the same content, or took the name, between the look and the insert
      const same = await this.findByChecksum(data.ownerId, data.checksum);
      if (same) return { row: same, created: false };
      await this.checkNameFree(data.ownerId, data.name);
      throw err;
    }
  }

  async get(id: string, scope: Scope): Promise<DatasetRow> {
    const row = await this.db.dataset.findFirst({ where: { AND: [{ id }, visible(scope)] } });
    if (!row) throw new NotFound(`no data set ${id}`);
    return row;
  }

  async list(page: Page, scope: Scope) {
    const where = visible(scope);
    const [items, total] = await Promise.all([
      // the built-in ones first, then the newest
      this.db.dataset.findMany({
        where,
        orderBy: [{ ownerId: { sort: 'asc', nulls: 'first' } }, { createdAt: 'desc' }],
        take: page.limit,
        skip: page.offset,
      }),
      this.db.dataset.count({ where }),
    ]);
    return { items, total };
  }

  /**
   * Delete a data set no job names; returns its stored files (for the caller to remove). Conflict
   * for a built-in one, and while jobs (and so the models made from them) name it.
   */
  async delete(id: string, scope: Scope): Promise<StoredDatasetFile[]> {
    const row = await this.get(id, scope);
    if (row.ownerId === null) throw new Conflict(`the built-in data set ${id} cannot be deleted`);
    const inUse = async () => {
      const [jobs, models] = await Promise.all([
        this.db.job.count({ where: { datasetId: id } }),
        this.db.model.count({ where: { job: { OR: [{ datasetId: id }, { parent: { datasetId: id } }] } } }),
      ]);
      return new Conflict(
        `data set ${id} is used by ${jobs} job(s) and ${models} registered model version(s); it can be deleted only while none uses it`,
        {
          jobs,
          models,
        },
      );
    };
    try {
      const r = await this.db.dataset.deleteMany({ where: { id, ownerId: row.ownerId } });
      if (r.count === 0) throw new NotFound(`no data set ${id}`);
    } catch (err) {
      if (isForeignKeyViolation(err)) throw await inUse();
      throw err;
    }
    return filesOf(row);
  }
}
