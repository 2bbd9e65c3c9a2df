/** API entry: config, migrations, the Fastify app, graceful shutdown. */
import closeWithGrace from 'close-with-grace';
import { pathToFileURL } from 'node:url';
import { loadConfig } from './config.js';
import { migrate } from './store/migrate.js';
import { buildApp } from './api/app.js';

export async function startServer() {
  const config = loadConfig();
  await migrate(config.DATABASE_URL);
  const app = await buildApp(config);
  closeWithGrace({ delay: 10_000 }, async ({ signal, err }) => {
    if (err) app.log.error({ err }, 'server crashed');
    app.log.info({ signal }, 'server closing');
    await app.close();
  });
  await app.listen({ host: config.HOST, port: config.PORT });
  return app;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  startServer().catch((err) => {
    console.error(`cpc-api: ${(err as Error).message}`);
    process.exit(1);
  });
}
