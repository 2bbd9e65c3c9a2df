/** Where job files live (a local directory or PostgreSQL: ARTIFACT_STORE). */
import fp from 'fastify-plugin';
import type { FastifyInstance } from 'fastify';
import { ArtifactStores, type ArtifactStore } from '../../artifacts/store.js';

declare module 'fastify' {
  interface FastifyInstance {
    artifactStore: ArtifactStore;
  }
}

export default fp(
  async function artifactStore(app: FastifyInstance) {
    app.decorate('artifactStore', new ArtifactStores(app.config.ARTIFACT_STORE, app.config.ARTIFACT_DIR, app.db));
  },
  { name: 'artifact-store', dependencies: ['database'] },
);
