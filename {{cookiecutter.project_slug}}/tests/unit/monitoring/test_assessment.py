"""The monitoring run's inputs: which window, which model version, which columns, and what an
empty window, unknown fields and refused requests become."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pandas as pd
import pytest
from typer.testing import CliRunner

from {{ cookiecutter.package_name }}.cli.app import app
from {{ cookiecutter.package_name }}.data.demo_world import TrafficShift
from {{ cookiecutter.package_name }}.errors import ProjectError
from {{ cookiecutter.package_name }}.monitoring.assessment import assess
from {{ cookiecutter.package_name }}.monitoring.monitored_model import MonitoredModel, NoModel, pick_version
from {{ cookiecutter.package_name }}.monitoring.window import (
    Window,
    WindowData,
    load_window,
    received_features,
    refused_records,
    resolve_window,
)
from {{ cookiecutter.package_name }}.settings import Settings
from {{ cookiecutter.package_name }}.stores.prediction_log import from_settings
from {{ cookiecutter.package_name }}.stores.prediction_log_schema import rejections
from tests.support.drift_data import project_contract
from tests.support.monitoring import LIVE_START, MODEL, demo_profile, fraud_scores, log_answers, records, traffic

DAY = timedelta(days=1)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    """A naive UTC time, the prediction log's form."""
    return datetime(year, month, day, hour, minute, tzinfo=UTC).replace(tzinfo=None)


def model(version: str = "1") -> MonitoredModel:
    return MonitoredModel(MODEL, version, demo_profile(), "champion")


def test_explicit_windows_and_their_defaults(settings: Settings) -> None:
    """Both ends given: that window. One end: a window's length (a day) from it. Aware times are
    converted to naive UTC, the prediction log's form; an end before the start is refused."""
    # Given a start in another time zone
    start = datetime(2026, 4, 5, 2, 0, tzinfo=UTC)
    berlin = start.astimezone(ZoneInfo("Europe/Berlin"))

    # When windows are resolved from one or both ends
    both = resolve_window(settings, start, start + timedelta(hours=6))
    only_start = resolve_window(settings, berlin)
    only_end = resolve_window(settings, end=start)

    # Then they span what was asked, in naive UTC
    assert (both.start, both.end) == (utc(2026, 4, 5, 2), utc(2026, 4, 5, 8))
    assert (only_start.start, only_start.end) == (utc(2026, 4, 5, 2), utc(2026, 4, 6, 2))
    assert (only_end.start, only_end.end) == (utc(2026, 4, 4, 2), utc(2026, 4, 5, 2))
    with pytest.raises(ProjectError, match="must end after it starts"):
        resolve_window(settings, start, start - DAY)


def test_the_default_window_is_the_last_complete_day_of_the_log(settings: Settings) -> None:
    """Without parameters: yesterday when the log runs up to today (a live service), the log's
    last day when it ends in the past (a replay), and yesterday when the log is empty."""
    # Given an empty log, then one whose last answer is on 3 April 2026
    now = utc(2026, 6, 10, 6, 0)
    empty = resolve_window(settings, now=now)
    frame = traffic(50, 2)
    prediction_log = from_settings(settings)
    log_answers(prediction_log, records(frame, project_contract()), fraud_scores(frame), LIVE_START + 2 * DAY)
    prediction_log.close()

    # When the default window is resolved in June, and "today" is 3 April at noon
    replay = resolve_window(settings, now=now)
    live = resolve_window(settings, now=utc(2026, 4, 3, 12, 0))

    # Then each is a whole UTC day
    assert (empty.start, empty.end) == (utc(2026, 6, 9), utc(2026, 6, 10))
    assert (replay.start, replay.end) == (utc(2026, 4, 3), utc(2026, 4, 4))
    assert (live.start, live.end) == (utc(2026, 4, 2), utc(2026, 4, 3))


def test_the_champion_is_monitored_unless_the_window_never_saw_it() -> None:
    """The champion, when it answered in the window (or nothing did); otherwise the version
    that answered most of the window (a replay of days served by an earlier version)."""
    # Given windows served by versions 3 and 4
    served = pd.DataFrame({"model_version": ["3", "3", "4"]})

    # When the version to judge against is picked
    # Then it is the champion if present, else the busiest version; with no champion and no rows, none
    assert pick_version(served, "4") == "4"
    assert pick_version(served, "5") == "3"
    assert pick_version(served.iloc[0:0], "5") == "5"
    with pytest.raises(NoModel, match="train one first"):
        pick_version(served.iloc[0:0], None)


