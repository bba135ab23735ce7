-- E1. B's shape for a head teacher: the 50 most recently updated children enrolled at the
-- teacher's school in the teacher's class (carehub's CLASS row scope), with guardians' contact,
-- latest enrollment and latest care plan. Equivalent of queries/e_school.graphql.
-- One statement: the page (a semi-join on the class), guardians and care plans as correlated
-- top-N per child, enrollments as one batched window scan over the page's ids (no child_id
-- index on enrollments; see p_county.sql).
-- Hand-written form: ... e.school_id = $1 AND e.head_teacher = $2.
-- pgbench form: (school, teacher) is row :k of bench.head_teachers.
\set k random(1, :n)
WITH t AS (
  SELECT school_id, head_teacher FROM bench.head_teachers WHERE idx = :k
), page AS MATERIALIZED (
  SELECT c.id, c.display_name, c.status, c.updated_at, c.current_risk_level
  FROM public.children c
  WHERE c.archived_at IS NULL
    AND c.id IN (SELECT e.child_id FROM public.enrollments e, t
                 WHERE e.school_id = t.school_id AND e.head_teacher = t.head_teacher
                   AND e.status = 'ENROLLED' AND e.archived_at IS NULL)
  ORDER BY c.updated_at DESC, c.id DESC
  LIMIT 50
), e AS (
  SELECT child_id, json_agg(json_build_object('school_year', school_year, 'grade', grade, 'class_name', class_name,
                                              'status', status) ORDER BY rn) AS enrollments
  FROM (SELECT t.*, row_number() OVER (PARTITION BY t.child_id ORDER BY t.school_year DESC, t.id DESC) AS rn
        FROM public.enrollments t WHERE t.child_id IN (SELECT id FROM page) AND t.archived_at IS NULL) x
  WHERE rn <= 1 GROUP BY child_id
)
SELECT p.id, p.display_name, p.status, p.updated_at, p.current_risk_level,
       coalesce((SELECT json_agg(json_build_object('name', g.name, 'relation', g.relation, 'phone', g.phone)
                                 ORDER BY g.created_at, g.id DESC)
                 FROM (SELECT * FROM public.guardians g WHERE g.child_id = p.id AND g.archived_at IS NULL
                       ORDER BY g.created_at, g.id DESC LIMIT 3) g), '[]') AS guardians,
       coalesce(e.enrollments, '[]') AS enrollments,
       coalesce((SELECT json_agg(json_build_object('id', cp.id, 'kind', cp.kind, 'status', cp.status,
                                                   'review_due', cp.review_due))
                 FROM (SELECT * FROM public.care_plans cp WHERE cp.child_id = p.id AND cp.archived_at IS NULL
                       ORDER BY cp.created_at DESC, cp.id DESC LIMIT 1) cp), '[]') AS care_plans
FROM page p
LEFT JOIN e ON e.child_id = p.id
ORDER BY p.updated_at DESC, p.id DESC;
