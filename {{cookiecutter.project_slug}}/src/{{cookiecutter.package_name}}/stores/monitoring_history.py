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
from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from ..errors import ProjectError
from .sql import SqlStore, naive_utc

if TYPE_CHECKING:
    import pandas as pd

    from ..settings import Settings
from .monitoring_history_schema import (
    MIGRATIONS,
    SCHEMA_VERSION,
    alerts,
    feature_drift,
    metadata,
    performance,
    prediction_drift,
    runs,
    schema_events,
    shadow_decisions,
    versions,
)

log = logging.getLogger(__name__)


class HistoryError(ProjectError):
    """The history tables cannot be opened or written (unreachable, or written by a newer release)."""


def number(value: Any) -> float | None:
    """A float column's value: NaN and infinities (which SQLite would turn into NULL anyway,
    and PostgreSQL would keep as NaN) are stored as NULL on both."""
    if value is None:
        return None
    found = float(value)
    return found if math.isfinite(found) else None


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


class History(SqlStore):
    """The monitoring history tables of one database. Open one per flow run."""

    what = "monitoring history"
    metadata = metadata
    versions = versions
    version = SCHEMA_VERSION
    migrations = MIGRATIONS
    error = HistoryError

    @classmethod
    def from_settings(cls, settings: Settings) -> History:
        """The history beside the configured prediction log (same URL, same schema)."""
        return cls(settings.prediction_log_url, db_schema=settings.prediction_log.db_schema)

    # --- writing -----------------------------------------------------------------------------

    def record_run(
        self,
        run: Mapping[str, Any],
        features: Sequence[Mapping[str, Any]] = (),
        prediction: Mapping[str, Any] | None = None,
        metrics: Sequence[Mapping[str, Any]] = (),
        events: Sequence[Mapping[str, Any]] = (),
    ) -> None:
        """A run and everything it measured, in one transaction (all or nothing).

        A window is stored once per model version: a run of a window already stored (a Prefect
        retry, a worker killed after this step and the run started again, a replay once labels
        arrived) replaces the earlier run's measurements. What the earlier run did outside this
        table is kept: its alerts move to the new run, and the retraining rules it already asked
        for stay asked (so the rerun does not ask again)."""
        run_id = run["run_id"]
        with self.engine.begin() as connection:
            earlier = self._same_window(connection, run)
            emitted = sorted({str(rule) for row in earlier for rule in (row["retrain_emitted"] or [])})
            incidents = [row["retrain_incident_id"] for row in earlier if row["retrain_incident_id"]]
            carried = {"retrain_emitted": emitted or None, "retrain_incident_id": incidents[-1] if incidents else None}
            connection.execute(runs.insert().values(**{**run, **carried}))
            for table, rows in ((feature_drift, features), (performance, metrics), (schema_events, events)):
                if rows:
                    connection.execute(table.insert(), [{**row, "run_id": run_id} for row in rows])
            if prediction is not None:
                connection.execute(prediction_drift.insert().values(**prediction, run_id=run_id))
            self._replace(connection, [str(row["run_id"]) for row in earlier], run_id)

    @staticmethod
    def _same_window(connection: sa.Connection, run: Mapping[str, Any]) -> list[dict[str, Any]]:
        statement = (
            sa.select(runs.c.run_id, runs.c.retrain_emitted, runs.c.retrain_incident_id)
            .where(
                runs.c.model_name == run["model_name"],
                runs.c.model_version == run["model_version"],
                runs.c.window_start == naive_utc(run["window_start"]),
                runs.c.window_end == naive_utc(run["window_end"]),
                runs.c.run_id != run["run_id"],
            )
            .order_by(runs.c.started_at)
        )
        return [dict(row) for row in connection.execute(statement).mappings().all()]

    @staticmethod
    def _replace(connection: sa.Connection, old: list[str], new: str) -> None:
        """Drop the earlier runs of the window and their measurements; their alerts (the
        cooldown's memory of what was delivered) now belong to the new run."""
        if not old:
            return
        connection.execute(alerts.update().where(alerts.c.run_id.in_(old)).values(run_id=new))
        for table in (feature_drift, prediction_drift, performance, schema_events):
            connection.execute(table.delete().where(table.c.run_id.in_(old)))
        connection.execute(runs.delete().where(runs.c.run_id.in_(old)))
        log.info("window stored again: run %s replaces %s", new, ", ".join(old))

    def add_emitted(self, run_id: str, rules: Sequence[str], incident: str) -> None:
        """Record retraining rules this run asked for, beside those an earlier run of the window did."""
        with self.engine.begin() as connection:
            found = connection.execute(sa.select(runs.c.retrain_emitted).where(runs.c.run_id == run_id)).scalar()
            emitted = sorted({*(str(rule) for rule in (found or [])), *rules})
            connection.execute(
                runs.update()
                .where(runs.c.run_id == run_id)
                .values(retrain_emitted=emitted, retrain_incident_id=incident)
            )

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
        # One run per window and version (`record_run`); a window judged with two versions counts once.
        statement = statement.order_by(runs.c.window_end.desc(), runs.c.started_at.desc()).limit(limit * 4)
        frame = self._frame(statement)
        frame = frame.drop_duplicates(["window_start", "window_end"], keep="first").head(limit)
        return frame.iloc[::-1].reset_index(drop=True)

    def window_runs(self, model_name: str, model_version: str, start: datetime, end: datetime) -> list[dict[str, Any]]:
        """The run of one window for one model version (`record_run` keeps one), as a list."""
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
