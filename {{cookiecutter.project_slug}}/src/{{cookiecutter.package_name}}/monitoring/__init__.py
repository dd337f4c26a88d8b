"""Stage: judging a window of live traffic against the model's reference, and acting on it.

In: the prediction log and the model version's reference profile. Out: rows of the
monitoring history, alerts, the degradation event that asks for retraining, an HTML report.
`window` (which window, and reading it whole), `window_pages` (reading it in pages of
`monitoring.window_chunk_rows`, as the flow does) and `window_reduction` (the pages reduced to
counts and scores), `monitored_model` (which version and profile),
`assessment.assess` / `assess_reduced` (schema, feature and prediction drift: `schema_drift`, `drift`,
`drift_report`; realized and estimated performance: `performance`, `realized_band`,
multiclass CBPE's `multiclass_estimate` and regression's `loss_estimate`), `history_rows`,
`retrain_rules`, `alerts` and `notify`, `canary_alert` (a canary rollback's alert),
`degradation_event`; `steps` are the monitoring flow's steps; `report/` renders what was found.
"""
