-- Each attempt's log lines (GET /v1/jobs/:id/logs): written by the worker in batches, bounded per
-- attempt, gone with their job.
CREATE TABLE "job_log_lines" (
    "id" BIGSERIAL NOT NULL,
    "job_id" TEXT NOT NULL,
    "attempt" INTEGER NOT NULL,
    "time" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "level" TEXT NOT NULL,
    "message" TEXT NOT NULL,

    CONSTRAINT "job_log_lines_pkey" PRIMARY KEY ("id")
);

CREATE INDEX "job_log_lines_job_id_id_idx" ON "job_log_lines"("job_id", "id");

ALTER TABLE "job_log_lines" ADD CONSTRAINT "job_log_lines_job_id_fkey" FOREIGN KEY ("job_id") REFERENCES "jobs"("id") ON DELETE CASCADE ON UPDATE CASCADE;
