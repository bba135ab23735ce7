-- E2. B's shape for a clinician: the 50 most recently updated children with an open referral
-- to the clinician's hospital or a treatment episode there (carehub's REFERRED + EPISODE row
-- scope), each with the latest 3 referrals. Equivalent of queries/e_clinician.graphql.
-- The scope is written as IN (... UNION ...), which PostgreSQL runs as a hash semi-join from
-- the two organization indexes; an OR of two EXISTS (what carehub generates today) makes it
-- walk every child by recency and probe both (~400 ms instead of ~5 ms on 100k children).
-- Open = SENT, RECEIVED, ACCEPTED, IN_SERVICE, COMPLETED (carehub's ReferralStatus::OPEN).
-- pgbench form: the hospital is row :k of bench.clinicians.
\set k random(1, :n)
WITH h AS (
  SELECT org_id FROM bench.clinicians WHERE idx = :k
), page AS MATERIALIZED (
  SELECT c.id, c.display_name, c.gender, c.birth_year_month, c.status, c.updated_at
  FROM public.children c
  WHERE c.archived_at IS NULL
    AND c.id IN (SELECT r.child_id FROM public.referrals r, h
                 WHERE r.to_org_id = h.org_id AND r.archived_at IS NULL
                   AND r.status IN ('SENT', 'RECEIVED', 'ACCEPTED', 'IN_SERVICE', 'COMPLETED')
                 UNION
                 SELECT t.child_id FROM public.treatment_episodes t, h
                 WHERE t.organization_id = h.org_id AND t.archived_at IS NULL)
  ORDER BY c.updated_at DESC, c.id DESC
  LIMIT 50
)
SELECT p.id, p.display_name, p.gender, p.birth_year_month, p.status, p.updated_at,
       coalesce((SELECT json_agg(json_build_object('id', r.id, 'direction', r.direction, 'status', r.status,
                                                   'urgency', r.urgency, 'sent_at', r.sent_at,
                                                   'to_organization_id', r.to_org_id)
                                 ORDER BY r.created_at DESC, r.id DESC)
                 FROM (SELECT * FROM public.referrals r WHERE r.child_id = p.id AND r.archived_at IS NULL
                       ORDER BY r.created_at DESC, r.id DESC LIMIT 3) r), '[]') AS referrals
FROM page p
ORDER BY p.updated_at DESC, p.id DESC;
