-- Runs once, as the superuser, when the timescaledb container initialises an empty volume
-- (mounted into /docker-entrypoint-initdb.d, database `vigil` from POSTGRES_DB).
-- Creates the login role the services connect as. It is NOT the table owner, so row-level
-- security applies to it. Its privileges come from the NOLOGIN role vigil_app, which the
-- migrations also create (idempotently) and grant table privileges to; creating vigil_app here
-- first lets the membership be granted before any migration runs.
-- The password is a local-development default; production sets its own (infra/aws/README.md).

DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'vigil_app') THEN
    CREATE ROLE vigil_app NOLOGIN;
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'vigil_service') THEN
    CREATE ROLE vigil_service LOGIN PASSWORD 'vigil_service_dev'
      NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS INHERIT;
  END IF;
END
$$;

GRANT vigil_app TO vigil_service;
GRANT CONNECT ON DATABASE vigil TO vigil_service;
