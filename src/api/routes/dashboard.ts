/**
 * The dashboard at / (its source is src/dashboard; `npm run build:dashboard`
 * writes what is served here). Only the files that exist at start are routes,
 * so unknown paths keep the API's 404. Before a build, / says how to make one.
 */
import type { FastifyPluginAsync } from 'fastify';
import fastifyStatic from '@fastify/static';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { HttpError } from '../plugins/errors.js';

/** <root>/dist/dashboard, from src/api/routes (tsx) and from dist/api/routes (built) alike */
export const DASHBOARD_DIR = join(import.meta.dirname, '..', '..', '..', 'dist', 'dashboard');

const dashboard: FastifyPluginAsync<{ dir?: string }> = async (app, options) => {
  const dir = options.dir ?? DASHBOARD_DIR;
  if (!existsSync(join(dir, 'index.html'))) {
    app.get('/', { schema: { hide: true } }, async () => {
      throw new HttpError(
        503,
        'the dashboard is not built: run `npm run build:dashboard` (the quickstart does), then restart the API',
        undefined,
        {
          code: 'dashboard_not_built',
        },
      );
    });
    return;
  }
  await app.register(fastifyStatic, {
    root: dir,
    prefix: '/',
    wildcard: false,
    index: ['index.html'],
    decorateReply: false,
    schemaHide: true,
  });
};

export default dashboard;
