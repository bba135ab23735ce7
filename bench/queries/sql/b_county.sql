-- B. 50 children of one county, most recently updated first, each with its latest screening,
-- latest care plan and latest 3 referrals: one statement, correlated top-N per child from the
-- (child_id, ...) indexes (no N+1 round trips; measured faster here than one batched window
-- scan per list, see p_county.sql).
-- Equivalent of queries/b_county.graphql. Hand-written form: WHERE c.county_code = $1.
-- pgbench form: the county is row :k of bench.counties.
\set k random(1, :n)
SELECT c.id, c.display_name, c.status, c.updated_at, c.current_risk_level,
       coalesce((SELECT json_agg(json_build_object('administered_at', s.administered_at, 'instrument', s.instrument,
                                                   'risk_level', s.risk_level))
                 FROM (SELECT * FROM public.screenings s WHERE s.child_id = c.id AND s.archived_at IS NULL
                       ORDER BY s.administered_at DESC, s.id DESC LIMIT 1) s), '[]') AS screenings,
       coalesce((SELECT json_agg(json_build_object('id', p.id, 'kind', p.kind, 'status', p.status,
                                                   'review_due', p.review_due))
                 FROM (SELECT * FROM public.care_plans p WHERE p.child_id = c.id AND p.archived_at IS NULL
                       ORDER BY p.created_at DESC, p.id DESC LIMIT 1) p), '[]') AS care_plans,
       coalesce((SELECT json_agg(json_build_object('id', r.id, 'direction', r.direction, 'status', r.status,
                                                   'urgency', r.urgency, 'sent_at', r.sent_at)
                                 ORDER BY r.created_at DESC, r.id DESC)
                 FROM (SELECT * FROM public.referrals r WHERE r.child_id = c.id AND r.archived_at IS NULL
                       ORDER BY r.created_at DESC, r.id DESC LIMIT 3) r), '[]') AS referrals
FROM public.children c
WHERE c.county_code = (SELECT county_code FROM bench.counties WHERE idx = :k)
  AND c.archived_at IS NULL
ORDER BY c.updated_at DESC, c.id DESC
LIMIT 50;
