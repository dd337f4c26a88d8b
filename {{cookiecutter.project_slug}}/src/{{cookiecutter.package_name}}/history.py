"""The monitoring history: what every monitoring run found, beside the prediction log.

Same database as the prediction log (SQLite by default, PostgreSQL by URL, the
same PostgreSQL schema when one is set), in tables of its own prefixed
`monitoring_`: one row per run (window, model version, verdicts), per feature,
for the score distribution, per metric (realized and estimated, overall and per
segment), per schema event, per alert (sent or not, and why), and per shadow
evaluation decision. The report's over-time plots, the alert cooldown and the
retraining rules all read it.

Like the prediction log, the tables carry a schema version
(`monitoring_history_version`); a later release adds a step to `MIGRATIONS`,
and a release that finds newer tables refuses to write to them.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from .errors import ProjectError
from .sqlstore import (
    Migration,
    create_engine,
    display_url,
    json_type,
    prepare_schema,
    schema_version,
    version_table,
)

if TYPE_CHECKING:
    import pandas as pd

    from .settings import Settings

SCHEMA_VERSION = 1
OVERALL = ""  # the segment (and level) name of whole-window performance rows

log = logging.getLogger(__name__)


class HistoryError(ProjectError):
    """The history tables cannot be opened or written (unreachable, or written by a newer release)."""


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


def number(value: Any) -> float | None:
    """A float column's value: NaN and infinities (which SQLite would turn into NULL anyway,
    and PostgreSQL would keep as NaN) are stored as NULL on both."""
    if value is None:
        return None
    found = float(value)
    return found if math.isfinite(found) else None


def naive_utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment


@dataclass(frozen=True)
class ShadowDecision:
    """One shadow-evaluation decision, as the report shows it."""

    decided_at: datetime
    model_name: str
    challenger_version: str
    decision: str
    reason: str
    champion_version: str | None = None
    n: int | None = None
    primary_metric: str | None = None
    champion_value: float | None = None
    challenger_value: float | None = None
    difference: float | None = None
    ci_lower: float | None = None
    ci_upper: float | None = None
    segments: Sequence[Mapping[str, Any]] = ()
    evidence: Mapping[str, Any] | None = None
    source: str = "shadow-evaluation"

    def row(self) -> dict[str, Any]:
        return {
            "decided_at": naive_utc(self.decided_at),
            "model_name": self.model_name,
            "champion_version": self.champion_version,
            "challenger_version": self.challenger_version,
            "decision": self.decision,
            "reason": self.reason,
            "n": self.n,
            "primary_metric": self.primary_metric,
            "champion_value": number(self.champion_value),
            "challenger_value": number(self.challenger_value),
            "difference": number(self.difference),
            "ci_lower": number(self.ci_lower),
            "ci_upper": number(self.ci_upper),
            "segments": [dict(s) for s in self.segments],
            "evidence": dict(self.evidence or {}),
            "source": self.source,
        }


class History:
    """The monitoring history tables of one database. Open one per flow run."""

    def __init__(self, url: str, *, db_schema: str | None = None) -> None:
        self.url = url
        self.db_schema = db_schema
        engine = create_engine(url)
        self._raw_engine = engine
        self.engine: sa.Engine = (
            engine.execution_options(schema_translate_map={None: db_schema}) if db_schema else engine
        )
        try:
            self._prepare()
        except sa.exc.SQLAlchemyError as err:
            engine.dispose()
            raise HistoryError(
                f"cannot open the monitoring history at {display_url(url)}: {str(err).splitlines()[0]}"
            ) from None

    @classmethod
    def from_settings(cls, settings: Settings) -> History:
        """The history beside the configured prediction log (same URL, same schema)."""
        return cls(settings.prediction_log_url, db_schema=settings.prediction_log.db_schema)

    def close(self) -> None:
        self._raw_engine.dispose()

    def __enter__(self) -> History:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # --- schema ------------------------------------------------------------------------------

    def _prepare(self) -> None:
        prepare_schema(
            engine=self.engine,
            raw_engine=self._raw_engine,
            db_schema=self.db_schema,
            metadata=metadata,
            versions=versions,
            version=SCHEMA_VERSION,
            migrations=MIGRATIONS,
            what="monitoring history",
            url=self.url,
            error=HistoryError,
        )

    def schema_version(self) -> int:
        return schema_version(self.engine, versions)

    # --- writing -----------------------------------------------------------------------------

    def record_run(
        self,
        run: Mapping[str, Any],
        features: Sequence[Mapping[str, Any]] = (),
        prediction: Mapping[str, Any] | None = None,
        metrics: Sequence[Mapping[str, Any]] = (),
        events: Sequence[Mapping[str, Any]] = (),
    ) -> None:
        """A run and everything it measured, in one transaction (all or nothing)."""
        run_id = run["run_id"]
        with self.engine.begin() as connection:
            connection.execute(runs.insert().values(**run))
            for table, rows in ((feature_drift, features), (performance, metrics), (schema_events, events)):
                if rows:
                    connection.execute(table.insert(), [{**row, "run_id": run_id} for row in rows])
            if prediction is not None:
                connection.execute(prediction_drift.insert().values(**prediction, run_id=run_id))

    def update_run(self, run_id: str, **values: Any) -> None:
        with self.engine.begin() as connection:
            connection.execute(runs.update().where(runs.c.run_id == run_id).values(**values))

    def record_alerts(self, rows: Iterable[Mapping[str, Any]]) -> None:
        found = [dict(row) for row in rows]
        if found:
            with self.engine.begin() as connection:
                connection.execute(alerts.insert(), found)

    def record_shadow_decision(self, decision: ShadowDecision) -> bool:
        """Store a decision once: the same (model, challenger, time) again is ignored.
        Returns whether it was new."""
        row = decision.row()
        with self.engine.begin() as connection:
            exists = connection.execute(
                sa.select(shadow_decisions.c.id).where(
                    shadow_decisions.c.model_name == row["model_name"],
                    shadow_decisions.c.challenger_version == row["challenger_version"],
                    shadow_decisions.c.decided_at == row["decided_at"],
                )
            ).first()
            if exists is not None:
                return False
            connection.execute(shadow_decisions.insert().values(**row))
        return True

    # --- reading -----------------------------------------------------------------------------

    def _frame(self, statement: sa.Select[Any]) -> pd.DataFrame:
        import pandas as pd

        with self.engine.connect() as connection:
            result = connection.execute(statement)
            columns = [str(k) for k in list(result.keys())]
            records = [{str(k): v for k, v in row.items()} for row in result.mappings()]
        return pd.DataFrame.from_records(records, columns=columns)

    def run(self, run_id: str) -> dict[str, Any] | None:
        with self.engine.connect() as connection:
            found = connection.execute(sa.select(runs).where(runs.c.run_id == run_id)).mappings().first()
        return dict(found) if found is not None else None

    def windows(self, model_name: str, limit: int, until: datetime | None = None) -> pd.DataFrame:
        """The latest run of each of the last `limit` windows ending at or before `until`,
        oldest first: what the over-time plots and the sustained-drift rule read."""
        statement = sa.select(runs).where(runs.c.model_name == model_name)
        if until is not None:
            statement = statement.where(runs.c.window_end <= naive_utc(until))
        # A window run twice (a replay, a retry) counts once: its latest run.
        statement = statement.order_by(runs.c.window_end.desc(), runs.c.started_at.desc()).limit(limit * 4)
        frame = self._frame(statement)
        frame = frame.drop_duplicates(["window_start", "window_end"], keep="first").head(limit)
        return frame.iloc[::-1].reset_index(drop=True)

    def window_runs(self, model_name: str, model_version: str, start: datetime, end: datetime) -> list[dict[str, Any]]:
        """Every run of one window for one model version (reruns included), oldest first."""
        statement = (
            sa.select(runs)
            .where(
                runs.c.model_name == model_name,
                runs.c.model_version == model_version,
                runs.c.window_start == naive_utc(start),
                runs.c.window_end == naive_utc(end),
            )
            .order_by(runs.c.started_at)
        )
        with self.engine.connect() as connection:
            return [dict(row) for row in connection.execute(statement).mappings().all()]

    def feature_series(self, run_ids: Sequence[str]) -> pd.DataFrame:
        """Per-feature results of these runs (without histograms, which only the current run needs)."""
        columns = [c for c in feature_drift.columns if c.name not in ("histogram", "detail")]
        return self._frame(sa.select(*columns).where(feature_drift.c.run_id.in_(list(run_ids))))

    def features(self, run_id: str) -> pd.DataFrame:
        return self._frame(sa.select(feature_drift).where(feature_drift.c.run_id == run_id))

    def prediction(self, run_id: str) -> dict[str, Any] | None:
        with self.engine.connect() as connection:
            found = (
                connection.execute(sa.select(prediction_drift).where(prediction_drift.c.run_id == run_id))
                .mappings()
                .first()
            )
        return dict(found) if found is not None else None

    def prediction_series(self, run_ids: Sequence[str]) -> pd.DataFrame:
        columns = [c for c in prediction_drift.columns if c.name != "histogram"]
        return self._frame(sa.select(*columns).where(prediction_drift.c.run_id.in_(list(run_ids))))

    def performance(self, run_ids: Sequence[str]) -> pd.DataFrame:
        return self._frame(sa.select(performance).where(performance.c.run_id.in_(list(run_ids))))

    def schema_events(self, run_id: str) -> pd.DataFrame:
        return self._frame(
            sa.select(schema_events).where(schema_events.c.run_id == run_id).order_by(schema_events.c.id)
        )

    def alerts(self, since: datetime | None = None, key: str | None = None, limit: int = 200) -> pd.DataFrame:
        """Alerts, newest first."""
        statement = sa.select(alerts)
        if since is not None:
            statement = statement.where(alerts.c.raised_at >= naive_utc(since))
        if key is not None:
            statement = statement.where(alerts.c.key == key)
        return self._frame(statement.order_by(alerts.c.raised_at.desc(), alerts.c.id.desc()).limit(limit))

    def alerts_of(self, run_ids: Sequence[str]) -> pd.DataFrame:
        return self._frame(sa.select(alerts).where(alerts.c.run_id.in_(list(run_ids))))

    def delivered(self, key: str, since: datetime) -> list[dict[str, Any]]:
        """Alerts of this key delivered since `since`: what the cooldown compares against."""
        statement = sa.select(alerts).where(
            alerts.c.key == key, alerts.c.status == "delivered", alerts.c.raised_at >= naive_utc(since)
        )
        with self.engine.connect() as connection:
            return [dict(row) for row in connection.execute(statement).mappings().all()]

    def shadow_decisions(self, model_name: str | None = None, limit: int = 20) -> pd.DataFrame:
        """Shadow-evaluation decisions, newest first."""
        statement = sa.select(shadow_decisions)
        if model_name is not None:
            statement = statement.where(shadow_decisions.c.model_name == model_name)
        return self._frame(
            statement.order_by(shadow_decisions.c.decided_at.desc(), shadow_decisions.c.id.desc()).limit(limit)
        )
