"""Which models the service runs: `champion` (answers), `challenger` (shadows) and, during a
canary, `canary` (answers a share of the records), by alias from the MLflow registry, with a
local copy of the last ones loaded and hot reload. The canary's share is the registered
model's `canary.share` tag, read on the same poll: a new share needs no restart.

- The lineup (champion, challenger) is one immutable object, replaced in a single
  assignment. A request reads it once and finishes with the models it started
  with, so a reload never fails or mixes an in-flight request.
- Every model loaded from the registry is kept in the cache folder with a
  pointer per alias; when the registry is unreachable at start, the service
  starts from those copies and says so (log and /metadata).
- A model this runtime cannot run (contract, ONNX opset, onnxruntime version,
  canary scores) is refused with the reason in the log, and the current one
  keeps serving. A refused version is not fetched again.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from ..model.bundle import BUNDLE_FILE, ModelBundle, ModelIncompatible, load_bundle
from ..stores import registry
from .canary_routing import CanaryRoute, parse_share

if TYPE_CHECKING:
    from mlflow.tracking import MlflowClient

    from ..settings import Settings

CHAMPION, CHALLENGER, CANARY = registry.CHAMPION, registry.CHALLENGER, registry.CANARY
ROLES = (CHAMPION, CHALLENGER, CANARY)
REGISTRY, CACHE = "registry", "cache"
# Cached versions kept besides those an alias points at (rollback without the registry).
KEEP_CACHED = 3

log = logging.getLogger(__name__)


def one_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0] if text else ''}"[:500]


def safe_uri(uri: str) -> str:
    """A registry URI without its password, for logs and /metadata."""
    parts = urlsplit(uri)
    if parts.password is None:
        return uri
    host = parts.hostname or ""
    netloc = f"{parts.username}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


_ROLE_WORK = {CHALLENGER: "shadow scoring", CANARY: "answering as the canary"}


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Served:
    """A loaded model and where it came from."""

    role: str
    name: str
    version: str
    bundle: ModelBundle
    source: str  # REGISTRY or CACHE
    loaded_at: datetime

    def describe(self) -> dict[str, Any]:
        meta = self.bundle.metadata
        return {
            "role": self.role,
            "alias": self.role,
            "name": self.name,
            "version": self.version,
            "source": self.source,
            "loaded_at": self.loaded_at.isoformat(timespec="seconds"),
            "trained_at": meta.get("trained_at"),
            "run_id": meta.get("run_id"),
            "contract_hash": self.bundle.contract_hash,
            "threshold": self.bundle.threshold,
            "metrics": dict(meta.get("metrics", {})),
        }


@dataclass(frozen=True)
class Lineup:
    champion: Served | None = None
    challenger: Served | None = None
    canary: Served | None = None
    route: CanaryRoute | None = None  # set exactly when `canary` is


@dataclass(frozen=True)
class RegistryStatus:
    reachable: bool | None = None  # None: not asked yet
    checked_at: datetime | None = None
    error: str | None = None  # why it is unreachable now
    since: datetime | None = None  # when `reachable` last changed
    last_error: str | None = None  # the last failure's reason, kept after a recovery

    def asked(self, reachable: bool, error: str | None = None) -> RegistryStatus:
        now = _now()
        since = self.since if self.reachable is reachable else now
        return RegistryStatus(reachable, now, error, since, error or self.last_error)


def _load_from_disk(path: Path, threads: int, contract_hash: str) -> ModelBundle:
    return load_bundle(path, threads, contract_hash)


def registry_client(settings: Settings) -> MlflowClient:
    """A read-only client: unlike `registry.connect` it creates no experiment, and it gives up
    on an unreachable server after the configured timeout and retries instead of MLflow's
    minutes of backoff."""
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", str(max(1, round(settings.service.registry_timeout_s))))
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", str(settings.service.registry_retries))
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    os.environ.setdefault("GIT_PYTHON_REFRESH", "quiet")
    logging.getLogger("mlflow").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    # urllib3 warns at every retry of every poll while the registry is down; the store says it
    # once (`_unreachable`), and /metadata keeps the reason. Only MLflow uses urllib3 here.
    logging.getLogger("urllib3.connectionpool").setLevel(logging.ERROR)
    from mlflow.tracking import MlflowClient

    uri = settings.mlflow_tracking_uri
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


class ModelStore:
    """The models one server process serves. `start()` loads them (registry, else cache)
    and polls for alias moves; `lineup` is what a request should use."""

    def __init__(
        self,
        settings: Settings,
        contract_hash: str,
        client_factory: Callable[[], MlflowClient] | None = None,
        loader: Callable[[Path, int, str], ModelBundle] | None = None,
    ) -> None:
        self.name = settings.mlflow.registered_model_name
        self.registry_uri = safe_uri(settings.mlflow_tracking_uri)
        self.cache_dir = settings.model_cache_path / self.name
        self.interval_s = settings.service.reload_interval_s
        self.threads = settings.service.onnx_threads
        self.canary_share = settings.canary.share  # when the registered model's tag does not say
        self.canary_key = settings.canary.key_field
        self.contract_hash = contract_hash
        self.lineup = Lineup()
        self.registry = RegistryStatus()
        self.refused: dict[str, str] = {}
        self.reloads = 0
        self._client_factory = client_factory or (lambda: registry_client(settings))
        self._client: MlflowClient | None = None
        self._load = loader or _load_from_disk
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._warned_no_champion = False

    # --- lifecycle -----------------------------------------------------------------------------

    def start(self, poll: bool = True) -> None:
        self.refresh()
        if poll and self._thread is None:
            self._thread = threading.Thread(target=self._poll, name="model-reload", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def _poll(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.refresh()
            except Exception:  # the poller must outlive any surprise; the next poll retries
                log.exception("model reload failed; retrying in %.0f s", self.interval_s)

    @property
    def ready(self) -> bool:
        return self.lineup.champion is not None

    # --- reloading -----------------------------------------------------------------------------

    def refresh(self) -> Lineup:
        """Ask the registry where the aliases point and load what moved; never unloads the
        champion because of a registry problem."""
        with self._lock:
            current = self.lineup
            try:
                client = self._client or self._client_factory()
                self._client = client
                wanted, tags = registry.model_state(client, self.name)
            except Exception as err:  # MLflow, network and database errors all mean "unreachable"
                self._unreachable(err, current)
                return self.lineup
            if self.registry.reachable is False:  # a warning, like the outage it ends: one pair per outage
                since = self.registry.since.isoformat(timespec="seconds") if self.registry.since else "?"
                log.warning("model registry %s is reachable again (unreachable since %s)", self.registry_uri, since)
            self.registry = self.registry.asked(True)
            champion = self._resolve(client, CHAMPION, wanted.get(CHAMPION), current.champion)
            if champion is None:
                champion = self._from_cache(CHAMPION)
            challenger_version = wanted.get(CHALLENGER)
            if champion is not None and challenger_version == champion.version:
                challenger_version = None  # shadowing a model against itself measures nothing
            challenger = self._resolve(client, CHALLENGER, challenger_version, current.challenger)
            canary_version = wanted.get(CANARY)
            if champion is not None and canary_version == champion.version:
                canary_version = None  # a completed canary whose alias is not yet dropped
            canary = self._resolve(client, CANARY, canary_version, current.canary)
            self._swap(Lineup(champion, challenger, canary, self._route(canary, tags)))
            self._prune()
            return self.lineup

    def _route(self, canary: Served | None, tags: dict[str, str]) -> CanaryRoute | None:
        if canary is None:
            return None
        share = parse_share(tags.get(registry.CANARY_SHARE_TAG), self.canary_share)
        return CanaryRoute(share, self.canary_key, salt=canary.version)

    def _swap(self, lineup: Lineup) -> None:
        before = self.lineup
        self.lineup = lineup  # one assignment: requests see the old lineup or the new one
        for role in ROLES:
            old, new = getattr(before, role), getattr(lineup, role)
            if old is not None and new is not None and old.version != new.version:
                self.reloads += 1
                log.info("now serving %s %s version %s (was %s)", role, self.name, new.version, old.version)
        if lineup.route is not None and (before.route is None or before.route.share != lineup.route.share):
            log.info("canary version %s answers a share of %.3f", lineup.route.salt, lineup.route.share)

    def _unreachable(self, err: Exception, current: Lineup) -> None:
        first = self.registry.reachable is not False
        self.registry = self.registry.asked(False, one_line(err))
        if current.champion is None:
            lineup = Lineup(self._from_cache(CHAMPION), self._from_cache(CHALLENGER))
            self._swap(lineup)
            if lineup.champion is not None:
                log.warning(
                    "model registry %s is unreachable (%s): serving the cached champion version %s from %s",
                    self.registry_uri,
                    one_line(err),
                    lineup.champion.version,
                    self.cache_dir,
                )
            else:
                log.error(
                    "model registry %s is unreachable (%s) and no cached model is in %s: not ready; retrying "
                    "every %.0f s",
                    self.registry_uri,
                    one_line(err),
                    self.cache_dir,
                    self.interval_s,
                )
        elif first:
            log.warning(
                "model registry %s is unreachable (%s): keeping champion version %s; retrying every %.0f s",
                self.registry_uri,
                one_line(err),
                current.champion.version,
                self.interval_s,
            )

    def _resolve(self, client: MlflowClient, role: str, version: str | None, current: Served | None) -> Served | None:
        if version is None:
            return self._alias_missing(role, current)
        self._warned_no_champion = self._warned_no_champion and role != CHAMPION
        if current is not None and current.version == version:
            return current if current.source == REGISTRY else replace(current, source=REGISTRY)
        keep = current if role == CHAMPION else None  # a refused challenger simply stops shadowing
        if version in self.refused:
            return keep
        try:
            path = self._fetch(client, version)
            bundle = self._load(path, self.threads, self.contract_hash)
        except ModelIncompatible as err:
            self.refused[version] = str(err)
            keeping = f"keeping version {keep.version}" if keep else "not loading it"
            log.error("refusing %s %s version %s: %s; %s", role, self.name, version, err, keeping)
            return keep
        except Exception as err:  # a failed download is retried at the next poll
            log.warning(
                "cannot fetch %s %s version %s (%s); retrying in %.0f s",
                role,
                self.name,
                version,
                one_line(err),
                self.interval_s,
            )
            return current
        self._save_pointer(role, version)
        return Served(role, self.name, version, bundle, REGISTRY, _now())

    def _alias_missing(self, role: str, current: Served | None) -> Served | None:
        """No alias: the champion stays (never unloaded by a registry change); a challenger stops."""
        if role == CHAMPION:
            if current is not None and not self._warned_no_champion:
                log.warning("registry has no `champion` alias for %s: keeping version %s", self.name, current.version)
                self._warned_no_champion = True
            return current
        if current is not None:
            log.info("no `%s` alias any more: version %s stops %s", role, current.version, _ROLE_WORK[role])
            self._pointer(role).unlink(missing_ok=True)
        return None

    # --- the local copy --------------------------------------------------------------------------

    def _pointer(self, role: str) -> Path:
        return self.cache_dir / f"{role}.json"

    def _version_dir(self, version: str) -> Path:
        return self.cache_dir / f"v{version}"

    def _fetch(self, client: MlflowClient, version: str) -> Path:
        target = self._version_dir(version)
        if (target / BUNDLE_FILE).is_file():  # fetched before, by this or another worker
            return target
        found = client.get_model_version(self.name, version)
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        scratch = Path(tempfile.mkdtemp(prefix=".incoming-", dir=self.cache_dir))
        try:
            fetched = registry.download_bundle(client, found, scratch / "bundle")
            try:
                fetched.rename(target)  # whole folder at once: no reader sees half a bundle
            except OSError:
                if not (target / BUNDLE_FILE).is_file():
                    raise
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        return target

    def _save_pointer(self, role: str, version: str) -> None:
        pointer = self._pointer(role)
        text = json.dumps({"name": self.name, "version": version, "saved_at": _now().isoformat(timespec="seconds")})
        staged = pointer.with_name(f".{pointer.name}.{os.getpid()}.{threading.get_ident()}")
        staged.write_text(text, encoding="utf-8")
        staged.replace(pointer)  # atomic: a starting worker reads the old pointer or the new one

    def _from_cache(self, role: str) -> Served | None:
        pointer = self._pointer(role)
        if not pointer.is_file():
            return None
        try:
            version = str(json.loads(pointer.read_text(encoding="utf-8"))["version"])
            bundle = self._load(self._version_dir(version), self.threads, self.contract_hash)
        except ModelIncompatible as err:
            log.error("refusing the cached %s (%s): %s", role, pointer, err)
            return None
        except (OSError, ValueError, KeyError) as err:
            log.error("cannot read the cached %s (%s): %s", role, pointer, one_line(err))
            return None
        return Served(role, self.name, version, bundle, CACHE, _now())

    def _prune(self) -> None:
        if not self.cache_dir.is_dir():
            return
        lineup = self.lineup
        keep = {f"v{served.version}" for served in (lineup.champion, lineup.challenger, lineup.canary) if served}
        for role in ROLES:
            with contextlib.suppress(OSError, ValueError, KeyError):
                keep.add(f"v{json.loads(self._pointer(role).read_text(encoding='utf-8'))['version']}")
        versions = sorted(
            (p for p in self.cache_dir.glob("v*") if p.is_dir()), key=lambda p: p.stat().st_mtime, reverse=True
        )
        for stale in versions[KEEP_CACHED:]:
            if stale.name not in keep:
                shutil.rmtree(stale, ignore_errors=True)

    # --- reporting -------------------------------------------------------------------------------

    def describe(self) -> dict[str, Any]:
        lineup = self.lineup
        return {
            "champion": lineup.champion.describe() if lineup.champion else None,
            "challenger": lineup.challenger.describe() if lineup.challenger else None,
            "canary": (
                {**lineup.canary.describe(), "share": lineup.route.share, "key_field": lineup.route.key_field}
                if lineup.canary is not None and lineup.route is not None
                else None
            ),
            "registry": {
                "uri": self.registry_uri,
                "reachable": self.registry.reachable,
                "checked_at": self.registry.checked_at.isoformat(timespec="seconds")
                if self.registry.checked_at
                else None,
                "error": self.registry.error,
                "last_error": self.registry.last_error,
                "since": self.registry.since.isoformat(timespec="seconds") if self.registry.since else None,
            },
            "cache_dir": str(self.cache_dir),
            "reload_interval_s": self.interval_s,
            "reloads": self.reloads,
            "refused": dict(self.refused),
        }
