-- Deletions (DELETE /v1/jobs/:id, /v1/experiments/:id, /v1/models/:name/versions/:version).

-- An experiment's streams end when it is deleted, whether it held jobs or not.
CREATE FUNCTION cpc_notify_experiment_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('cpc_exp_' || OLD.id::text, 'deleted');
  RETURN NULL;
END $$;

CREATE TRIGGER experiments_notify_delete AFTER DELETE ON "experiments"
  FOR EACH ROW EXECUTE FUNCTION cpc_notify_experiment_delete();

-- A version number is never handed out twice: the highest each model name has had, kept when that
-- version is deleted (a client pinned to a version never silently gets another model).
CREATE TABLE "model_names" (
    "owner_id" UUID NOT NULL,
    "name" TEXT NOT NULL,
    "last_version" INTEGER NOT NULL,

    CONSTRAINT "model_names_pkey" PRIMARY KEY ("owner_id", "name")
);

INSERT INTO "model_names" ("owner_id", "name", "last_version")
  SELECT "owner_id", "name", max("version") FROM "models" GROUP BY "owner_id", "name";

-- `latest` in a version path is the newest version now: an alias of that name (allowed before) is
-- renamed, so that it stays reachable and removable.
UPDATE "model_aliases" SET "alias" = 'latest-alias' WHERE "alias" = 'latest'
  AND NOT EXISTS (SELECT 1 FROM "model_aliases" m2 WHERE m2."owner_id" = "model_aliases"."owner_id"
                  AND m2."name" = "model_aliases"."name" AND m2."alias" = 'latest-alias');
