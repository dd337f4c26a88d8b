"""Alerts: what is raised at which severity, the cooldown, and delivery to real local receivers.

Webhook and Slack messages go over HTTP to a server on 127.0.0.1 (Slack through
Prefect's SlackWebhook block, whose Apprise plugin is pointed at the local host
the way Prefect points it at Slack GovCloud); email goes over SMTP to a local
aiosmtpd server. Nothing is mocked.
"""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from pydantic import SecretStr

from {{ cookiecutter.package_name }}.monitoring import alerts
from {{ cookiecutter.package_name }}.monitoring.alerts import DELIVERED, FAILED, NOT_SENT, SUPPRESSED, Alert
from {{ cookiecutter.package_name }}.monitoring.assessment import Assessment
from {{ cookiecutter.package_name }}.monitoring.history_rows import history_rows
from {{ cookiecutter.package_name }}.monitoring.retrain_rules import SUSTAINED_DRIFT, RetrainDecision, RuleResult
from {{ cookiecutter.package_name }}.monitoring.schema_drift import SchemaEvent
from {{ cookiecutter.package_name }}.settings import AlertSettings, Settings
from {{ cookiecutter.package_name }}.stores.monitoring_history import History
from {{ cookiecutter.package_name }}.stores.sql import utcnow
from tests.support.monitoring import assessment, drift_report, estimate, http_receiver, realized, smtp_server

TOKEN = "s3cr3t-token-value"


def stored(history: History, settings: Settings, found: Assessment) -> None:
    history.record_run(**history_rows(found, settings))


def keyed(raised: list[Alert]) -> dict[str, str]:
    return {a.key: a.severity for a in raised}


def test_findings_raise_alerts_at_their_severity(settings: Settings) -> None:
    """Feature drift is info for a few features, a warning for dataset drift and critical when
    sustained; a realized breach is critical, an estimated one a warning; mass refusals are
    critical; a schema change and a retraining request are warnings. One alert per key."""
    # Given findings of each kind
    few = assessment(drift=drift_report(["amount"], stable=9))
    dataset = assessment(drift=drift_report(["amount", "channel", "card_type"], stable=3))
    sustained = RetrainDecision(met=(RuleResult(SUSTAINED_DRIFT, "three windows"),))
    breached = assessment(performance=realized(0.2), band=(0.15, 0.25), predicted=estimate(0.2, 0.1, 0.3))
    estimated = assessment(predicted=estimate(0.2, 0.1, 0.3))
    added = SchemaEvent("account_type", "added", "column account_type is new")
    refused = assessment(drift=drift_report(schema=[added]), refused=500, rows=1000)
    asked = RetrainDecision(met=(RuleResult("schema_change", "new column"),), new=(RuleResult("schema_change", "x"),))

    # When alerts are raised for each
    none = RetrainDecision()

    # Then each has the documented severity
    assert keyed(alerts.raise_alerts(few, none, settings)) == {"feature-drift": "info"}
    assert keyed(alerts.raise_alerts(dataset, none, settings)) == {"feature-drift": "warning"}
    assert keyed(alerts.raise_alerts(dataset, sustained, settings)) == {"feature-drift": "critical"}
    assert keyed(alerts.raise_alerts(breached, none, settings)) == {"performance": "critical"}
    assert keyed(alerts.raise_alerts(estimated, none, settings)) == {"performance": "warning"}
    assert keyed(alerts.raise_alerts(refused, asked, settings)) == {
        "schema-change": "warning",
        "refused-requests": "critical",
        "retraining": "warning",
    }
    assert keyed(alerts.raise_alerts(assessment(rows=0), none, settings)) == {"no-traffic": "warning"}


def test_the_cooldown_suppresses_repeats_but_not_escalations_or_news(history: History, settings: Settings) -> None:
    """Within the cooldown an alert repeating what was sent is suppressed; a higher severity or
    a new subject goes out at once; after the cooldown the reminder goes out. Every alert is
    stored, sent or not."""
    # Given a webhook channel with a one-day cooldown and a first drift alert already sent
    with http_receiver() as receiver:
        chosen = AlertSettings(channel="webhook", webhook_url=SecretStr(receiver.url + "/hook"), cooldown_hours=24)
        found = assessment()
        stored(history, settings, found)
        now = utcnow()
        drift = Alert("feature-drift", "warning", "dataset drift", "amount moved", ("amount", "channel"))

        # When the same alert, an escalation, one with a new feature, and a late repeat are processed
        first = alerts.process(history, found, [drift], chosen, now=now)
        repeat = alerts.process(history, found, [drift], chosen, now=now + timedelta(hours=1))
        worse = alerts.process(
            history,
            found,
            [Alert("feature-drift", "critical", "sustained", "x", ("amount",))],
            chosen,
            now=now + timedelta(hours=2),
        )
        news = alerts.process(
            history,
            found,
            [Alert("feature-drift", "warning", "drift", "x", ("card_type",))],
            chosen,
            now=now + timedelta(hours=3),
        )
        later = alerts.process(history, found, [drift], chosen, now=now + timedelta(hours=30))

    # Then only the first, the escalation, the news and the late reminder were sent
    assert [o[0].status for o in (first, repeat, worse, news, later)] == [
        DELIVERED,
        SUPPRESSED,
        DELIVERED,
        DELIVERED,
        DELIVERED,
    ]
    assert "cooldown 24 h" in (repeat[0].detail or "")
    assert len(receiver.requests) == 4
    assert len(history.alerts(key="feature-drift")) == 5


