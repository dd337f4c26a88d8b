"""The service's API keys: one, a list (for rotation), and a key file (a mounted Secret), never shown."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from {{ cookiecutter.package_name }}.errors import SettingsError
from {{ cookiecutter.package_name }}.settings import ENV_PREFIX, ServiceSettings, get_settings


def test_the_key_the_list_and_the_file_are_all_valid_keys(tmp_path: Path) -> None:
    """`api_key`, each of `api_keys` and each line of the key file are valid; blank lines and
    surrounding whitespace are not keys, and a key given twice counts once."""
    # Given a key, a list of two, and a file of two more (one repeated, with blank lines)
    key_file = tmp_path / "api-keys"
    key_file.write_text("  from-file-1 \n\n from-list-2\nfrom-file-3\n", encoding="utf-8")
    service = ServiceSettings(api_key="the-key", api_keys=["from-list-1", "from-list-2"], api_key_file=key_file)

    # When the valid keys are read
    keys = service.valid_api_keys()

    # Then every one is there, once, and a key is required
    assert keys == ["the-key", "from-list-1", "from-list-2", "from-file-1", "from-file-3"]
    assert service.requires_api_key


def test_without_any_key_the_api_is_open() -> None:
    """No key configured (or only an empty one, as docker-compose passes when unset): no key is required."""
    # Given no key, and an empty one / When the keys are read / Then there are none
    for service in (ServiceSettings(), ServiceSettings(api_key="")):
        assert service.valid_api_keys() == []
        assert not service.requires_api_key


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda path: None, "does not exist"),
        (lambda path: path.write_text("\n  \n", encoding="utf-8"), "holds no key"),
        (lambda path: path.mkdir(), "cannot be read"),
        (lambda path: path.write_bytes(b"\xff\xfe key"), "is not UTF-8 text"),
    ],
    ids=["missing", "empty", "a-directory", "not-text"],
)
def test_a_key_file_without_keys_is_one_line_naming_the_file(tmp_path: Path, make: object, reason: str) -> None:
    """A key file that is missing, empty, unreadable or not text stops the start with one line
    naming the variable and the file (and never printing what the file holds)."""
    # Given a key file setting whose file is broken
    path = tmp_path / "api-keys"
    make(path)  # type: ignore[operator]
    service = ServiceSettings(api_key_file=path)

    # When the keys are read
    with pytest.raises(SettingsError) as refused:
        service.valid_api_keys()

    # Then the error is one line naming the variable, the file and what is wrong
    message = str(refused.value)
    assert "\n" not in message
    assert f"{ENV_PREFIX}SERVICE__API_KEY_FILE" in message
    assert str(path) in message
    assert reason in message


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads a file whatever its mode")
def test_a_key_file_without_read_permission_is_named(tmp_path: Path) -> None:
    """A key file the service's user may not read is a one-line error naming it."""
    # Given a key file nobody may read
    path = tmp_path / "api-keys"
    path.write_text("k\n", encoding="utf-8")
    path.chmod(0)

    # When the keys are read / Then the error names the file
    with pytest.raises(SettingsError, match="cannot be read"):
        ServiceSettings(api_key_file=path).valid_api_keys()


def test_keys_never_show_in_the_settings_repr(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The settings read from the environment print their keys masked, in repr and str alike."""
    # Given keys in the environment
    monkeypatch.setenv(f"{ENV_PREFIX}SERVICE__API_KEY", "secret-one-a1")
    monkeypatch.setenv(f"{ENV_PREFIX}SERVICE__API_KEYS", json.dumps(["secret-two-b2", "secret-three-c3"]))
    monkeypatch.setenv(f"{ENV_PREFIX}STATE_DIR", str(tmp_path))
    get_settings.cache_clear()
    try:
        # When the settings are read and printed
        settings = get_settings()
        shown = repr(settings) + str(settings) + repr(settings.service) + str(settings.model_dump())
    finally:
        get_settings.cache_clear()

    # Then they hold the keys but show none of them
    assert settings.service.valid_api_keys() == ["secret-one-a1", "secret-two-b2", "secret-three-c3"]
    assert [key for key in ("secret-one", "secret-two", "secret-three") if key in shown] == []
