-- Change notifications for live streams (src/store/change-listener.ts): the commit that makes a
-- job's new metric rows, log lines or status visible also notifies the job's channel
-- (cpc_job_<job id>, payload metrics | logs | status); a job's insert and its status or progress
-- changes notify its experiment's channel (cpc_exp_<experiment id>). An API process LISTENs once
-- per watched job or experiment and fans the change out to every client streaming it, instead of
-- each client polling. Whoever writes (a worker, the reaper, the API) notifies: no publish point
-- to forget. Postgres sends notifications only on commit and folds repeats within a transaction.

CREATE FUNCTION cpc_notify_job_rows() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('cpc_job_' || job_id, TG_ARGV[0]) FROM (SELECT DISTINCT job_id FROM new_rows) AS changed;
  RETURN NULL;
END $$;

CREATE TRIGGER metric_points_notify AFTER INSERT ON "metric_points"
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION cpc_notify_job_rows('metrics');

CREATE TRIGGER job_log_lines_notify AFTER INSERT ON "job_log_lines"
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION cpc_notify_job_rows('logs');

CREATE FUNCTION cpc_notify_job_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' OR NEW.status IS DISTINCT FROM OLD.status THEN
    PERFORM pg_notify('cpc_job_' || NEW.id, 'status');
  END IF;
  IF NEW.experiment_id IS NOT NULL THEN
    PERFORM pg_notify('cpc_exp_' || NEW.experiment_id::text, 'jobs');
  END IF;
  IF TG_OP = 'UPDATE' AND OLD.experiment_id IS NOT NULL AND OLD.experiment_id IS DISTINCT FROM NEW.experiment_id THEN
    PERFORM pg_notify('cpc_exp_' || OLD.experiment_id::text, 'jobs');
  END IF;
  RETURN NULL;
END $$;

-- (not on every update: heartbeats touch a running job's row every few seconds)
CREATE TRIGGER jobs_notify_insert AFTER INSERT ON "jobs"
  FOR EACH ROW EXECUTE FUNCTION cpc_notify_job_change();
CREATE TRIGGER jobs_notify_update AFTER UPDATE ON "jobs"
  FOR EACH ROW
  WHEN (OLD.status IS DISTINCT FROM NEW.status OR OLD.step IS DISTINCT FROM NEW.step
        OR OLD.probe_after IS DISTINCT FROM NEW.probe_after OR OLD.experiment_id IS DISTINCT FROM NEW.experiment_id)
  EXECUTE FUNCTION cpc_notify_job_change();

CREATE FUNCTION cpc_notify_job_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('cpc_job_' || OLD.id, 'status');
  IF OLD.experiment_id IS NOT NULL THEN
    PERFORM pg_notify('cpc_exp_' || OLD.experiment_id::text, 'jobs');
  END IF;
  RETURN NULL;
END $$;

CREATE TRIGGER jobs_notify_delete AFTER DELETE ON "jobs"
  FOR EACH ROW EXECUTE FUNCTION cpc_notify_job_delete();
