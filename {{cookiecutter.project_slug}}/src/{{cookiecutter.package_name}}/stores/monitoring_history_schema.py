"""The monitoring history's tables: one row per run, per feature, per metric, per event."""

from __future__ import annotations

from typing import TYPE_CHECKING

import sqlalchemy as sa

from .sql import Migration, json_type, version_table

if TYPE_CHECKING:
    pass


SCHEMA_VERSION = 1


OVERALL = ""  # the segment (and level) name of whole-window performance rows


metadata = sa.MetaData()


versions = version_table(metadata, "monitoring_history_version")


runs = sa.Table(
    "monitoring_runs",
    metadata,
    sa.Column("run_id", sa.String(32), primary_key=True),
    sa.Column("started_at", sa.DateTime, nullable=False),  # UTC, naive, like the prediction log
    sa.Column("finished_at", sa.DateTime),
    sa.Column("window_start", sa.DateTime, nullable=False),
    sa.Column("window_end", sa.DateTime, nullable=False),
    sa.Column("model_name", sa.String(200), nullable=False),
    sa.Column("model_version", sa.String(32), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),  # complete | no_data
    sa.Column("rows", sa.Integer, nullable=False),  # answers in the window (all model versions)
    sa.Column("scored_rows", sa.Integer, nullable=False),  # ... of them by the monitored version
    sa.Column("refused_requests", sa.Integer, nullable=False),  # refused at the contract check
    sa.Column("labelled_rows", sa.Integer, nullable=False),  # in the realized-performance period
    sa.Column("performance_start", sa.DateTime),  # that period is [performance_start, window_end)
    sa.Column("n_scored", sa.Integer, nullable=False),  # features that could be judged
    sa.Column("n_drifted", sa.Integer, nullable=False),
    sa.Column("share_drifted", sa.Float, nullable=False),
    sa.Column("dataset_drift", sa.Boolean, nullable=False),
    sa.Column("drifted_features", json_type(), nullable=False),
    sa.Column("prediction_drift", sa.Boolean),  # null: no scores (regression without a profile, or no rows)
    sa.Column("schema_changed", sa.Boolean, nullable=False),
    sa.Column("primary_metric", sa.String(64), nullable=False),
    sa.Column("baseline_primary", sa.Float),
    sa.Column("realized_primary", sa.Float),
    sa.Column("realized_reliable", sa.Boolean),
    sa.Column("estimated_primary", sa.Float),
    sa.Column("estimated_lower", sa.Float),
    sa.Column("estimated_upper", sa.Float),
    sa.Column("retrain_rules", json_type()),  # rules met in this run
    sa.Column("retrain_emitted", json_type()),  # rules newly met, sent with the degradation event
    sa.Column("retrain_incident_id", sa.String(200)),  # the degradation event's incident
    sa.Column("report_path", sa.Text),
    sa.Column("flow_run_id", sa.String(64)),
    sa.Column("summary", json_type()),  # the rest: the service's per-record events, settings used
    sa.Index("ix_monitoring_runs_model_window", "model_name", "window_end"),
)


feature_drift = sa.Table(
    "monitoring_feature_drift",
    metadata,
    sa.Column("run_id", sa.String(32), sa.ForeignKey(runs.c.run_id), primary_key=True),
    sa.Column("feature", sa.String(200), primary_key=True),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),  # drifted | stable | missing | no_data
    sa.Column("drifted", sa.Boolean, nullable=False),
    sa.Column("source_column", sa.String(200)),  # the column scored, when it arrived renamed
    sa.Column("reasons", json_type()),
    sa.Column("test", sa.String(8)),
    sa.Column("statistic", sa.Float),
    sa.Column("p_value", sa.Float),
    sa.Column("p_adjusted", sa.Float),
    sa.Column("psi", sa.Float),
    sa.Column("js_distance", sa.Float),
    sa.Column("wasserstein", sa.Float),
    sa.Column("max_share_change", sa.Float),
    sa.Column("null_rate_reference", sa.Float),
    sa.Column("null_rate_current", sa.Float),
    sa.Column("unseen_share", sa.Float),
    sa.Column("histogram", json_type()),  # reference and current counts on the reference's bins
    sa.Column("detail", json_type()),  # every other statistic the engine reported
)


