-- A PostgreSQL role and database for countersign's brokers (DESIGN §11).
-- Run once as a PostgreSQL superuser, choosing the password:
--
--   psql -v password='…' -f config/postgres-setup.sql
--
-- Then give every broker (and the admin CLI) the same URL:
--   postgres://countersign:…@db.internal:5432/countersign
-- The first broker or admin command to connect creates the tables (and later
-- migrates them), as the database's owner.

CREATE ROLE countersign LOGIN PASSWORD :'password';
CREATE DATABASE countersign OWNER countersign ENCODING 'UTF8' TEMPLATE template0;
REVOKE ALL ON DATABASE countersign FROM PUBLIC;
-- An acknowledged write is a committed, flushed one: never turn this off here.
ALTER DATABASE countersign SET synchronous_commit = on;
