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

// A sandbox child must not outlive its worker: when the IPC channel to the parent closes (the
// worker was killed), stop at once instead of training on as an orphan. Armed when the processor
// module loads (BullMQ loads it as soon as the child starts, before any job), with a poll as a
// second line in case the event is missed.
// A third line: once the parent is gone, every message the child sends fails. BullMQ's own
// uncaughtException handler then tries to report that failure to the parent, which fails again,
// and so on: a loop of rejections that spins at 100 % CPU and starves the event loop, so neither
// the 'disconnect' event nor the poll ever runs (seen in the chaos run: orphans in state R with
// minutes of CPU). Exit synchronously from any uncaught error once the channel is closed.
if (process.send) {
  process.once('disconnect', () => process.exit(1));
  process.on('uncaughtException', () => {
    if (!process.connected) process.exit(1);
  });
  setInterval(() => {
    if (!process.connected) process.exit(1);
  }, 500).unref();
}

let context: Promise<ProcessorContext> | null = null;

export function processorContext(): Promise<ProcessorContext> {
  context ??= (async () => {
    const config = loadConfig();
    const db = createDb({ databaseUrl: config.DATABASE_URL, queryTimeoutMs: config.PG_QUERY_TIMEOUT_MS, connectTimeoutMs: config.PG_CONNECT_TIMEOUT_MS, poolSize: 3 });
    const backend = await initBackend(config.CPC_BACKEND);
    return { config, db, store: new ArtifactStores(config.ARTIFACT_STORE, config.ARTIFACT_DIR, db), backend, host: hostname() };
  })();
  return context;
}
