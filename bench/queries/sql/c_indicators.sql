-- C. Indicators of one city, per county: children per county by risk level, the naive way --
-- every child's current risk level is recomputed from its history at query time (issue 8's
-- "naive SQL baseline"; adapted from ../shared/bench/queries/c_city_dashboard.sql, whose
-- LATERAL ... ORDER BY ... LIMIT 1 takes the latest screening only).
-- Equivalent of queries/c_indicators.graphql, so with carehub's definitions (docs/indicators.md,
-- api/src/write/derived.rs):
--   * who counts: children not archived, ACTIVE, under 18 today (UTC), with a difficulty
--     category valid today;
--   * the current level: the latest screening or crisis event, except that a lowering from
--     ORANGE/RED takes effect only through the care-plan approver's review (a `ChildRisk`
--     workflow transition). Folded over a child's history that is: start from the latest review
--     (or from nothing); if that level or any later event is ORANGE/RED, the highest of them,
--     else the latest later event (or the review's level); 'unscreened' when there is none.
--     The seeded data has such unreviewed lowerings, so the shared baseline's "latest screening"
--     would not give carehub's answer.
-- Output: one row per (county, level) with children > 0, the county as its 12-digit code, the
-- level as carehub's field name (unscreened, green, yellow, orange, red).
-- bench_peer.city_risk_dashboard(city) (lib/params.sql), which the peer serves, has the same body.
-- Hand-written form: WHERE c.city_code = $1. pgbench form: the city is row :k of bench.cities.
\set k random(1, :n)
WITH t AS (SELECT city_code FROM bench.cities WHERE idx = :k)
SELECT lpad(c.county_code::text, 12, '0') AS region_code,
       coalesce((ARRAY['green', 'yellow', 'orange', 'red'])[
                  CASE WHEN coalesce(rv.rank, 0) >= 3 OR coalesce(ev.top, 0) >= 3 THEN greatest(rv.rank, ev.top)
                       ELSE coalesce(ev.last, rv.rank) END], 'unscreened') AS risk_level,
       count(*) AS children
FROM t
JOIN public.children c ON c.city_code = t.city_code
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
WHERE c.archived_at IS NULL
  AND c.status = 'ACTIVE'
  AND c.birth_date > (now() AT TIME ZONE 'UTC')::date - interval '18 years'
  AND EXISTS (SELECT 1 FROM public.child_difficulties d
              WHERE d.child_id = c.id AND d.archived_at IS NULL
                AND d.valid_from <= (now() AT TIME ZONE 'UTC')::date
                AND (d.valid_to IS NULL OR d.valid_to >= (now() AT TIME ZONE 'UTC')::date))
GROUP BY 1, 2
ORDER BY 1, 2;
