-- Tenancy: every API key, experiment, job and model belongs to an owner. Rows that exist
-- before this migration (and the keys made for them) belong to the owner named "default".
CREATE TABLE "owners" (
    "id" UUID NOT NULL,
    "name" TEXT NOT NULL,
    "created_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "owners_pkey" PRIMARY KEY ("id")
);
CREATE UNIQUE INDEX "owners_name_key" ON "owners"("name");
INSERT INTO "owners" ("id", "name") VALUES ('00000000-0000-4000-8000-000000000000', 'default');

ALTER TABLE "api_keys" ADD COLUMN "owner_id" UUID NOT NULL DEFAULT '00000000-0000-4000-8000-000000000000';
ALTER TABLE "api_keys" ALTER COLUMN "owner_id" DROP DEFAULT;
ALTER TABLE "experiments" ADD COLUMN "owner_id" UUID NOT NULL DEFAULT '00000000-0000-4000-8000-000000000000';
ALTER TABLE "experiments" ALTER COLUMN "owner_id" DROP DEFAULT;
ALTER TABLE "jobs" ADD COLUMN "owner_id" UUID NOT NULL DEFAULT '00000000-0000-4000-8000-000000000000';
ALTER TABLE "jobs" ALTER COLUMN "owner_id" DROP DEFAULT;
ALTER TABLE "models" ADD COLUMN "owner_id" UUID NOT NULL DEFAULT '00000000-0000-4000-8000-000000000000';
ALTER TABLE "models" ALTER COLUMN "owner_id" DROP DEFAULT;

-- names are unique per owner, not across owners
DROP INDEX "experiments_name_key";
CREATE UNIQUE INDEX "experiments_owner_id_name_key" ON "experiments"("owner_id", "name");
DROP INDEX "models_name_version_key";
CREATE UNIQUE INDEX "models_owner_id_name_version_key" ON "models"("owner_id", "name", "version");
CREATE INDEX "jobs_owner_id_created_at_idx" ON "jobs"("owner_id", "created_at");

-- Idempotency-Keys are per owner and expire; jobs keep the key they came with, without uniqueness
DROP INDEX "jobs_idempotency_key_key";
CREATE TABLE "idempotency_keys" (
    "owner_id" UUID NOT NULL,
    "key" TEXT NOT NULL,
    "job_id" TEXT NOT NULL,
    "request_hash" TEXT NOT NULL,
    "created_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "idempotency_keys_pkey" PRIMARY KEY ("owner_id", "key")
);
CREATE INDEX "idempotency_keys_created_at_idx" ON "idempotency_keys"("created_at");
INSERT INTO "idempotency_keys" ("owner_id", "key", "job_id", "request_hash", "created_at")
    SELECT "owner_id", "idempotency_key", "id", COALESCE("request_hash", ''), "created_at" FROM "jobs" WHERE "idempotency_key" IS NOT NULL;

ALTER TABLE "api_keys" ADD CONSTRAINT "api_keys_owner_id_fkey" FOREIGN KEY ("owner_id") REFERENCES "owners"("id") ON DELETE RESTRICT ON UPDATE CASCADE;
ALTER TABLE "experiments" ADD CONSTRAINT "experiments_owner_id_fkey" FOREIGN KEY ("owner_id") REFERENCES "owners"("id") ON DELETE RESTRICT ON UPDATE CASCADE;
ALTER TABLE "jobs" ADD CONSTRAINT "jobs_owner_id_fkey" FOREIGN KEY ("owner_id") REFERENCES "owners"("id") ON DELETE RESTRICT ON UPDATE CASCADE;
ALTER TABLE "models" ADD CONSTRAINT "models_owner_id_fkey" FOREIGN KEY ("owner_id") REFERENCES "owners"("id") ON DELETE RESTRICT ON UPDATE CASCADE;
