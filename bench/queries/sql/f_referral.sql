-- F. Advance a referral: a clinician of the receiving hospital marks a SENT referral RECEIVED,
-- with everything carehub's transitionReferral writes in its one transaction: the referral read
-- with its child in the clinician's scope (an open referral to the hospital or an episode
-- there), the legal transition (SENT -> RECEIVED, by the receiving side), the update with the
-- version check (version + 1), the REFERRAL_SLA_BREACH flag resolved, the transition row, the
-- change event (outbox) and the WRITE audit entry (SHA-256 in SQL; not chained, as in
-- d_visit.sql; operation = 'UPDATE', what carehub records for a request without an operationName).
-- One statement (data-modifying CTEs), autocommit: one round trip, one WAL flush.
-- Equivalent of queries/f_referral.graphql. pgbench form: the referral is row :k of
-- bench.referral_targets (a pool of SENT referrals, reset by bench/run before every run); each
-- client walks its own stripe of the pool (client c takes c+1, c+1+clients, ...; bench/run
-- passes -D i=0 -D clients=<clients>), so no referral is advanced twice.
\set k :client_id + 1 + :i * :clients
\set i :i + 1
WITH t AS (
  SELECT rt.referral_id, rt.version, rt.to_org, rt.sub FROM bench.referral_targets rt WHERE rt.idx = :k
), o AS (
  SELECT r.id, r.child_id, r.status, r.escalated, t.version AS expected, t.to_org, t.sub,
         ch.residence_region_code
  FROM public.referrals r JOIN t ON r.id = t.referral_id
  JOIN public.children ch ON ch.id = r.child_id AND ch.archived_at IS NULL
  WHERE r.to_org_id = t.to_org AND r.status = 'SENT'
    AND (EXISTS (SELECT 1 FROM public.referrals s
                 WHERE s.child_id = ch.id AND s.to_org_id = t.to_org AND s.archived_at IS NULL
                   AND s.status IN ('SENT', 'RECEIVED', 'ACCEPTED', 'IN_SERVICE', 'COMPLETED'))
         OR EXISTS (SELECT 1 FROM public.treatment_episodes e
                    WHERE e.child_id = ch.id AND e.organization_id = t.to_org AND e.archived_at IS NULL))
), u AS (
  UPDATE public.referrals r
  SET status = 'RECEIVED', escalated = false, updated_at = now(), updated_by = o.sub, version = o.expected + 1
  FROM o WHERE r.id = o.id AND r.version = o.expected
  RETURNING r.id, r.child_id, r.status, r.escalated, r.version, r.updated_by
), f AS (
  UPDATE public.flags SET resolved_at = now(), resolved_by = 'system', resolution = 'answered', updated_at = now()
  WHERE child_id = (SELECT child_id FROM u) AND kind = 'REFERRAL_SLA_BREACH'
    AND subject_key = (SELECT id::text FROM u) AND resolved_at IS NULL
  RETURNING 1
), w AS (
  INSERT INTO public.workflow_transitions (id, entity, record_id, child_id, from_status, to_status, at, actor,
                                           actor_org, note)
  SELECT gen_random_uuid(), 'Referral', u.id, u.child_id, o.status, u.status, now(), u.updated_by, o.to_org::text,
         'bench-load'
  FROM u, o
  RETURNING 1
), e AS (
  INSERT INTO public.change_events (entity, record_id, child_id, op, changed, actor, actor_agency, actor_org,
                                    purpose, request_id, region_code, at)
  SELECT 'Referral', u.id, u.child_id, 'UPDATE',
         json_build_object('version', u.version, 'fields',
           jsonb_build_object('status', jsonb_build_array(o.status, u.status))
           || CASE WHEN o.escalated <> u.escalated
                   THEN jsonb_build_object('escalated', jsonb_build_array(o.escalated, u.escalated))
                   ELSE '{}'::jsonb END),
         u.updated_by, 'HEALTH', o.to_org::text, 'TREATMENT', gen_random_uuid()::text, o.residence_region_code, now()
  FROM u, o
  RETURNING 1
), a AS (
  INSERT INTO public.audit_entries (writer, seq, prev_hash, hash, at, sub, agency, role, org, purpose, action,
                                    operation, entity, record_ids, child_id, fields, groups, decision, request_id,
                                    client_addr, policy_version)
  SELECT 'sql-baseline', nextval('bench.audit_seq'), '',
         encode(sha256(convert_to(u.id::text || u.updated_by || now()::text, 'UTF8')), 'hex'),
         now(), u.updated_by, 'HEALTH', 'health.clinician', o.to_org::text, 'TREATMENT', 'WRITE',
         'UPDATE', 'Referral', json_build_array(u.id::text), u.child_id,
         CASE WHEN o.escalated <> u.escalated THEN '["escalated","status"]'::json ELSE '["status"]'::json END,
         '[]'::json, 'ALLOWED', gen_random_uuid()::text, '127.0.0.1', 'sql-baseline'
  FROM u, o
  RETURNING 1
)
SELECT u.id, u.status, u.version FROM u;
