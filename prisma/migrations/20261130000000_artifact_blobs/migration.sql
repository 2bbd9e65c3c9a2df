-- CreateTable
CREATE TABLE "artifact_blobs" (
    "key" TEXT NOT NULL,
    "bytes" BYTEA NOT NULL,
    "sha256" TEXT NOT NULL,
    "created_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "artifact_blobs_pkey" PRIMARY KEY ("key")
);
