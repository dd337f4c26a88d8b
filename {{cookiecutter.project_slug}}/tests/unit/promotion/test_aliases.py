"""Promotion, rejection and rollback against a temporary MLflow registry, with their guard rails.

Versions are registered directly (no training): what matters here is the gate
tag each carries and where the aliases point.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from {{ cookiecutter.package_name }}.errors import RegistryError
from {{ cookiecutter.package_name }}.promotion import aliases as promotion
from {{ cookiecutter.package_name }}.stores import registry
from {{ cookiecutter.package_name }}.stores.registry import CHALLENGER, CHAMPION, FAILED, PASSED, PREVIOUS
from tests.support.project import make_settings

NAMES = itertools.count(1)


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """One temporary MLflow registry for the module (creating one costs seconds); each test
    registers its own model name."""
    return registry.connect(make_settings(tmp_path_factory.mktemp("registry")))


def register(client: Any, *gates: str, aliases: dict[str, str] | None = None) -> str:
    """A new registered model with one version per gate status (versions 1, 2, ...) and aliases."""
    name = f"model-{next(NAMES)}"
    client.create_registered_model(name)
    for gate in gates:
        version = client.create_model_version(name, source="file:///nowhere/model")
        registry.set_tags(
            client, name, version.version, {registry.GATE_STATUS: gate, registry.GATE_REASON: f"gate {gate}"}
        )
    for alias, version_number in (aliases or {}).items():
        client.set_registered_model_alias(name, alias, version_number)
    return name


class FailOnce:
    """The registry client, except that the first call of `method` matching `when` raises,
    as a registry that goes away mid-promotion would."""

    def __init__(self, client: Any, method: str, when: Callable[..., bool]) -> None:
        self._client, self._method, self._when, self.failed = client, method, when, False

    def __getattr__(self, attribute: str) -> Any:
        found = getattr(self._client, attribute)
        if attribute != self._method:
            return found

        def maybe_fail(*args: Any, **kwargs: Any) -> Any:
            if not self.failed and self._when(*args, **kwargs):
                self.failed = True
                raise ConnectionError("the registry went away")
            return found(*args, **kwargs)

        return maybe_fail


def test_promotion_moves_champion_to_previous_and_challenger_to_champion(client: Any) -> None:
    """The challenger becomes champion, the old champion `previous`, the challenger alias goes;
    both versions record who, why and when."""
    # Given champion v1 and challenger v2, both passed
    name = register(client, PASSED, PASSED, aliases={CHAMPION: "1", CHALLENGER: "2"})

    # When the challenger is promoted
    move = promotion.promote(client, name, who="alice", why="better in shadow")

    # Then the aliases moved, and the tags say who and why
    assert registry.aliases(client, name) == {CHAMPION: "2", PREVIOUS: "1"}
    assert (move.before, move.after) == ({CHAMPION: "1", CHALLENGER: "2"}, {CHAMPION: "2", PREVIOUS: "1"})
    promoted = client.get_model_version(name, "2").tags
    assert (promoted["promotion.by"], promoted["promotion.reason"], promoted["promotion.replaced"]) == (
        "alice",
        "better in shadow",
        "1",
    )
    assert client.get_model_version(name, "1").tags["promotion.replaced_by"] == "2"


def test_the_first_promotion_leaves_no_previous(client: Any) -> None:
    """With no champion yet, promoting makes one and sets no `previous`."""
    # Given a lone challenger
    name = register(client, PASSED, aliases={CHALLENGER: "1"})

    # When it is promoted
    promotion.promote(client, name, who="ci", why="first model")

    # Then it is champion and nothing else
    assert registry.aliases(client, name) == {CHAMPION: "1"}


@pytest.mark.parametrize(
    ("gates", "version", "expected"),
    [
        ((PASSED, FAILED), "2", "may not serve: gate failed"),
        ((PASSED, "unknown"), "2", "may not serve"),
        ((PASSED,), "7", "version 7 does not exist"),
    ],
    ids=["failed-the-gate", "never-gated", "missing-version"],
)
def test_nothing_that_did_not_pass_can_become_champion(
    client: Any, gates: tuple[str, ...], version: str, expected: str
) -> None:
    """A version that failed (or never passed) the gate, or does not exist, is refused and the
    aliases stay as they were."""
    # Given champion v1
    name = register(client, *gates, aliases={CHAMPION: "1"})

    # When another version is promoted by hand
    with pytest.raises(RegistryError, match=expected):
        promotion.promote(client, name, who="bob", why="trust me", version=version)

    # Then nothing moved
    assert registry.aliases(client, name) == {CHAMPION: "1"}


def test_promoting_with_no_challenger_is_refused(client: Any) -> None:
    """No challenger and no version named: a clear error."""
    # Given only a champion
    name = register(client, PASSED, aliases={CHAMPION: "1"})

    # When / Then
    with pytest.raises(RegistryError, match="no challenger to promote"):
        promotion.promote(client, name, who="bob", why="why not")


@pytest.mark.parametrize(
    ("method", "when"),
    [
        ("set_registered_model_alias", lambda name, alias, version: alias == PREVIOUS),
        ("set_registered_model_alias", lambda name, alias, version: alias == CHAMPION),
        ("delete_registered_model_alias", lambda name, alias: alias == CHALLENGER),
    ],
    ids=["moving-previous", "switching-champion", "dropping-challenger"],
)
def test_an_interrupted_promotion_leaves_the_previous_state_intact(
    client: Any, method: str, when: Callable[..., bool]
) -> None:
    """Whichever alias move fails (before or after the champion switch), the error reaches the
    caller and every alias is back where it was before the promotion began."""
    # Given champion v2, challenger v3 and previous v1
    name = register(client, PASSED, PASSED, PASSED, aliases={CHAMPION: "2", CHALLENGER: "3", PREVIOUS: "1"})
    before = registry.aliases(client, name)
    flaky: Any = FailOnce(client, method, when)  # stands in for the MlflowClient

    # When the promotion is interrupted at that step
    with pytest.raises(ConnectionError, match="went away"):
        promotion.promote(flaky, name, who="alice", why="better")

    # Then the step did fail, and the aliases are as they were
    assert flaky.failed
    assert registry.aliases(client, name) == before


def test_a_rejected_challenger_loses_its_alias_and_keeps_the_reason(client: Any) -> None:
    """Rejection removes only the challenger alias; the reason, who and when stay on the version."""
    # Given champion v1, challenger v2
    name = register(client, PASSED, PASSED, aliases={CHAMPION: "1", CHALLENGER: "2"})

    # When the challenger is rejected
    promotion.reject(client, name, who="shadow-evaluation", why="worse on card_type=prepaid")

    # Then
    assert registry.aliases(client, name) == {CHAMPION: "1"}
    tags = client.get_model_version(name, "2").tags
    assert (tags["rejected.reason"], tags["rejected.by"]) == ("worse on card_type=prepaid", "shadow-evaluation")


def test_only_the_challenger_can_be_rejected(client: Any) -> None:
    """Rejecting a version that is not the challenger (e.g. the champion) is refused."""
    # Given champion v1, challenger v2
    name = register(client, PASSED, PASSED, aliases={CHAMPION: "1", CHALLENGER: "2"})

    # When / Then
    with pytest.raises(RegistryError, match="is not the challenger"):
        promotion.reject(client, name, who="bob", why="oops", version="1")
    assert registry.aliases(client, name) == {CHAMPION: "1", CHALLENGER: "2"}


def test_rollback_returns_to_previous_in_one_step_and_records_who_and_why(
    client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """After a promotion, rollback makes `previous` the champion again, clears `previous`,
    tags both versions with who and why, and logs one line saying so."""
    # Given v2 promoted over v1
    name = register(client, PASSED, PASSED, aliases={CHAMPION: "1", CHALLENGER: "2"})
    promotion.promote(client, name, who="shadow", why="better")

    # When someone rolls back
    with caplog.at_level(logging.WARNING, logger=promotion.__name__):
        move = promotion.rollback(client, name, who="oncall", why="complaints from the fraud team")

    # Then v1 serves again, and the reasons are recorded
    assert registry.aliases(client, name) == {CHAMPION: "1"}
    assert (move.version, move.before[CHAMPION]) == ("1", "2")
    restored, removed = client.get_model_version(name, "1").tags, client.get_model_version(name, "2").tags
    assert (restored["rollback.by"], restored["rollback.reason"], restored["rollback.from"]) == (
        "oncall",
        "complaints from the fraud team",
        "2",
    )
    assert removed["rolled_back.reason"] == "complaints from the fraud team"
    assert any("rollback" in r.message and "oncall" in r.message for r in caplog.records)

    # And a second rollback has nowhere to go
    with pytest.raises(RegistryError, match="no `previous` version"):
        promotion.rollback(client, name, who="oncall", why="again")


def test_rollback_refuses_a_previous_that_did_not_pass(client: Any) -> None:
    """Even rollback cannot give `champion` to a version that failed the gate."""
    # Given champion v2 and a `previous` pointing at v1, which failed the gate
    name = register(client, FAILED, PASSED, aliases={CHAMPION: "2", PREVIOUS: "1"})

    # When / Then
    with pytest.raises(RegistryError, match="may not serve"):
        promotion.rollback(client, name, who="oncall", why="panic")
    assert registry.aliases(client, name) == {CHAMPION: "2", PREVIOUS: "1"}


def test_rollback_needs_a_reason(client: Any) -> None:
    """A rollback without a reason is refused before anything moves."""
    # Given v2 promoted over v1
    name = register(client, PASSED, PASSED, aliases={CHAMPION: "2", PREVIOUS: "1"})

    # When / Then
    with pytest.raises(RegistryError, match="needs a reason"):
        promotion.rollback(client, name, who="oncall", why="  ")
    assert registry.aliases(client, name) == {CHAMPION: "2", PREVIOUS: "1"}


def test_current_user_names_someone(tmp_path: Path) -> None:
    """The default `who` is the OS user, never empty."""
    # Given / When / Then
    assert promotion.current_user().strip()
