"""Stage: answering requests with the champion (and a canary's share), shadowing the
challenger, logging everything.

In: JSON records over HTTP (services/service.py) or a file (batch scoring). Out: answers, and
their rows in the prediction log before each answer leaves. `predictor` (one request end to
end; `answer` is what it answers), `edge` (the contract check and its schema events),
`model_store` (champion, challenger and canary by alias, reloaded without a restart),
`canary_routing` (which records the canary answers: by a hash of a caller key, or at random),
`shadow_worker` (the challenger's thread), `log_writer` (shared commits), `log_health`
(whether the log can be written: /readyz and /metadata), `feedback` (labels sent for earlier
answers), `batch_scoring` (a file streamed through the model a chunk at a time; `score_chunk`
is one chunk's work), `operator_metrics` (request counters and the models' gauges for
/metrics), `monitoring_snapshot` (the latest monitoring results, refreshed off the request
path), `service_metrics` (both, for one worker);
`http/` is what BentoML needs around them.
Never imports LightGBM, Great Expectations or Prefect (a lint contract): onnxruntime serves.
"""
