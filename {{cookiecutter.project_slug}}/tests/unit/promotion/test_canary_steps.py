"""The canary's alias moves against a temporary MLflow registry: starting it from shadow's
promotion, a new share, rollback and completion, and acting only on the aliases it judged."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from typing import Any

import pytest

from {{ cookiecutter.package_name }}.errors import RegistryError
from {{ cookiecutter.package_name }}.promotion import canary_steps
from {{ cookiecutter.package_name }}.promotion.canary_guards import COMPLETE, ROLLBACK, WAIT, CanaryEvidence
from {{ cookiecutter.package_name }}.promotion.shadow_evidence import PROMOTE, Agreement, ShadowEvidence
from {{ cookiecutter.package_name }}.promotion.shadow_steps import act as shadow_act
from {{ cookiecutter.package_name }}.settings import CanarySettings, Settings
from {{ cookiecutter.package_name }}.stores import registry
from {{ cookiecutter.package_name }}.stores.registry import CANARY, CHALLENGER, CHAMPION, PASSED, PREVIOUS
from tests.support.project import make_settings

NAMES = itertools.count(1)


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    found = make_settings(tmp_path_factory.mktemp("canary-registry"))
    return found.model_copy(update={"canary": CanarySettings(enabled=True, share=0.25)})


@pytest.fixture(scope="module")
def client(settings: Settings) -> Any:
    return registry.connect(settings)


def register(client: Any, versions: int, aliases: dict[str, str]) -> str:
    name = f"canary-model-{next(NAMES)}"
    client.create_registered_model(name)
    for _ in range(versions):
        version = client.create_model_version(name, source="file:///nowhere/model")
        registry.set_tags(client, name, version.version, {registry.GATE_STATUS: PASSED})
    for alias, version_number in aliases.items():
        client.set_registered_model_alias(name, alias, version_number)
    return name


def evidence(name: str, decision: str) -> CanaryEvidence:
    return CanaryEvidence(
        name, "1", "2", 0.25, "2026-01-01T00:00:00+00:00", "2026-01-02T00:00:00+00:00", {}, [], decision, "test"
    )


def test_starting_a_canary_moves_the_challenger_to_the_canary_alias_with_its_share(
    client: Any, settings: Settings
) -> None:
    """The challenger becomes the canary (its `challenger` alias goes), the champion stays, and
    the registered model carries the share and the start the service and the flow read."""
    name = register(client, 2, {CHAMPION: "1", CHALLENGER: "2"})
    canary_steps.start(
        client, name, "2", settings, who="test", why="shadow said so", now=datetime(2026, 1, 1, tzinfo=UTC)
    )
    assert registry.aliases(client, name) == {CHAMPION: "1", CANARY: "2"}
    found = canary_steps.state(client, name)
    assert (found.share, found.started_at, found.running) == (0.25, datetime(2026, 1, 1, tzinfo=UTC), True)


def test_shadow_promotion_starts_a_canary_when_enabled(client: Any, settings: Settings) -> None:
    """With canary.enabled, shadow evaluation's "promote" starts the canary instead of switching
    every answer; with it off (the default) the promotion is immediate, as before."""
    for enabled, expected in ((True, {CHAMPION: "1", CANARY: "2"}), (False, {CHAMPION: "2", PREVIOUS: "1"})):
        name = register(client, 2, {CHAMPION: "1", CHALLENGER: "2"})
        judged = ShadowEvidence(
            name, "1", "2", "binary_classification", "", "", "", 0, 0, None, None, [],
            Agreement(0, None, None, None, None), PROMOTE, ["better"],
        )  # fmt: skip
        chosen = settings.model_copy(update={"canary": CanarySettings(enabled=enabled)})
        shadow_act(client, judged, "test", chosen)
        assert registry.aliases(client, name) == expected


def test_a_new_share_goes_on_the_registered_model(client: Any, settings: Settings) -> None:
    """`set_share` changes the share the service reads on its next poll; a share out of (0, 1)
    or a model with no canary is refused with the reason."""
    name = register(client, 2, {CHAMPION: "1", CHALLENGER: "2"})
    with pytest.raises(RegistryError, match="no canary"):
        canary_steps.set_share(client, name, 0.5)
    canary_steps.start(client, name, "2", settings, who="test", why="test")
    canary_steps.set_share(client, name, 0.5)
    assert canary_steps.state(client, name).share == 0.5
    with pytest.raises(RegistryError, match="between 0 and 1"):
        canary_steps.set_share(client, name, 1.5)


def test_a_rollback_removes_the_canary_and_keeps_the_champion(client: Any, settings: Settings) -> None:
    """A breach's rollback takes the `canary` alias and its tags away (the champion never moved)
    and leaves the reason on the version."""
    name = register(client, 2, {CHAMPION: "1", CHALLENGER: "2"})
    canary_steps.start(client, name, "2", settings, who="test", why="test")
    moved = canary_steps.act(client, evidence(name, ROLLBACK), "test")
    assert moved is not None
    assert registry.aliases(client, name) == {CHAMPION: "1"}
    assert canary_steps.state(client, name).share is None
    assert client.get_model_version(name, "2").tags["canary.rolled_back"] == "test"


def test_a_clean_canary_completes_the_promotion(client: Any, settings: Settings) -> None:
    """Completion promotes the canary (the old champion becomes `previous`) and drops its alias."""
    name = register(client, 2, {CHAMPION: "1", CHALLENGER: "2"})
    canary_steps.start(client, name, "2", settings, who="test", why="test")
    canary_steps.act(client, evidence(name, COMPLETE), "test")
    assert registry.aliases(client, name) == {CHAMPION: "2", PREVIOUS: "1"}


def test_waiting_or_moved_aliases_change_nothing(client: Any, settings: Settings) -> None:
    """A "wait" moves nothing, and neither does a verdict on aliases someone moved meanwhile."""
    name = register(client, 3, {CHAMPION: "1", CHALLENGER: "2"})
    canary_steps.start(client, name, "2", settings, who="test", why="test")
    assert canary_steps.act(client, evidence(name, WAIT), "test") is None
    client.set_registered_model_alias(name, CANARY, "3")
    assert canary_steps.act(client, evidence(name, ROLLBACK), "test") is None
    assert registry.aliases(client, name) == {CHAMPION: "1", CANARY: "3"}


def test_a_canary_left_on_the_champion_is_settled(client: Any) -> None:
    """A completion killed after the promotion leaves `canary` on the champion: the next run drops it."""
    name = register(client, 2, {CHAMPION: "2", CANARY: "2"})
    assert canary_steps.settle(client, name) is not None
    assert registry.aliases(client, name) == {CHAMPION: "2"}
