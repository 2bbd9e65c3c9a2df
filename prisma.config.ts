// Prisma CLI configuration (Prisma 7): schema and migrations here, the
// connection URL from the environment (the runtime client uses @prisma/adapter-pg).
import { defineConfig } from 'prisma/config';

export default defineConfig({
  schema: 'prisma/schema.prisma',
  migrations: { path: 'prisma/migrations' },
  datasource: { url: process.env.DATABASE_URL ?? 'postgresql://localhost/cpc' },
});
