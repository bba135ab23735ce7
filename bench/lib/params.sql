-- Parameter tables of the benchmark, built from carehub's seeded data (deterministic for a
-- given seed), and the peer's scope functions. Run by bench/run after `carehub seed`:
--   psql -v max_children=100000 -v max_teachers=200 -v max_visit_targets=5000 \
--        -v referral_pool=50000 -f params.sql
-- Touches the schemas `bench` (parameters; read by the pgbench scripts) and `bench_peer`
-- (functions PostGraphile exposes: the E1/E2 scopes and C's city dashboard); carehub's schema `public` is left as the seeder made it,
-- except for workload F's pool of SENT referrals, which exists in `public.referrals` only
-- between bench.referral_pool_reset() and bench.referral_pool_clear() (bench/run calls them
-- around F's runs; a pool left behind by an aborted run is cleared here).
-- Row idx = k of table bench.X is line k of the parameter file X.tsv that wrk reads.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
DROP SCHEMA IF EXISTS bench CASCADE;
CREATE SCHEMA bench;

-- F: the pool's referrals carry reason = 'bench-load' (seeded reasons are never that), so they
-- and what was written about them (transitions, change events, SLA flags) can be found and
-- removed whatever pool built them. Audit entries are not touched: bench/run truncates the
-- audit table around every run.
CREATE FUNCTION bench.referral_pool_clear() RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
  n bigint;
BEGIN
  DELETE FROM public.workflow_transitions
    WHERE entity = 'Referral' AND record_id IN (SELECT id FROM public.referrals WHERE reason = 'bench-load');
  DELETE FROM public.change_events
    WHERE entity = 'Referral' AND record_id IN (SELECT id FROM public.referrals WHERE reason = 'bench-load');
  DELETE FROM public.flags
    WHERE kind = 'REFERRAL_SLA_BREACH' AND subject_key IN (SELECT id::text FROM public.referrals WHERE reason = 'bench-load');
  DELETE FROM public.referrals WHERE reason = 'bench-load';
  GET DIAGNOSTICS n = ROW_COUNT;
  RETURN n;
END
$$;
SELECT bench.referral_pool_clear() AS stale_pool_referrals_removed \gset

-- A, D: children, a sample in uuid order (= random order), at most :max_children.
CREATE TABLE bench.children AS
  SELECT (row_number() OVER (ORDER BY id))::int AS idx, id
  FROM (SELECT id FROM public.children WHERE archived_at IS NULL ORDER BY id LIMIT :max_children) s;

-- B, P: every county with children.
CREATE TABLE bench.counties AS
  SELECT (row_number() OVER (ORDER BY county_code))::int AS idx, county_code
  FROM (SELECT DISTINCT county_code FROM public.children WHERE archived_at IS NULL) s;

-- C: every city with children, and the current school year (starting 1 September, UTC) as
-- the period of `indicators`: its as-of time is now, the time the SQL baseline counts at.
CREATE TABLE bench.cities AS
  SELECT (row_number() OVER (ORDER BY city_code))::int AS idx, city_code,
         extract(year FROM (now() AT TIME ZONE 'UTC') - interval '8 months')::int AS school_year
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

-- F: a pool of SENT referrals for "advance a referral" (SENT -> RECEIVED by a clinician of the
-- receiving hospital), each advanced at most once per timed run. The seeded data has only a few
-- hundred SENT referrals, so the pool is made of copies of the seeded referrals to the hospitals
-- of bench.clinicians (sender, receiving hospital, direction, urgency, authorized view), each
-- for another child of bench.children (random order): copies for the source's own child would
-- give that child dozens of open referrals to the same hospital, which no real child has and
-- which would make the receiver's scope check (every open referral of the child to the
-- hospital) dearer than it is. Fresh ids (deterministic: md5 of the pool index), version 1, sent
-- now, no lawful basis (it belongs to another child); bench.referral_pool_reset() writes them
-- (and their DRAFT and SENT transitions, as the seeder writes them) into public.referrals,
-- bench.referral_pool_clear() removes them again.
-- sub = the clinician token bench/run mints for the hospital (bench-clinician-<clinicians.idx>).
CREATE TABLE bench.referral_targets AS
  WITH src AS (
    SELECT (row_number() OVER (ORDER BY md5(r.id::text)))::int AS sidx, r.*, c.idx AS clinician_idx
    FROM public.referrals r
    JOIN bench.clinicians c ON c.org_id = r.to_org_id
    WHERE r.archived_at IS NULL AND r.status <> 'DRAFT' AND r.reason IS DISTINCT FROM 'bench-load'
  ), ns AS (SELECT count(*)::int AS n FROM src),
  nc AS (SELECT count(*)::int AS n FROM bench.children)
  SELECT g.idx, md5('bench-referral-' || g.idx)::uuid AS referral_id, 1 AS version,
         s.to_org_id AS to_org, 'bench-clinician-' || s.clinician_idx AS sub,
         s.id AS source_id, k.id AS child_id, s.from_org_id, s.direction, s.urgency, s.authorized_view,
         s.owner_agency, s.owner_org_id, s.created_by AS sender
  FROM generate_series(1, :referral_pool) AS g(idx)
  CROSS JOIN ns CROSS JOIN nc
  JOIN src s ON s.sidx = (g.idx - 1) % NULLIF(ns.n, 0) + 1
  JOIN bench.children k ON k.idx = (g.idx - 1) % NULLIF(nc.n, 0) + 1;

CREATE FUNCTION bench.referral_pool_reset() RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
  n bigint;
BEGIN
  PERFORM bench.referral_pool_clear();
  INSERT INTO public.referrals (id, created_at, created_by, updated_at, updated_by, version, archived_at,
                                owner_agency, owner_org_id, child_id, from_org_id, to_org_id, direction,
                                parent_referral_id, reason, urgency, authorized_view, lawful_basis_id, status,
                                sla_due_at, escalated, sent_at, responded_at, closed_at, outcome_note,
                                rejection_reason, treatment_episode_id)
  SELECT t.referral_id, now(), t.sender, now(), t.sender, t.version, NULL,
         t.owner_agency, t.owner_org_id, t.child_id, t.from_org_id, t.to_org, t.direction,
         NULL, 'bench-load', t.urgency, t.authorized_view, NULL, 'SENT',
         date_trunc('second', now()) + CASE WHEN t.urgency = 'URGENT' THEN interval '24 hours' ELSE interval '72 hours' END,
         false, date_trunc('second', now()), NULL, NULL, NULL, NULL, NULL
  FROM bench.referral_targets t ORDER BY t.idx;
  GET DIAGNOSTICS n = ROW_COUNT;
  INSERT INTO public.workflow_transitions (id, entity, record_id, child_id, from_status, to_status, at, actor, actor_org, note)
  SELECT md5('bench-transition-' || t.idx || '-' || s.st)::uuid, 'Referral', t.referral_id, t.child_id, s.prev, s.st,
         now(), t.sender, t.from_org_id::text, NULL
  FROM bench.referral_targets t
  CROSS JOIN (VALUES (NULL, 'DRAFT'), ('DRAFT', 'SENT')) AS s(prev, st);
  RETURN n;
END
$$;

-- F, load generators: a run may use the pool only up to its end. bench/run calls this after
-- every timed run: the number of the pool's last `tail` referrals (the last lines wrk's and
-- pgbench's sequential walks reach) that are no longer SENT; > 0 means the pool (nearly) ran
-- out and the run's figure is not trustworthy (REFERRAL_POOL too small).
CREATE FUNCTION bench.referral_pool_tail_used(tail int) RETURNS bigint LANGUAGE sql AS $$
  SELECT count(*) FROM bench.referral_targets t JOIN public.referrals r ON r.id = t.referral_id
  WHERE t.idx > (SELECT max(idx) FROM bench.referral_targets) - tail AND r.status <> 'SENT'
$$;

ALTER TABLE bench.children ADD PRIMARY KEY (idx);
ALTER TABLE bench.counties ADD PRIMARY KEY (idx);
ALTER TABLE bench.cities ADD PRIMARY KEY (idx);
ALTER TABLE bench.head_teachers ADD PRIMARY KEY (idx);
ALTER TABLE bench.clinicians ADD PRIMARY KEY (idx);
ALTER TABLE bench.visit_targets ADD PRIMARY KEY (idx);
ALTER TABLE bench.referral_targets ADD PRIMARY KEY (idx);
-- audit sequence numbers of the SQL baseline's WRITE entries (queries/sql/d_visit.sql)
CREATE SEQUENCE bench.audit_seq;
ANALYZE bench.children, bench.counties, bench.cities, bench.head_teachers, bench.clinicians, bench.visit_targets,
        bench.referral_targets;

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

-- C: the city dashboard (children per county by current risk level). PostGraphile has no
-- aggregates out of the box; like ../shared/bench's public.city_risk_dashboard this STABLE SQL
-- function is how a PostGraphile user would serve it (benchPeerCityRiskDashboard(city)). Same
-- body as the naive SQL baseline, queries/sql/c_indicators.sql (see there for the definitions).
CREATE FUNCTION bench_peer.city_risk_dashboard(city bigint)
RETURNS TABLE (region_code text, risk_level text, children bigint)
LANGUAGE sql STABLE AS $$
  SELECT lpad(c.county_code::text, 12, '0') AS region_code,
         coalesce((ARRAY['green', 'yellow', 'orange', 'red'])[
                    CASE WHEN coalesce(rv.rank, 0) >= 3 OR coalesce(ev.top, 0) >= 3 THEN greatest(rv.rank, ev.top)
                         ELSE coalesce(ev.last, rv.rank) END], 'unscreened') AS risk_level,
         count(*) AS children
  FROM public.children c
  LEFT JOIN LATERAL (
    SELECT array_position(ARRAY['GREEN', 'YELLOW', 'ORANGE', 'RED'], w.to_status) AS rank, w.at
    FROM public.workflow_transitions w
    WHERE w.entity = 'ChildRisk' AND w.record_id = c.id
    ORDER BY w.at DESC
    LIMIT 1
  ) rv ON true
  LEFT JOIN LATERAL (
    SELECT max(e.rank) AS top, (array_agg(e.rank ORDER BY e.at DESC))[1] AS last
    FROM (SELECT s.administered_at AS at, array_position(ARRAY['GREEN', 'YELLOW', 'ORANGE', 'RED'], s.risk_level) AS rank
          FROM public.screenings s
          WHERE s.child_id = c.id AND s.archived_at IS NULL AND (rv.at IS NULL OR s.administered_at > rv.at)
          UNION ALL
          SELECT ce.occurred_at, array_position(ARRAY['GREEN', 'YELLOW', 'ORANGE', 'RED'], ce.risk_level)
          FROM public.crisis_events ce
          WHERE ce.child_id = c.id AND ce.archived_at IS NULL AND (rv.at IS NULL OR ce.occurred_at > rv.at)) e
  ) ev ON true
  WHERE c.city_code = city
    AND c.archived_at IS NULL
    AND c.status = 'ACTIVE'
    AND c.birth_date > (now() AT TIME ZONE 'UTC')::date - interval '18 years'
    AND EXISTS (SELECT 1 FROM public.child_difficulties d
                WHERE d.child_id = c.id AND d.archived_at IS NULL
                  AND d.valid_from <= (now() AT TIME ZONE 'UTC')::date
                  AND (d.valid_to IS NULL OR d.valid_to >= (now() AT TIME ZONE 'UTC')::date))
  GROUP BY 1, 2
  ORDER BY 1, 2
$$;

SELECT 'children=' || (SELECT count(*) FROM bench.children)
    || ' counties=' || (SELECT count(*) FROM bench.counties)
    || ' cities=' || (SELECT count(*) FROM bench.cities)
    || ' head_teachers=' || (SELECT count(*) FROM bench.head_teachers)
    || ' clinicians=' || (SELECT count(*) FROM bench.clinicians)
    || ' visit_targets=' || (SELECT count(*) FROM bench.visit_targets)
    || ' referral_targets=' || (SELECT count(*) FROM bench.referral_targets)
    || ' (copies of ' || (SELECT count(DISTINCT source_id) FROM bench.referral_targets) || ' referrals for '
    || (SELECT count(DISTINCT child_id) FROM bench.referral_targets) || ' children'
    || CASE WHEN :stale_pool_referrals_removed > 0 THEN '; a stale pool of ' || :stale_pool_referrals_removed
            || ' removed' ELSE '' END || ')' AS params;