prediction_drift = sa.Table(
    "monitoring_prediction_drift",
    metadata,
    sa.Column("run_id", sa.String(32), sa.ForeignKey(runs.c.run_id), primary_key=True),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("drifted", sa.Boolean, nullable=False),
    sa.Column("statistic", sa.Float),
    sa.Column("p_value", sa.Float),
    sa.Column("psi", sa.Float),
    sa.Column("js_distance", sa.Float),
    sa.Column("wasserstein", sa.Float),
    sa.Column("mean_reference", sa.Float),
    sa.Column("mean_current", sa.Float),
    sa.Column("flag_rate_reference", sa.Float),
    sa.Column("flag_rate_current", sa.Float),
    sa.Column("flag_rate_p_value", sa.Float),
    sa.Column("histogram", json_type()),
)


performance = sa.Table(
    "monitoring_performance",
    metadata,
    sa.Column("run_id", sa.String(32), sa.ForeignKey(runs.c.run_id), primary_key=True),
    sa.Column("kind", sa.String(16), primary_key=True),  # realized | estimated
    sa.Column("segment", sa.String(200), primary_key=True),  # "" for the whole window
    sa.Column("level", sa.String(200), primary_key=True),
    sa.Column("metric", sa.String(64), primary_key=True),
    sa.Column("value", sa.Float),
    sa.Column("baseline", sa.Float),  # the training holdout's
    sa.Column("lower", sa.Float),  # estimated: the uncertainty band
    sa.Column("upper", sa.Float),
    sa.Column("n", sa.Integer, nullable=False),
    sa.Column("reliable", sa.Boolean, nullable=False),
)


schema_events = sa.Table(
    "monitoring_schema_events",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.String(32), sa.ForeignKey(runs.c.run_id), nullable=False, index=True),
    sa.Column("source", sa.String(16), nullable=False),  # served | refused (requests the contract check refused)
    sa.Column("column_name", sa.String(200), nullable=False),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("detail", sa.Text, nullable=False),
    sa.Column("data", json_type()),
)


alerts = sa.Table(
    "monitoring_alerts",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.String(32), sa.ForeignKey(runs.c.run_id)),
    sa.Column("raised_at", sa.DateTime, nullable=False),
    sa.Column("key", sa.String(100), nullable=False),  # what kind of problem; the cooldown is per key
    sa.Column("severity", sa.String(16), nullable=False),  # info | warning | critical
    sa.Column("title", sa.String(300), nullable=False),
    sa.Column("message", sa.Text, nullable=False),
    sa.Column("subjects", json_type(), nullable=False),  # what it names (features, columns, metrics)
    sa.Column("evidence", json_type()),
    sa.Column("status", sa.String(16), nullable=False),  # delivered | suppressed | failed | not_sent
    sa.Column("channel", sa.String(32), nullable=False),
    sa.Column("delivery_detail", sa.Text),  # why suppressed or not sent, or the delivery error
    sa.Index("ix_monitoring_alerts_key_raised", "key", "raised_at"),
)


shadow_decisions = sa.Table(
    "monitoring_shadow_decisions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("decided_at", sa.DateTime, nullable=False, index=True),
    sa.Column("model_name", sa.String(200), nullable=False),
    sa.Column("champion_version", sa.String(32)),
    sa.Column("challenger_version", sa.String(32), nullable=False),
    sa.Column("decision", sa.String(32), nullable=False),  # promote | reject | wait, as the shadow flow says
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("n", sa.Integer),  # labelled rows both models scored
    sa.Column("primary_metric", sa.String(64)),
    sa.Column("champion_value", sa.Float),
    sa.Column("challenger_value", sa.Float),
    sa.Column("difference", sa.Float),
    sa.Column("ci_lower", sa.Float),
    sa.Column("ci_upper", sa.Float),
    sa.Column("segments", json_type()),  # per segment level: n, metrics, difference, verdict
    sa.Column("evidence", json_type()),  # anything else the evaluation recorded
    sa.Column("source", sa.String(64), nullable=False),  # who recorded it (the shadow flow, MLflow tags)
    sa.UniqueConstraint("model_name", "challenger_version", "decided_at", name="uq_monitoring_shadow_decision"),
)


# version -> (description, step run inside the upgrading transaction). Version 1 is the
# first schema, created by create_all; add `2: ("what changed", _to_v2)` with the next change.
MIGRATIONS: dict[int, Migration] = {}