def test_alerts_below_the_minimum_severity_or_without_a_channel_are_stored_not_sent(
    history: History, settings: Settings
) -> None:
    """Info alerts stay in the history when the minimum is "warning"; with channel "none"
    nothing is sent at all, and the history says why."""
    # Given one stored run and two routes: a webhook wanting warnings, and no channel
    found = assessment()
    stored(history, settings, found)
    info = Alert("feature-drift", "info", "one feature drifted", "amount", ("amount",))
    critical = Alert("performance", "critical", "precision fell", "0.2", ("realized:average_precision",))

    # When both are processed on each route
    with http_receiver() as receiver:
        webhook = AlertSettings(channel="webhook", webhook_url=SecretStr(receiver.url))
        sent = alerts.process(history, found, [info, critical], webhook)
    silent = alerts.process(history, found, [critical], AlertSettings(channel="none"))

    # Then the info alert and the channel-less one are stored as not sent, with the reason
    assert [(o.alert.key, o.status) for o in sent] == [("feature-drift", NOT_SENT), ("performance", DELIVERED)]
    assert sent[0].detail == "below alerts.min_severity (warning)"
    assert [(o.status, o.detail) for o in silent] == [(NOT_SENT, "alerts.channel is none")]
    assert len(receiver.requests) == 1
    assert set(history.alerts()["status"]) == {NOT_SENT, DELIVERED}


def test_webhook_delivery_posts_json_with_the_token_and_never_stores_it(history: History, settings: Settings) -> None:
    """The webhook receives one JSON message per run (subject, text, structured alerts) with
    the bearer token in its header; the token appears nowhere in the history."""
    # Given a webhook with a token and two alerts in one run
    found = assessment()
    stored(history, settings, found)
    raised = [
        Alert("schema-change", "warning", "the served data changed shape", "account_type is new", ("added:x",)),
        Alert("performance", "critical", "average_precision fell to 0.2", "realized", ("realized:ap",)),
    ]
    with http_receiver() as receiver:
        chosen = AlertSettings(
            channel="webhook", webhook_url=SecretStr(receiver.url + "/alerts"), webhook_token=SecretStr(TOKEN)
        )

        # When they are processed
        outcomes = alerts.process(history, found, raised, chosen, report="/tmp/report.html")

    # Then one message arrived, most severe first, and the stored rows hold no secret
    assert [o.status for o in outcomes] == [DELIVERED, DELIVERED]
    (request,) = receiver.requests
    assert request.path == "/alerts"
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    body = request.json()
    assert body["subject"].startswith("[{{ cookiecutter.project_slug }}] CRITICAL: average_precision fell to 0.2 (+1 more)")
    assert [a["key"] for a in body["alerts"]] == ["performance", "schema-change"]
    assert body["model_version"] == "1"
    assert body["report"] == "/tmp/report.html"
    assert "Report: /tmp/report.html" in body["text"]
    assert TOKEN not in history.alerts().to_json()


