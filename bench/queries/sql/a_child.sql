-- A. One child by id with guardians and the latest 5 screenings, one round trip.
-- Equivalent of queries/a_child.graphql (same rows, same fields, same list orders and limits
-- as carehub: guardians oldest first, screenings newest first, ties by id descending).
-- Hand-written form: ... WHERE c.id = $1.  pgbench form: the child is row :k of bench.children
-- (bench/run passes -D n=<rows>); bench/lib/check.py runs this file with k=1,2,3 and compares.
\set k random(1, :n)
SELECT c.id, c.display_name, c.name, c.gender, c.birth_year_month, c.residence_region_code, c.status,
       c.current_risk_level, c.updated_at, c.version,
       coalesce((SELECT json_agg(json_build_object('name', g.name, 'relation', g.relation, 'phone', g.phone,
                                                   'is_legal_guardian', g.is_legal_guardian)
                                 ORDER BY g.created_at, g.id DESC)
                 FROM (SELECT * FROM public.guardians g WHERE g.child_id = c.id AND g.archived_at IS NULL
                       ORDER BY g.created_at, g.id DESC LIMIT 10) g), '[]') AS guardians,
       coalesce((SELECT json_agg(json_build_object('id', s.id, 'administered_at', s.administered_at,
                                                   'school_year', s.school_year, 'instrument', s.instrument,
                                                   'risk_level', s.risk_level)
                                 ORDER BY s.administered_at DESC, s.id DESC)
                 FROM (SELECT * FROM public.screenings s WHERE s.child_id = c.id AND s.archived_at IS NULL
                       ORDER BY s.administered_at DESC, s.id DESC LIMIT 5) s), '[]') AS screenings
FROM public.children c
WHERE c.id = (SELECT id FROM bench.children WHERE idx = :k)
  AND c.archived_at IS NULL;
