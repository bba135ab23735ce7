-- D. Record a home visit done by a head teacher, with everything carehub's recordVisit writes
-- in its one transaction: the scope check (the child is in the teacher's class), the visit, the
-- overdue-visit flag cleared, the change event (outbox) and the WRITE audit entry (SHA-256 in
-- SQL; not chained: a chain needs the previous hash, i.e. a serialized read). One statement
-- (data-modifying CTEs), autocommit: one round trip and one WAL flush per visit.
-- Equivalent of queries/d_visit.graphql. pgbench form: (child, school, teacher) is row :k of
-- bench.visit_targets. Rows carry observations = 'bench-load'; bench/run deletes them.
\set k random(1, :n)
WITH t AS (
  SELECT vt.child_id, vt.school_id, vt.head_teacher FROM bench.visit_targets vt WHERE vt.idx = :k
), c AS (
  SELECT ch.id, ch.residence_region_code, t.school_id, t.head_teacher
  FROM public.children ch JOIN t ON ch.id = t.child_id
  WHERE ch.archived_at IS NULL
    AND EXISTS (SELECT 1 FROM public.enrollments e
                WHERE e.child_id = ch.id AND e.school_id = t.school_id AND e.head_teacher = t.head_teacher
                  AND e.status = 'ENROLLED' AND e.archived_at IS NULL)
), v AS (
  INSERT INTO public.visits (id, created_at, created_by, updated_at, updated_by, version, owner_agency, owner_org_id,
                             child_id, kind, done_at, visitor, organization_id, stressors, observations)
  SELECT gen_random_uuid(), now(), c.head_teacher, now(), c.head_teacher, 1, 'EDUCATION', c.school_id,
         c.id, 'HEAD_TEACHER_HOME_VISIT', date_trunc('second', now()), c.head_teacher, c.school_id,
         '["ACADEMIC_PRESSURE","FAMILY_CHANGE"]'::json, 'bench-load'
  FROM c
  RETURNING *
), f AS (
  UPDATE public.flags SET resolved_at = now(), resolved_by = 'system', resolution = 'visit recorded', updated_at = now()
  WHERE child_id = (SELECT child_id FROM v) AND kind = 'OVERDUE_VISIT'
    AND subject_key = (SELECT id::text FROM v) AND resolved_at IS NULL
  RETURNING 1
), e AS (
  INSERT INTO public.change_events (entity, record_id, child_id, op, changed, actor, actor_agency, actor_org,
                                    purpose, request_id, region_code, at)
  SELECT 'Visit', v.id, v.child_id, 'CREATE', json_build_object('version', v.version, 'fields', row_to_json(v)),
         v.created_by, 'EDUCATION', v.owner_org_id::text, 'CARE', gen_random_uuid()::text, c.residence_region_code, now()
  FROM v, c
  RETURNING 1
), a AS (
  INSERT INTO public.audit_entries (writer, seq, prev_hash, hash, at, sub, agency, role, org, purpose, action,
                                    operation, entity, record_ids, child_id, fields, groups, decision, request_id,
                                    client_addr, policy_version)
  SELECT 'sql-baseline', nextval('bench.audit_seq'), '',
         encode(sha256(convert_to(v.id::text || v.created_by || now()::text, 'UTF8')), 'hex'),
         now(), v.created_by, 'EDUCATION', 'education.head_teacher', v.owner_org_id::text, 'CARE', 'WRITE',
         'BenchVisit', 'Visit', json_build_array(v.id::text), v.child_id,
         '["child_id","done_at","kind","observations","organization_id","stressors","visitor"]'::json, '[]'::json,
         'ALLOWED', gen_random_uuid()::text, '127.0.0.1', 'sql-baseline'
  FROM v
  RETURNING 1
)
SELECT v.id, v.child_id, v.kind, v.done_at, v.visitor FROM v;
