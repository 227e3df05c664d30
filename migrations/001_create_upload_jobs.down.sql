-- Reverts 001. Drops the table and every enum name this table has ever been
-- created with (jobstatus/jobtype, and the job_status/job_type leftovers of the
-- wrong-database incident). Never drops pgcrypto: other tables' defaults
-- (gen_random_uuid()) may depend on it.

DROP TABLE IF EXISTS upload_jobs;
DROP TYPE IF EXISTS jobstatus;
DROP TYPE IF EXISTS jobtype;
DROP TYPE IF EXISTS job_status;
DROP TYPE IF EXISTS job_type;