def test_slack_delivery_goes_through_the_slack_webhook_block(
    history: History, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Prefect's SlackWebhook block posts Slack's message format. Apprise's Slack plugin sends
    to its `webhook_url` host (Prefect itself repoints it for Slack GovCloud); here it points
    at the local receiver, so the real HTTP request is made and checked."""
    from apprise.plugins.slack import NotifySlack

    # Given a Slack channel whose webhook host is the local receiver
    found = assessment()
    stored(history, settings, found)
    with http_receiver() as receiver:
        monkeypatch.setattr(NotifySlack, "webhook_url", receiver.url + "/services")
        chosen = AlertSettings(
            channel="slack", slack_webhook_url=SecretStr("https://hooks.slack.com/services/T000/B000/XXXXSECRET")
        )

        # When an alert is processed
        outcomes = alerts.process(history, found, [Alert("performance", "critical", "precision fell", "x")], chosen)

    # Then Slack's endpoint path received the message as a Slack attachment
    assert outcomes[0].status == DELIVERED
    (request,) = receiver.requests
    assert request.path == "/services/T000/B000/XXXXSECRET"
    attachment = request.json()["attachments"][0]
    assert attachment["title"] == "[{{ cookiecutter.project_slug }}] CRITICAL: precision fell"
    assert "precision fell" in attachment["text"]
    assert history.alerts()["channel"].tolist() == ["slack"]


def test_email_delivery_sends_plain_and_html_over_smtp(history: History, settings: Settings) -> None:
    """prefect-email's EmailServerCredentials and email_send_message deliver to the SMTP server
    with a plain-text and an HTML part."""
    # Given an email channel pointing at a local SMTP server
    found = assessment()
    stored(history, settings, found)
    with smtp_server() as mailbox:
        chosen = AlertSettings(
            channel="email",
            smtp_host="127.0.0.1",
            smtp_port=mailbox.port,
            smtp_security="INSECURE",
            email_from="monitor@example.com",
            email_to=["oncall@example.com", "ml@example.com"],
        )

        # When an alert is processed
        outcomes = alerts.process(
            history, found, [Alert("schema-change", "warning", "new column", "account_type")], chosen
        )

    # Then the message arrived, addressed and in both forms
    assert outcomes[0].status == DELIVERED
    (message,) = mailbox.messages
    assert message["Subject"] == "[{{ cookiecutter.project_slug }}] WARNING: new column"
    assert message["From"] == "monitor@example.com"
    assert message["To"] == "oncall@example.com, ml@example.com"
    kinds = {
        part.get_content_type(): part.get_payload(decode=True).decode()
        for part in message.walk()
        if not part.is_multipart()
    }
    assert "account_type" in kinds["text/plain"]
    assert "<li><b>[warning] new column</b>" in kinds["text/html"]


def test_a_failed_delivery_is_stored_as_failed_without_secrets(
    history: History, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    """A receiver that answers 500, or a channel missing its address, fails the delivery: the
    alert is stored as failed with the reason, and no URL token reaches the history or the
    log. A failed alert does not start the cooldown, so the next run tries again."""
    # Given a webhook whose URL carries a token and whose server answers 500, and a Slack channel without a URL
    found = assessment()
    stored(history, settings, found)
    alert = Alert("performance", "critical", "precision fell", "x", ("realized:ap",))
    with http_receiver(status=500) as receiver, caplog.at_level(logging.WARNING):
        broken = AlertSettings(channel="webhook", webhook_url=SecretStr(f"{receiver.url}/hook/{TOKEN}"))

        # When alerts are processed on both, and again on the repaired webhook
        failed = alerts.process(history, found, [alert], broken)
        unconfigured = alerts.process(history, found, [alert], AlertSettings(channel="slack"))
        receiver.status = 200
        retried = alerts.process(history, found, [alert], broken)

    # Then both failures are stored with a reason free of the token, and the retry is delivered
    assert failed[0].status == FAILED
    assert "500" in (failed[0].detail or "")
    assert unconfigured[0].status == FAILED
    assert unconfigured[0].detail == "alerts.slack_webhook_url is not set"
    assert retried[0].status == DELIVERED
    assert TOKEN not in history.alerts().to_json()
    assert TOKEN not in caplog.text
    assert "***" in (failed[0].detail or "")


def test_the_http_libraries_never_log_a_webhook_or_slack_url(
    history: History, settings: Settings, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """httpx logs each request's URL at INFO, Apprise and urllib3 Slack's at DEBUG; a webhook or
    Slack URL is the credential itself, so while an alert is delivered their records carry `***`
    in its place, whether the delivery succeeds or fails."""
    from apprise.plugins.slack import NotifySlack

    # Given a webhook and a Slack channel whose URLs carry secret paths, logging at DEBUG
    found = assessment()
    stored(history, settings, found)
    alert = Alert("performance", "critical", "precision fell", "x", ("realized:ap",))
    slack_secret = "SlackPathS3cr3t"  # letters and digits, as Slack tokens are
    with http_receiver() as receiver, caplog.at_level(logging.DEBUG):
        monkeypatch.setattr(NotifySlack, "webhook_url", receiver.url + "/services")
        webhook = AlertSettings(
            channel="webhook", webhook_url=SecretStr(f"{receiver.url}/hook/{TOKEN}"), cooldown_hours=0
        )
        slack_url = f"https://hooks.slack.com/services/T000/B000/{slack_secret}"
        slack = AlertSettings(channel="slack", slack_webhook_url=SecretStr(slack_url), cooldown_hours=0)

        # When alerts go out on both, then on both again while the receiver fails
        delivered = [alerts.process(history, found, [alert], chosen)[0].status for chosen in (webhook, slack)]
        receiver.status = 500
        failed = [alerts.process(history, found, [alert], chosen)[0].status for chosen in (webhook, slack)]

    # Then every request was made, and no log record names either secret
    assert (delivered, failed, len(receiver.requests)) == ([DELIVERED] * 2, [FAILED] * 2, 4)
    assert "HTTP Request: POST" in caplog.text  # httpx did log the requests
    assert TOKEN not in caplog.text
    assert slack_secret not in caplog.text
