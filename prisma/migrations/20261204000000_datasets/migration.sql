-- Data sets: labelled image sets jobs train and probe on. The built-in MNIST is a row too (no
-- owner: every owner's), and every job names its data set (jobs before this one trained on MNIST).
CREATE TABLE "datasets" (
    "id" TEXT NOT NULL,
    "owner_id" UUID,
    "name" TEXT NOT NULL,
    "format" TEXT NOT NULL,
    "class_names" TEXT[],
    "counts" JSONB NOT NULL,
    "image_width" INTEGER NOT NULL,
    "image_height" INTEGER NOT NULL,
    "channels" INTEGER NOT NULL,
    "split" JSONB NOT NULL,
    "checksum" TEXT NOT NULL,
    "files" JSONB NOT NULL,
    "upload_bytes" BIGINT,
    "created_by" TEXT,
    "created_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "datasets_pkey" PRIMARY KEY ("id")
);

CREATE UNIQUE INDEX "datasets_owner_id_name_key" ON "datasets"("owner_id", "name");
CREATE INDEX "datasets_owner_id_checksum_idx" ON "datasets"("owner_id", "checksum");
ALTER TABLE "datasets" ADD CONSTRAINT "datasets_owner_id_fkey" FOREIGN KEY ("owner_id") REFERENCES "owners"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- the vendored MNIST (data/mnist): checksum = sha256 of its SHA256SUMS; counts of the first 50k
-- training images (train), the last 10k (valid) and the test file, per digit
INSERT INTO "datasets" ("id", "owner_id", "name", "format", "class_names", "counts", "image_width", "image_height", "channels", "split", "checksum", "files")
VALUES (
    'mnist', NULL, 'mnist', 'builtin',
    ARRAY['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'],
    '{"train":[4932,5678,4968,5101,4859,4506,4951,5175,4842,4988],"valid":[991,1064,990,1030,983,915,967,1090,1009,961],"test":[980,1135,1032,1010,982,892,958,1028,974,1009]}',
    28, 28, 1,
    '{"kind":"files"}',
    '9d115344558759fbd2c3561500f365b20b57fedd1605cf778dc2212638313463',
    '[]'
);

ALTER TABLE "jobs" ADD COLUMN "dataset_id" TEXT NOT NULL DEFAULT 'mnist';
CREATE INDEX "jobs_dataset_id_idx" ON "jobs"("dataset_id");
ALTER TABLE "jobs" ADD CONSTRAINT "jobs_dataset_id_fkey" FOREIGN KEY ("dataset_id") REFERENCES "datasets"("id") ON DELETE RESTRICT ON UPDATE CASCADE;
