"""Which model a window is measured against: the version that answered it, with its profile
(and, for regression, the loss model that estimates its errors before labels arrive)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pandas as pd

from ..errors import ProjectError
from ..model.loss_model import LossModel
from ..model.reference_profile import Reference, compile_profile

if TYPE_CHECKING:
    from ..settings import Settings


class NoModel(ProjectError):
    """There is no model to monitor against (nothing has been trained and promoted yet)."""


@dataclass(frozen=True)
class MonitoredModel:
    name: str
    version: str
    profile: Mapping[str, Any] = field(repr=False)
    alias: str | None = None  # "champion" when it is the one serving now
    # Regression: the loss model shipped in the bundle, for the estimate before labels arrive.
    loss_model: LossModel | None = field(default=None, repr=False, compare=False)

    @property
    def reference(self) -> Reference:
        return compile_profile(self.profile)


def champion_version(settings: Settings) -> str | None:
    from ..stores.alias_journal import recover
    from ..stores.registry import CHAMPION as CHAMPION_ALIAS
    from ..stores.registry import connect, version_by_alias

    client = connect(settings)
    # The daily run also settles a promotion killed between its alias moves (so one lingers a day
    # at most), before it reads which version is the champion.
    recover(client, settings.mlflow.registered_model_name)
    found = version_by_alias(client, settings.mlflow.registered_model_name, CHAMPION_ALIAS)
    return str(found.version) if found is not None else None


def load_model(settings: Settings, version: str, champion: str | None = None) -> MonitoredModel:
    """A registered version's reference profile (and, for regression, its loss model), from
    its bundle in MLflow."""
    from mlflow.exceptions import MlflowException

    from ..model.bundle import PROFILE_FILE
    from ..model.loss_model import load_loss_model
    from ..model.reference_profile import load_profile
    from ..stores.registry import CHAMPION as CHAMPION_ALIAS
    from ..stores.registry import connect, fetched_bundle

    name = settings.mlflow.registered_model_name
    client = connect(settings)
    try:
        found = client.get_model_version(name, version)
    except MlflowException:
        raise NoModel(f"{name} version {version} is not in the registry") from None
    with fetched_bundle(client, found) as bundle:
        if not (bundle / PROFILE_FILE).is_file():
            raise NoModel(f"{name} version {version} has no reference profile: retrain it with this release")
        profile = load_profile(bundle / PROFILE_FILE)
        loss_model = load_loss_model(bundle)
    return MonitoredModel(name, version, profile, CHAMPION_ALIAS if version == champion else None, loss_model)


def pick_version(served: pd.DataFrame, champion: str | None) -> str:
    """The champion, unless the window holds none of its answers: then the version that
    answered most of it (ties: the newest, by number)."""
    counts = Counter(str(v) for v in served["model_version"]) if len(served) else Counter()
    return pick_from_counts(counts, champion)


def pick_from_counts(counts: Mapping[str, int], champion: str | None) -> str:
    """`pick_version` from the window's answers per version (in order of first answer)."""
    if champion is not None and (counts.get(champion) or not counts):
        return champion
    if not counts:
        raise NoModel("no model to monitor: the registry has no champion (train one first: `make train`)")
    return max(counts, key=lambda v: (counts[v], int(v) if v.isdigit() else -1))
