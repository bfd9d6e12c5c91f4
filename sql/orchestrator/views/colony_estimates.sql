-- Colony estimates weighed by how far their kind of source is trusted (ORCH_006).

CREATE OR REPLACE VIEW trapper.v_orchestrator_colony_estimates_weighted AS
SELECT e.place_id,
       count(*) AS estimates,
       round(sum(e.total_cats * coalesce(c.confidence, 0.5))
             / nullif(sum(coalesce(c.confidence, 0.5)), 0), 1) AS weighted_total_cats,
       max(e.total_cats) AS highest_estimate,
       max(coalesce(c.confidence, 0.5)) AS best_source_confidence,
       max(e.observation_date) AS latest_observation
FROM trapper.place_colony_estimates e
LEFT JOIN trapper.orchestrator_colony_source_confidence c ON c.source_type = e.source_type
WHERE e.total_cats IS NOT NULL
GROUP BY e.place_id;
