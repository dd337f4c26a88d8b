"""Delivering a message through Prefect's notification blocks, as the settings choose.

One code path for every channel, picked at run time from `alerts.channel` (its
default is the project's `alert_channel` answer): `slack` posts through a
`SlackWebhook` block, `webhook` through a `CustomWebhookNotificationBlock`
(a JSON POST), `email` through prefect-email (`EmailServerCredentials` and
`email_send_message`). The blocks are built in memory from the settings, so no
Prefect server is needed; or `alerts.block_name` names a block saved on the
Prefect server (`slack-webhook/ops`, `custom-webhook/pager`,
`email-server-credentials/smtp`), which keeps the credentials out of this
project's environment altogether.

Secrets (webhook URLs, tokens, the SMTP password) are `SecretStr` settings; any
error message is scrubbed of them before it is logged or stored, and so are the log records
of the HTTP libraries while a message is being delivered.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

from pydantic import SecretStr

from ..errors import ProjectError

if TYPE_CHECKING:
    from prefect_email import EmailServerCredentials

    from ..settings import AlertSettings

NONE = "none"
# Libraries that log the URL of each request: httpx at INFO (the webhook), Apprise and urllib3 at
# DEBUG (Slack). A Slack or webhook URL is itself the credential, so a team logging at INFO
# would otherwise keep it in every log a delivery writes (the secrets sweep test found it).
URL_LOGGERS = ("httpx", "apprise", "urllib3.connectionpool")


def _placeholder(name: str) -> str:
    """A CustomWebhookNotificationBlock placeholder, `name` in double braces (spelled out so
    that the project template's own renderer leaves this file alone)."""
    return "{" * 2 + name + "}" * 2


class DeliveryError(ProjectError):
    """A message could not be delivered (the reason is free of secrets)."""


@dataclass(frozen=True)
class Message:
    subject: str
    text: str
    html: str
    payload: Mapping[str, Any] = field(default_factory=dict)  # structured fields for webhooks; no secrets


def channel_label(settings: AlertSettings) -> str:
    """How the history names the route an alert took."""
    if settings.channel != NONE and settings.block_name:
        return f"{settings.channel}:block:{settings.block_name}"
    return settings.channel


def missing_configuration(settings: AlertSettings) -> str | None:
    """Why the chosen channel cannot deliver (None when it can, or when it is `none`)."""
    if settings.channel == NONE or settings.block_name:
        return None
    if settings.channel == "slack" and settings.slack_webhook_url is None:
        return "alerts.slack_webhook_url is not set"
    if settings.channel == "webhook" and settings.webhook_url is None:
        return "alerts.webhook_url is not set"
    if settings.channel == "email" and not settings.email_to:
        return "alerts.email_to is empty"
    return None


def _with_quoted(found: list[str]) -> list[str]:
    return found + [quote(s, safe="") for s in found]


def _url_secrets(url: str) -> list[str]:
    """A webhook URL and its path: the path alone is the credential too (Slack's tokens), and
    some logs show only the path (urllib3's `"POST /services/T/B/X HTTP/1.1" 200`)."""
    path = urlsplit(url).path
    return [url, path] if len(path.strip("/")) >= 8 else [url]


def _secrets(settings: AlertSettings) -> list[str]:
    urls = [s.get_secret_value() for s in (settings.slack_webhook_url, settings.webhook_url) if s is not None]
    others = [s.get_secret_value() for s in (settings.webhook_token, settings.smtp_password) if s is not None]
    found = [part for url in urls if url for part in _url_secrets(url)] + [s for s in others if s]
    return _with_quoted(found)


def _block_secrets(block: Any) -> list[str]:
    """A saved block's URL (a Slack or custom webhook's: the credential), in both forms."""
    url = getattr(block, "url", None)
    value = url.get_secret_value() if isinstance(url, SecretStr) else url
    return _with_quoted(_url_secrets(value)) if isinstance(value, str) and value else []


def _scrub(text: str, secrets: list[str]) -> str:
    for secret in sorted(secrets, key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


def scrub(text: str, settings: AlertSettings) -> str:
    return _scrub(text, _secrets(settings))


class _ScrubRecords(logging.Filter):
    """Rewrites a log record whose message holds a secret of the settings, with `***` instead."""

    def __init__(self, secrets: list[str]) -> None:
        super().__init__()
        self.secrets = secrets

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = _scrub(message, self.secrets)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


@contextmanager
def scrubbed_library_logs(secrets: list[str]) -> Iterator[None]:
    """While a block delivers: the URL loggers' records are scrubbed of these secrets (a
    logger's filter sees every record it is asked to log, whatever the handlers)."""
    loggers = [logging.getLogger(name) for name in URL_LOGGERS]
    scrubber = _ScrubRecords(secrets)
    for logger in loggers:
        logger.addFilter(scrubber)
    try:
        yield
    finally:
        for logger in loggers:
            logger.removeFilter(scrubber)


def _notify(block: Any, message: Message) -> None:
    """A Prefect notification block's `notify`, raising when delivery fails (by default
    Apprise-based blocks only log a failure)."""
    with block.raise_on_failure():
        block.notify(message.text, subject=message.subject)


def _slack(message: Message, settings: AlertSettings) -> None:
    from prefect.blocks.notifications import SlackWebhook

    assert settings.slack_webhook_url is not None  # checked by missing_configuration
    _notify(SlackWebhook(url=settings.slack_webhook_url), message)


def _webhook(message: Message, settings: AlertSettings) -> None:
    from prefect.blocks.notifications import CustomWebhookNotificationBlock
    from prefect.types import SecretDict

    assert settings.webhook_url is not None
    secrets: dict[str, str] = {}
    headers: dict[str, str] = {}
    if settings.webhook_token is not None:
        # A placeholder the block fills from its secrets, so the token never sits in the template.
        secrets["token"] = settings.webhook_token.get_secret_value()
        headers["Authorization"] = f"Bearer {_placeholder('token')}"
    block = CustomWebhookNotificationBlock(
        name="monitoring",
        url=settings.webhook_url.get_secret_value(),
        json_data={"subject": _placeholder("subject"), "text": _placeholder("body"), **message.payload},
        headers=headers or None,
        cookies=None,
        secrets=SecretDict(secrets),
        timeout=settings.timeout_s,
    )
    block.notify(message.text, subject=message.subject)


def _credentials(settings: AlertSettings) -> EmailServerCredentials:
    from prefect_email import EmailServerCredentials

    return EmailServerCredentials(
        username=settings.smtp_username,
        password=settings.smtp_password.get_secret_value() if settings.smtp_password else "",
        smtp_server=settings.smtp_host,
        smtp_type=settings.smtp_security,
        smtp_port=settings.smtp_port,
    )


def _email(message: Message, settings: AlertSettings, credentials: EmailServerCredentials | None = None) -> None:
    from prefect.utilities.asyncutils import run_coro_as_sync
    from prefect_email import email_send_message

    if not settings.email_to:
        raise DeliveryError("alerts.email_to is empty")
    sender = settings.email_from or settings.smtp_username
    if not sender:
        raise DeliveryError("set alerts.email_from (or alerts.smtp_username) to send email")
    # `.fn`: the task's function itself. Sending is one step of the caller's own task, and
    # a task run would record the credentials block among its parameters.
    run_coro_as_sync(
        email_send_message.fn(
            subject=message.subject,
            msg=message.html,
            msg_plain=message.text,
            email_server_credentials=credentials or _credentials(settings),
            email_from=sender,
            email_to=list(settings.email_to),
        )
    )


def _saved_block(message: Message, settings: AlertSettings) -> None:
    import prefect_email  # registers the email block type, so that loading finds its class
    from prefect.blocks.abstract import NotificationBlock
    from prefect.blocks.core import Block

    assert settings.block_name is not None
    block = Block.load(settings.block_name)
    if isinstance(block, prefect_email.EmailServerCredentials):
        _email(message, settings, block)
    elif isinstance(block, NotificationBlock) and settings.channel != "email":
        # The block's URL is no setting: scrub it from the libraries' logs and the error here.
        secrets = _block_secrets(block)
        try:
            with scrubbed_library_logs(secrets):
                _notify(block, message)
        except Exception as err:
            detail = " ".join(str(err).split()) or type(err).__name__
            raise DeliveryError(_scrub(f"{type(err).__name__}: {detail}"[:1000], secrets)) from None
    else:
        raise DeliveryError(
            f"block {settings.block_name!r} is a {type(block).__name__}, which cannot deliver {settings.channel} alerts"
        )


def send(message: Message, settings: AlertSettings) -> None:
    """Deliver `message` on the configured channel; DeliveryError (scrubbed) when it fails."""
    if settings.channel == NONE:
        return
    missing = missing_configuration(settings)
    if missing is not None:
        raise DeliveryError(missing)
    try:
        with scrubbed_library_logs(_secrets(settings)):
            _deliver(message, settings)
    except DeliveryError as err:
        raise DeliveryError(scrub(str(err), settings)) from None
    except Exception as err:  # HTTP, SMTP, Apprise and Prefect API errors alike: a failed delivery
        detail = " ".join(str(err).split()) or type(err).__name__
        raise DeliveryError(scrub(f"{type(err).__name__}: {detail}"[:1000], settings)) from None


def _deliver(message: Message, settings: AlertSettings) -> None:
    if settings.block_name:
        _saved_block(message, settings)
    elif settings.channel == "slack":
        _slack(message, settings)
    elif settings.channel == "webhook":
        _webhook(message, settings)
    else:
        _email(message, settings)
