-- Parameter tables of the benchmark, built from carehub's seeded data (deterministic for a
-- given seed), and the peer's scope functions. Run by bench/run after `carehub seed`:
--   psql -v max_children=100000 -v max_teachers=200 -v max_visit_targets=5000 -f params.sql
-- Touches only the schemas `bench` (parameters; read by the pgbench scripts) and `bench_peer`
-- (functions PostGraphile exposes); carehub's schema `public` is left as the seeder made it.
-- Row idx = k of table bench.X is line k of the parameter file X.tsv that wrk reads.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
DROP SCHEMA IF EXISTS bench CASCADE;
CREATE SCHEMA bench;

-- A, D: children, a sample in uuid order (= random order), at most :max_children.
CREATE TABLE bench.children AS
  SELECT (row_number() OVER (ORDER BY id))::int AS idx, id
  FROM (SELECT id FROM public.children WHERE archived_at IS NULL ORDER BY id LIMIT :max_children) s;

-- B, P: every county with children.
CREATE TABLE bench.counties AS
  SELECT (row_number() OVER (ORDER BY county_code))::int AS idx, county_code
  FROM (SELECT DISTINCT county_code FROM public.children WHERE archived_at IS NULL) s;

-- C: every city with children.
CREATE TABLE bench.cities AS
  SELECT (row_number() OVER (ORDER BY city_code))::int AS idx, city_code
  FROM (SELECT DISTINCT city_code FROM public.children WHERE archived_at IS NULL) s;

-- E1: (school, head teacher) of classes with enrolled children, a deterministic sample.
CREATE TABLE bench.head_teachers AS
  SELECT (row_number() OVER (ORDER BY h))::int AS idx, school_id, head_teacher
  FROM (SELECT school_id, head_teacher, md5(school_id::text || head_teacher) AS h
        FROM public.enrollments
        WHERE status = 'ENROLLED' AND archived_at IS NULL AND head_teacher IS NOT NULL
        GROUP BY school_id, head_teacher
        ORDER BY h LIMIT :max_teachers) s;

-- E2: hospitals with an open referral to them or a treatment episode there.
CREATE TABLE bench.clinicians AS
  SELECT (row_number() OVER (ORDER BY o.id))::int AS idx, o.id AS org_id
  FROM public.organizations o
  WHERE o.agency = 'HEALTH'
    AND (EXISTS (SELECT 1 FROM public.referrals r WHERE r.to_org_id = o.id AND r.archived_at IS NULL
                   AND r.status IN ('SENT', 'RECEIVED', 'ACCEPTED', 'IN_SERVICE', 'COMPLETED'))
         OR EXISTS (SELECT 1 FROM public.treatment_episodes t WHERE t.organization_id = o.id AND t.archived_at IS NULL));

-- D: children of those classes, each with its (school, head teacher).
CREATE TABLE bench.visit_targets AS
  SELECT (row_number() OVER (ORDER BY h))::int AS idx, child_id, school_id, head_teacher
  FROM (SELECT DISTINCT ON (e.child_id) e.child_id, e.school_id, e.head_teacher, md5(e.child_id::text) AS h
        FROM public.enrollments e
        JOIN bench.head_teachers t ON t.school_id = e.school_id AND t.head_teacher = e.head_teacher
        JOIN public.children c ON c.id = e.child_id AND c.archived_at IS NULL
        WHERE e.status = 'ENROLLED' AND e.archived_at IS NULL
        ORDER BY e.child_id) s
  ORDER BY h LIMIT :max_visit_targets;

ALTER TABLE bench.children ADD PRIMARY KEY (idx);
ALTER TABLE bench.counties ADD PRIMARY KEY (idx);
ALTER TABLE bench.cities ADD PRIMARY KEY (idx);
ALTER TABLE bench.head_teachers ADD PRIMARY KEY (idx);
ALTER TABLE bench.clinicians ADD PRIMARY KEY (idx);
ALTER TABLE bench.visit_targets ADD PRIMARY KEY (idx);
-- audit sequence numbers of the SQL baseline's WRITE entries (queries/sql/d_visit.sql)
CREATE SEQUENCE bench.audit_seq;
ANALYZE bench.children, bench.counties, bench.cities, bench.head_teachers, bench.clinicians, bench.visit_targets;

-- The peer's row scopes (E1, E2). PostGraphile has no row scopes without RLS; these STABLE SQL
-- functions express carehub's CLASS and REFERRED/EPISODE scopes, newest update first, written
-- as semi-joins (IN ... UNION ...) as a PostgreSQL-minded PostGraphile user would, and
-- PostGraphile exposes them as benchPeerClassChildren(school, teacher) / benchPeerClinicianChildren(org).
DROP SCHEMA IF EXISTS bench_peer CASCADE;
CREATE SCHEMA bench_peer;
CREATE FUNCTION bench_peer.class_children(school uuid, teacher text) RETURNS SETOF public.children
LANGUAGE sql STABLE AS $$
  SELECT c.* FROM public.children c
  WHERE c.archived_at IS NULL
    AND c.id IN (SELECT e.child_id FROM public.enrollments e
                 WHERE e.school_id = school AND e.head_teacher = teacher
                   AND e.status = 'ENROLLED' AND e.archived_at IS NULL)
  ORDER BY c.updated_at DESC, c.id DESC
$$;
CREATE FUNCTION bench_peer.clinician_children(org uuid) RETURNS SETOF public.children
LANGUAGE sql STABLE AS $$
  SELECT c.* FROM public.children c
  WHERE c.archived_at IS NULL
    AND c.id IN (SELECT r.child_id FROM public.referrals r
                 WHERE r.to_org_id = org AND r.archived_at IS NULL
                   AND r.status IN ('SENT', 'RECEIVED', 'ACCEPTED', 'IN_SERVICE', 'COMPLETED')
                 UNION
                 SELECT t.child_id FROM public.treatment_episodes t
                 WHERE t.organization_id = org AND t.archived_at IS NULL)
  ORDER BY c.updated_at DESC, c.id DESC
$$;

SELECT 'children=' || (SELECT count(*) FROM bench.children)
    || ' counties=' || (SELECT count(*) FROM bench.counties)
    || ' cities=' || (SELECT count(*) FROM bench.cities)
    || ' head_teachers=' || (SELECT count(*) FROM bench.head_teachers)
    || ' clinicians=' || (SELECT count(*) FROM bench.clinicians)
    || ' visit_targets=' || (SELECT count(*) FROM bench.visit_targets) AS params;