def test_received_features_drop_the_logs_columns_and_restore_clashing_names() -> None:
    """The window's feature frame holds what callers sent: the log's own columns go, and a
    received field that the log had to rename (`received.score`) gets its name back."""
    # Given a window as the prediction log returns it
    served = pd.DataFrame(
        {
            "amount": [1.0],
            "received.score": [7],
            "request_id": ["r"],
            "score": [0.1],
            "label": [None],
            "schema_events": [[]],
        }
    )

    # When the features are taken
    features = received_features(served)

    # Then only the callers' fields remain, under their own names
    assert list(features.columns) == ["amount", "score"]
    assert features["score"].tolist() == [7]


def test_refused_requests_yield_their_records_whatever_the_body() -> None:
    """Refused bodies hold one record, a list of them, or something that is not a record at all."""
    # Given refused bodies of every shape
    refused = pd.DataFrame({"body": [{"amount": 1}, [{"amount": 2}, "junk"], "not json", None]})

    # When their records are extracted
    found = refused_records(refused)

    # Then the two records are there and the rest is skipped
    assert found["amount"].tolist() == [1, 2]


def test_an_empty_window_is_no_data_not_a_dropped_schema(settings: Settings) -> None:
    """A window without answers reports every feature as "no_data" and no schema event: an
    empty day is not an upstream team dropping every column."""
    # Given an empty prediction log
    window = Window(LIVE_START, LIVE_START + DAY)

    # When the window is assessed
    found = assess(settings, model(), load_window(settings, window))

    # Then nothing is called drifted or dropped
    assert found.status == "no_data"
    assert {f.status for f in found.drift.features} == {"no_data"}
    assert found.drift.schema == ()
    assert found.estimate is None
    assert found.realized is None


def test_unknown_fields_and_refused_renames_become_schema_events(settings: Settings) -> None:
    """Fields the service kept but does not know are reported twice over (as a new column and as
    the service's unknown-field count), and requests refused because a feature was renamed
    upstream show the rename, marked as coming from refused requests. Score drift reads only
    the monitored version's answers."""
    # Given a day with an extra column, answered partly by another version, and refused renamed records
    contract = project_contract()
    frame = traffic(1500, 0, TrafficShift(extra_columns=("account_type",)))
    found_records = records(frame, contract, ["account_type"])
    prediction_log = from_settings(settings)
    log_answers(prediction_log, found_records[:1000], fraud_scores(frame)[:1000], LIVE_START, unknown=["account_type"])
    log_answers(
        prediction_log,
        found_records[1000:],
        fraud_scores(frame)[1000:] * 0 + 0.9,
        LIVE_START + DAY / 2,
        version="2",
        span=DAY / 2,
        unknown=["account_type"],
    )
    renamed = [{("mcc" if k == "merchant_category" else k): v for k, v in r.items()} for r in found_records[:400]]
    with prediction_log.engine.begin() as connection:  # refused during the window
        connection.execute(
            rejections.insert(),
            [
                {
                    "received_at": LIVE_START + DAY / 8 * i,
                    "occurred_at": LIVE_START + DAY / 8 * i,
                    "endpoint": "/predict",
                    "status": 400,
                    "error": "merchant_category is missing",
                    "detail": [],
                    "body": renamed[i * 100 : (i + 1) * 100],
                }
                for i in range(4)
            ],
        )
    prediction_log.close()

    # When the window is assessed against version 1
    window = Window(LIVE_START, LIVE_START + DAY)
    data = load_window(settings, window)
    found = assess(settings, model("1"), WindowData(window, data.served, data.refused))

    # Then the events name the column and the change, and only version 1's scores were judged
    served = {(e.kind, e.column) for e in found.drift.schema}
    assert {("added", "account_type"), ("unknown_field", "account_type")} <= served
    assert [(e.kind, e.column, e.data["new_name"]) for e in found.refused_events if e.kind == "renamed"] == [
        ("renamed", "merchant_category", "mcc")
    ]
    assert (found.rows, found.scored_rows, found.refused_requests) == (1500, 1000, 4)
    assert found.edge_events == {"unknown_field:account_type": 1500}
    assert found.drift.prediction is not None
    assert found.drift.prediction.scores.n_current == 1000


def test_the_monitor_command_refuses_contradictory_or_unreadable_dates() -> None:
    """`monitor --day` excludes --start/--end, and dates must be ISO; both fail with one line,
    before any flow starts."""
    # Given the command line
    runner = CliRunner()

    # When it is given contradictory, then unreadable, options
    both = runner.invoke(app, ["monitor", "--day", "2026-04-05", "--start", "2026-04-01"])
    unreadable = runner.invoke(app, ["monitor", "--day", "5 April"])

    # Then each exits 1 saying why
    assert both.exit_code == 1
    assert "give --day, or --start/--end, not both" in both.output
    assert unreadable.exit_code == 1
    assert "is not an ISO date" in unreadable.output
