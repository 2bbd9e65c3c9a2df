-- Model aliases: a name per owner and model (production, staging, ...) that points at one of its
-- versions; moved by PUT, gone with the version it points at.
CREATE TABLE "model_aliases" (
    "owner_id" UUID NOT NULL,
    "name" TEXT NOT NULL,
    "alias" TEXT NOT NULL,
    "version" INTEGER NOT NULL,
    "updated_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "model_aliases_pkey" PRIMARY KEY ("owner_id", "name", "alias")
);
ALTER TABLE "model_aliases" ADD CONSTRAINT "model_aliases_owner_id_name_version_fkey" FOREIGN KEY ("owner_id", "name", "version") REFERENCES "models"("owner_id", "name", "version") ON DELETE CASCADE ON UPDATE CASCADE;
