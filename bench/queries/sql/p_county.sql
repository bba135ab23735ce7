-- P. 50 children of one county with guardians, enrollments and the latest 3 screenings
-- (the remits/accountability workload of issues 3 and 5). Equivalent of queries/p_county.graphql.
-- One statement: the page; guardians and screenings as correlated top-N per child from their
-- child_id indexes; enrollments as ONE batched scan over the page's ids with a window function,
-- because carehub's schema has no index on enrollments(child_id) (only (school_id, status,
-- child_id)): a per-child probe would scan the table 50 times, which is what PostGraphile's
-- plan does. pgbench form: the county is row :k of bench.counties.
\set k random(1, :n)
WITH page AS MATERIALIZED (
  SELECT c.id, c.display_name, c.name, c.current_risk_level, c.updated_at
  FROM public.children c
  WHERE c.county_code = (SELECT county_code FROM bench.counties WHERE idx = :k)
    AND c.archived_at IS NULL
  ORDER BY c.updated_at DESC, c.id DESC
  LIMIT 50
), e AS (
  SELECT child_id, json_agg(json_build_object('school_year', school_year, 'grade', grade, 'class_name', class_name,
                                              'status', status) ORDER BY rn) AS enrollments
  FROM (SELECT t.*, row_number() OVER (PARTITION BY t.child_id ORDER BY t.school_year DESC, t.id DESC) AS rn
        FROM public.enrollments t WHERE t.child_id IN (SELECT id FROM page) AND t.archived_at IS NULL) x
  WHERE rn <= 3 GROUP BY child_id
)
SELECT p.id, p.display_name, p.name, p.current_risk_level, p.updated_at,
       coalesce((SELECT json_agg(json_build_object('name', g.name, 'relation', g.relation, 'phone', g.phone)
                                 ORDER BY g.created_at, g.id DESC)
                 FROM (SELECT * FROM public.guardians g WHERE g.child_id = p.id AND g.archived_at IS NULL
                       ORDER BY g.created_at, g.id DESC LIMIT 5) g), '[]') AS guardians,
       coalesce(e.enrollments, '[]') AS enrollments,
       coalesce((SELECT json_agg(json_build_object('administered_at', s.administered_at, 'instrument', s.instrument,
                                                   'risk_level', s.risk_level)
                                 ORDER BY s.administered_at DESC, s.id DESC)
                 FROM (SELECT * FROM public.screenings s WHERE s.child_id = p.id AND s.archived_at IS NULL
                       ORDER BY s.administered_at DESC, s.id DESC LIMIT 3) s), '[]') AS screenings
FROM page p
LEFT JOIN e ON e.child_id = p.id
ORDER BY p.updated_at DESC, p.id DESC;
