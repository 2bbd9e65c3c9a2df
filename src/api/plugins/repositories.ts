/**
 * The repositories (as in the fastify demo app): handlers read and write through these and
 * never through the database client; each owns its queries and says what went wrong in the
 * store's terms (store/errors.ts), which plugins/errors.ts maps to HTTP. The job service keeps
 * the queue in step with the records (submit, cancel, retry).
 */
import fp from 'fastify-plugin';
import type { FastifyInstance } from 'fastify';
import { JobsRepository } from '../../store/jobs.js';
import { ExperimentsRepository } from '../../store/experiments.js';
import { ModelsRepository } from '../../store/models.js';
import { ArtifactsRepository } from '../../store/artifacts.js';
import { DatasetsRepository } from '../../store/datasets.js';
import { DeletionRepository } from '../../store/deletion.js';
import { JobService } from '../job-service.js';

declare module 'fastify' {
  interface FastifyInstance {
    jobs: JobsRepository;
    experiments: ExperimentsRepository;
    models: ModelsRepository;
    artifacts: ArtifactsRepository;
    datasets: DatasetsRepository;
    deletion: DeletionRepository;
    jobService: JobService;
  }
}

export default fp(
  async function repositories(app: FastifyInstance) {
    app.decorate('jobs', new JobsRepository(app.db));
    app.decorate('experiments', new ExperimentsRepository(app.db));
    app.decorate('models', new ModelsRepository(app.db));
    app.decorate('artifacts', new ArtifactsRepository(app.db));
    app.decorate('datasets', new DatasetsRepository(app.db));
    app.decorate('deletion', new DeletionRepository(app.db));
    app.decorate('jobService', new JobService(app.db, app.jobs, app.experiments, app.datasets, app.queue, app.config));
  },
  { name: 'repositories', dependencies: ['database', 'queue'] },
);
