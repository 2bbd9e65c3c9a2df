/**
 * Service configuration from the environment, validated at start (env-schema
 * + TypeBox). One schema for the API and the workers.
 */
import { envSchema } from 'env-schema';
import { Type, type Static } from 'typebox';
import { resolve } from 'node:path';

export const ConfigSchema = Type.Object({
  DATABASE_URL: Type.String({ pattern: '^postgres(ql)?://', description: 'PostgreSQL connection URL' }),
  REDIS_URL: Type.String({ pattern: '^rediss?://', description: 'Redis connection URL' }),
  HOST: Type.String({ default: '127.0.0.1' }),
  PORT: Type.Integer({ default: 3000, minimum: 0, maximum: 65535 }),
  LOG_LEVEL: Type.Union([Type.Literal('fatal'), Type.Literal('error'), Type.Literal('warn'), Type.Literal('info'), Type.Literal('debug'), Type.Literal('trace'), Type.Literal('silent')], { default: 'info' }),
  ARTIFACT_STORE: Type.Union([Type.Literal('local'), Type.Literal('postgres')], { default: 'local' }),
  ARTIFACT_DIR: Type.String({ default: '.local/artifacts' }),
  WORKER_CONCURRENCY: Type.Integer({ default: 1, minimum: 1, maximum: 64 }),
  CPC_BACKEND: Type.Union([Type.Literal('auto'), Type.Literal('node-gpu'), Type.Literal('node'), Type.Literal('wasm'), Type.Literal('cpu')], { default: 'auto' }),
  /** data-parallel threads per training job (0 = one per core) */
  TRAIN_WORKERS: Type.Integer({ default: 0, minimum: 0, maximum: 64 }),
  METRICS_EVERY: Type.Integer({ default: 10, minimum: 1, description: 'steps between metric rows' }),
  PG_QUERY_TIMEOUT_MS: Type.Integer({ default: 5000, minimum: 100 }),
  PG_CONNECT_TIMEOUT_MS: Type.Integer({ default: 2000, minimum: 100 }),
  MODEL_CACHE_SIZE: Type.Integer({ default: 4, minimum: 1 }),
  QUEUE_PREFIX: Type.String({ default: 'cpc' }),
});

export type ServiceConfig = Static<typeof ConfigSchema>;

export class ConfigurationError extends Error {
  constructor(message: string) {
    super(`invalid configuration: ${message}`);
    this.name = 'ConfigurationError';
  }
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): ServiceConfig {
  try {
    const config = envSchema<ServiceConfig>({ schema: ConfigSchema, data: env, dotenv: false });
    return { ...config, ARTIFACT_DIR: resolve(config.ARTIFACT_DIR) };
  } catch (err) {
    throw new ConfigurationError((err as Error).message);
  }
}
