/** The PostgreSQL client (Prisma over node-postgres), made from config and closed with the app. */
import fp from 'fastify-plugin';
import type { FastifyInstance } from 'fastify';
import { createDb, type Db } from '../../store/db.js';

declare module 'fastify' {
  interface FastifyInstance {
    db: Db;
  }
}

export default fp(
  async function database(app: FastifyInstance) {
    const db = createDb(app.config);
    app.decorate('db', db);
    app.addHook('onClose', async () => db.$disconnect());
  },
  { name: 'database' },
);
