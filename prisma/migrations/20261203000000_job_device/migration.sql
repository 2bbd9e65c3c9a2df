-- Device routing: a job may ask for a GPU worker or a CPU worker; "any" (the default) runs on either.
CREATE TYPE "JobDevice" AS ENUM ('any', 'gpu', 'cpu');
ALTER TABLE "jobs" ADD COLUMN "device" "JobDevice" NOT NULL DEFAULT 'any';
