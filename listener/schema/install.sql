-- Queries of the installer (listener/schema/migrations.py).

-- name: create_core_record
-- The engines' own migration record; it belongs to the core, so uninstall leaves it.
CREATE SCHEMA IF NOT EXISTS trapper;
CREATE TABLE IF NOT EXISTS trapper.core_migrations (
    name        text PRIMARY KEY,
    checksum    text NOT NULL,
    applied_at  timestamptz NOT NULL DEFAULT now(),
    applied_by  text NOT NULL DEFAULT current_user
);

-- name: create_orchestrator_record
-- The orchestrator's migration record and the registry of every object its migrations
-- created: uninstall drops exactly what is listed here.
CREATE TABLE IF NOT EXISTS trapper.orchestrator_migrations (
    layer       text NOT NULL,
    name        text NOT NULL,
    checksum    text NOT NULL,
    applied_at  timestamptz NOT NULL DEFAULT now(),
    applied_by  text NOT NULL DEFAULT current_user,
    PRIMARY KEY (layer, name)
);
CREATE TABLE IF NOT EXISTS trapper.orchestrator_objects (
    seq              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    layer            text NOT NULL,
    migration        text NOT NULL,
    object_type      text NOT NULL,
    object_identity  text NOT NULL,
    drop_sql         text NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    UNIQUE (object_type, object_identity)
);

-- name: database_text
-- What the database does with text that session settings cannot change: its encoding, and
-- the case mapping of its default collation (a Turkish one lower-cases I to a dotless i),
-- with the locale to name. ASCII letters only: C and C.UTF-8 map the rest differently.
SELECT current_setting('server_encoding') AS encoding,
       coalesce(nullif(d.daticulocale, ''), d.datctype) AS ctype,
       lower('ABCDEFGHIJKLMNOPQRSTUVWXYZ') = 'abcdefghijklmnopqrstuvwxyz'
       AND upper('abcdefghijklmnopqrstuvwxyz') = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ'
       AND initcap('ijsselmeer ingrid') = 'Ijsselmeer Ingrid' AS ascii_case
FROM pg_database d WHERE d.datname = current_database();

-- name: core_record_exists
SELECT to_regclass('trapper.core_migrations') IS NOT NULL;

-- name: orchestrator_record_exists
SELECT to_regclass('trapper.orchestrator_migrations') IS NOT NULL;

-- name: orchestrator_records_exist
-- Both of the orchestrator's record tables: when they are there, an install that has nothing
-- to do needs no CREATE on the schema (a deploy step run as a role that only uses it).
SELECT to_regclass('trapper.orchestrator_migrations') IS NOT NULL
       AND to_regclass('trapper.orchestrator_objects') IS NOT NULL;

-- name: installed_by
-- The role that last applied an orchestrator file: the one whose rights install and
-- uninstall need (docs/operations.md, "Roles and rights").
SELECT applied_by FROM trapper.orchestrator_migrations ORDER BY applied_at DESC LIMIT 1;

-- name: applied_core
SELECT 'core' AS layer, name, checksum, applied_at FROM trapper.core_migrations;

-- name: applied_orchestrator
SELECT layer, name, checksum, applied_at FROM trapper.orchestrator_migrations;

-- name: record_core
-- A numbered migration, applied once.
INSERT INTO trapper.core_migrations (name, checksum) VALUES ($1, $2);

-- name: record_orchestrator
INSERT INTO trapper.orchestrator_migrations (layer, name, checksum) VALUES ($1, $2, $3);

-- name: record_definition_core
-- A definition file (functions/, views/, triggers/): applied_at is when it last ran.
INSERT INTO trapper.core_migrations (name, checksum) VALUES ($1, $2)
ON CONFLICT (name) DO UPDATE
    SET checksum = EXCLUDED.checksum, applied_at = now(), applied_by = current_user;

