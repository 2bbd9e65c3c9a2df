/** The experiments repository: an owner's named groups of jobs. */
import type { Db } from './db.js';
import { Conflict, isUniqueViolation, NotFound } from './errors.js';
import type { Page, Scope } from './scope.js';

export class ExperimentsRepository {
  constructor(private readonly db: Db) {}

  /** a new experiment; Conflict (with the existing id) when the owner has one of that name */
  async create(ownerId: string, name: string, description: string) {
    const taken = () => this.db.experiment.findUnique({ where: { ownerId_name: { ownerId, name } }, select: { id: true } });
    const existing = await taken();
    if (existing) throw new Conflict(`an experiment named "${name}" exists`, { id: existing.id });
    try {
      return await this.db.experiment.create({ data: { ownerId, name, description } });
    } catch (err) {
      // a concurrent request took the name between the look and the insert
      if (isUniqueViolation(err)) throw new Conflict(`an experiment named "${name}" exists`, { id: (await taken())?.id });
      throw err;
    }
  }

  async get(id: string, scope: Scope) {
    const experiment = await this.db.experiment.findFirst({ where: { id, ...scope } });
    if (!experiment) throw new NotFound(`no experiment ${id}`);
    return experiment;
  }

  async list(page: Page, scope: Scope) {
    const [items, total] = await Promise.all([
      this.db.experiment.findMany({ where: scope, orderBy: { createdAt: 'desc' }, take: page.limit, skip: page.offset }),
      this.db.experiment.count({ where: scope }),
    ]);
    return { items, total };
  }
}
