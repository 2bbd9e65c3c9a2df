/** The OpenAPI document generated from the route schemas (the contract is openapi.yaml at the root). */
import { loadConfig } from '../config.js';
import { buildApp } from './app.js';

export async function openapiYaml(): Promise<string> {
  const config = loadConfig({ DATABASE_URL: 'postgresql://offline/cpc', REDIS_URL: 'redis://offline:6379' });
  const app = await buildApp(config, { logger: false, offline: true });
  await app.ready();
  const yaml = (app as unknown as { swagger(opts: { yaml: true }): string }).swagger({ yaml: true });
  await app.close();
  return yaml;
}