-- name: record_definition_orchestrator
INSERT INTO trapper.orchestrator_migrations (layer, name, checksum) VALUES ($1, $2, $3)
ON CONFLICT (layer, name) DO UPDATE
    SET checksum = EXCLUDED.checksum, applied_at = now(), applied_by = current_user;

-- name: rerecord_core
-- A numbered migration recorded under an earlier text its superseded.toml accepts: the
-- current checksum, keeping when it was applied.
UPDATE trapper.core_migrations SET checksum = $2 WHERE name = $1;

-- name: rerecord_orchestrator
UPDATE trapper.orchestrator_migrations SET checksum = $3 WHERE layer = $1 AND name = $2;

-- name: forget_core
-- The record of a definition file that is gone (renamed, or merged into another).
DELETE FROM trapper.core_migrations WHERE name = $1;

-- name: forget_orchestrator
DELETE FROM trapper.orchestrator_migrations WHERE layer = $1 AND name = $2;

-- name: catalog_objects
-- Every user-visible object with its identity and a fingerprint of its definition. Objects
-- that live and die with another (owned sequences, constraint indexes, implicit row types,
-- internal triggers) are left out: dropping their owner drops them.
WITH sys AS (
    SELECT oid FROM pg_namespace
    WHERE nspname IN ('pg_catalog', 'information_schema', 'pg_toast')
       OR nspname LIKE 'pg\_temp\_%' OR nspname LIKE 'pg\_toast\_temp\_%'
),
dependent AS (
    -- not a table's dependency on its own columns: a partitioned table has one on its
    -- partition key (orchestrator 018), and is no less an object of its own
    SELECT classid, objid FROM pg_depend
    WHERE deptype IN ('a', 'i', 'e') AND NOT (classid = refclassid AND objid = refobjid)
),
objs AS (
    SELECT 'pg_class'::regclass AS classid, c.oid AS objid,
           md5(coalesce((SELECT string_agg(a.attname || ':' || a.atttypid::regtype::text, ','
                                           ORDER BY a.attnum)
                         FROM pg_attribute a
                         WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped), '')
               || coalesce(pg_get_viewdef(c.oid), '')) AS fingerprint,
           NULL::text AS drop_override
    FROM pg_class c
    WHERE c.relnamespace NOT IN (SELECT oid FROM sys)
      AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'i', 'I', 'f')
      AND NOT EXISTS (SELECT 1 FROM dependent d
                      WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid)
    UNION ALL
    SELECT 'pg_proc'::regclass, p.oid, md5(p.prosrc || p.proargtypes::text || p.prorettype::text),
           NULL
    FROM pg_proc p
    WHERE p.pronamespace NOT IN (SELECT oid FROM sys)
      AND NOT EXISTS (SELECT 1 FROM dependent d
                      WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid)
    UNION ALL
    SELECT 'pg_trigger'::regclass, t.oid, md5(pg_get_triggerdef(t.oid)),
           format('DROP TRIGGER IF EXISTS %I ON %s', t.tgname, t.tgrelid::regclass)
    FROM pg_trigger t
    WHERE NOT t.tgisinternal
    UNION ALL
    SELECT 'pg_type'::regclass, t.oid, md5(t.typtype::text || t.typname), NULL
    FROM pg_type t
    WHERE t.typnamespace NOT IN (SELECT oid FROM sys)
      AND t.typtype IN ('e', 'd', 'r', 'm')
    UNION ALL
    SELECT 'pg_namespace'::regclass, n.oid, md5(n.nspname), NULL
    FROM pg_namespace n
    WHERE n.oid NOT IN (SELECT oid FROM sys) AND n.nspname NOT LIKE 'pg\_%'
      AND n.nspname <> 'public'
)
SELECT o.type AS object_type, o.identity AS object_identity, o.schema AS object_schema,
       objs.fingerprint,
       coalesce(objs.drop_override,
                format('DROP %s IF EXISTS %s', upper(o.type), o.identity)) AS drop_sql
FROM objs, LATERAL pg_identify_object(objs.classid, objs.objid, 0) o
ORDER BY objs.objid;

