-- A CPC job may ask for a probe of its encoder once it succeeds (sweeps, `probe` on a submission):
-- the probe's resolved config waits here until a worker (or the reaper) submits the probe, which
-- clears it in the same transaction.
ALTER TABLE "jobs" ADD COLUMN "probe_after" JSONB;
CREATE INDEX "jobs_pending_probes_idx" ON "jobs" ("status") WHERE "probe_after" IS NOT NULL;
