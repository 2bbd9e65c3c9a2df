/** What a sandboxed processor needs, created once per child process. */
import { hostname } from 'node:os';
import { loadConfig, type ServiceConfig } from '../config.js';
import { createDb, type Db } from '../store/db.js';
import { ArtifactStores } from '../artifacts/store.js';
import { initBackend, type BackendInfo } from '../cpc/backend.js';

export interface ProcessorContext {
  config: ServiceConfig;
  db: Db;
  store: ArtifactStores;
  backend: BackendInfo;
  host: string;
}

let context: Promise<ProcessorContext> | null = null;

export function processorContext(): Promise<ProcessorContext> {
  context ??= (async () => {
    const config = loadConfig();
    const db = createDb(config, 3);
    const backend = await initBackend(config.CPC_BACKEND, { threads: config.TRAIN_THREADS });
    return { config, db, store: new ArtifactStores(config.ARTIFACT_STORE, config.ARTIFACT_DIR, db), backend, host: hostname() };
  })();
  return context;
}
