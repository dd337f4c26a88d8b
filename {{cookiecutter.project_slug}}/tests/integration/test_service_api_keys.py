"""The service's API keys as it loads them: a rotated list and a key file (a mounted Secret)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from tests.support.project import Trained
from tests.support.service import load_service, private_registry, service_env


def test_every_configured_key_opens_the_service_and_a_removed_one_does_not(
    trained: Trained, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With two keys in the list (a rotation under way) and one in a key file, each of the
    three is accepted, as X-API-Key or Bearer token; a key no longer configured is a 401."""
    # Given a service with the old and new key in the list and a third in a key file
    settings = private_registry(trained, tmp_path / "state")
    key_file = tmp_path / "secret" / "api-keys"
    key_file.parent.mkdir()
    key_file.write_text("file-key-3\n", encoding="utf-8")
    env = service_env(settings, api_keys=json.dumps(["old-key-1", "new-key-2"]), api_key_file=key_file)
    module = load_service(monkeypatch, env)
    with TestClient(module.ModelService.to_asgi(), raise_server_exceptions=False) as client:
        # When /metadata is asked with each key, with a removed key and with none
        answers = {
            key: client.get("/metadata", headers={"x-api-key": key}).status_code
            for key in ("old-key-1", "new-key-2", "file-key-3", "removed-key-0")
        }
        bearer = client.get("/metadata", headers={"authorization": "Bearer file-key-3"})
        without = client.get("/metadata")

    # Then the configured keys pass, the others are refused, and the service says a key is required
    assert answers == {"old-key-1": 200, "new-key-2": 200, "file-key-3": 200, "removed-key-0": 401}
    assert without.status_code == 401
    assert bearer.status_code == 200
    assert bearer.json()["limits"]["api_key_required"] is True


def test_a_missing_key_file_stops_the_service_with_one_line_naming_it(
    trained: Trained, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A key file that is not there (a Secret not mounted) stops the service at start with one
    line naming the setting and the file, rather than serving without a key."""
    # Given a key file setting whose file is missing
    settings = private_registry(trained, tmp_path / "state")
    missing = tmp_path / "secret" / "api-keys"

    # When the service loads
    with pytest.raises(SystemExit) as stopped:
        load_service(monkeypatch, service_env(settings, api_key_file=missing))

    # Then it stops with one line naming the file
    message = str(stopped.value.code)
    assert message.startswith("error: ")
    assert "\n" not in message
    assert "API_KEY_FILE" in message
    assert str(missing) in message