-- name: record_object
INSERT INTO trapper.orchestrator_objects (layer, migration, object_type, object_identity, drop_sql)
VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (object_type, object_identity) DO NOTHING;

-- name: recorded_objects
SELECT seq, layer, migration, object_type, object_identity, drop_sql
FROM trapper.orchestrator_objects ORDER BY seq;

-- name: trigger_states
-- Whether each trigger fires, before a definition file runs: CREATE OR REPLACE TRIGGER
-- enables the trigger it replaces.
SELECT t.tgrelid AS relid, t.tgname::text AS name, t.tgenabled::text AS enabled
FROM pg_trigger t
WHERE NOT t.tgisinternal;

-- name: restore_trigger_states
-- The ALTER TABLE statements that put back the states read by trigger_states.
SELECT format('ALTER TABLE %s %s TRIGGER %I', t.tgrelid::regclass,
              CASE s.enabled WHEN 'D' THEN 'DISABLE' WHEN 'R' THEN 'ENABLE REPLICA'
                             WHEN 'A' THEN 'ENABLE ALWAYS' ELSE 'ENABLE' END,
              t.tgname) AS stmt
FROM unnest($1::oid[], $2::text[], $3::text[]) AS s (relid, name, enabled)
JOIN pg_trigger t ON t.tgrelid = s.relid AND t.tgname = s.name
WHERE t.tgenabled::text <> s.enabled
ORDER BY t.oid;

-- name: dependent_views
-- The views that read the given views (schema.name), directly or through other views,
-- leaving out the given ones.
WITH RECURSIVE given AS (
    SELECT to_regclass(v) AS oid FROM unnest($1::text[]) AS v
),
readers (oid) AS (
    SELECT r.ev_class
    FROM pg_depend d
    JOIN pg_rewrite r ON r.oid = d.objid
    WHERE d.classid = 'pg_rewrite'::regclass AND d.refclassid = 'pg_class'::regclass
      AND d.refobjid IN (SELECT oid FROM given) AND r.ev_class <> d.refobjid
    UNION
    SELECT r.ev_class
    FROM readers x
    JOIN pg_depend d ON d.refobjid = x.oid AND d.refclassid = 'pg_class'::regclass
                    AND d.classid = 'pg_rewrite'::regclass
    JOIN pg_rewrite r ON r.oid = d.objid
    WHERE r.ev_class <> d.refobjid
)
SELECT DISTINCT n.nspname || '.' || c.relname AS view
FROM readers x
JOIN pg_class c ON c.oid = x.oid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE x.oid NOT IN (SELECT oid FROM given WHERE oid IS NOT NULL)
ORDER BY 1;

-- name: drop_views
-- One DROP VIEW for the given views that exist (NULL when none does): views that read
-- each other go together, and anything else that reads them stops it.
SELECT 'DROP VIEW ' || string_agg(format('%I.%I', n.nspname, c.relname), ', ' ORDER BY c.oid)
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.oid IN (SELECT to_regclass(v) FROM unnest($1::text[]) AS v) AND c.relkind = 'v';

-- name: relation_columns
-- A column's type without its modifier (varchar(50) is character varying): requires.toml
-- [types] names the few whose type the orchestrator depends on.
SELECT a.attname, format_type(a.atttypid, NULL) AS type
FROM pg_attribute a
WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped;

-- name: relation_kind
-- What a relation the shadow triggers sit on is: a view takes none of them.
SELECT CASE c.relkind WHEN 'r' THEN 'table' WHEN 'p' THEN 'table' WHEN 'v' THEN 'view'
                      WHEN 'm' THEN 'materialized view' WHEN 'f' THEN 'foreign table'
                      ELSE 'relation' END
FROM pg_class c WHERE c.oid = to_regclass($1);

-- name: function_exists
SELECT EXISTS (SELECT 1 FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
               WHERE n.nspname = $1 AND p.proname = $2);
