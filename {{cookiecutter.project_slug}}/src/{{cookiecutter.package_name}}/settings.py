"""Typed settings, read from the environment (and an optional `.env` file).

Every knob of the project lives here with an embedded default that works on a
laptop: SQLite for MLflow and the prediction log, artifacts in `var/` inside the
project. Production moves each default by setting an environment variable, e.g.
`{{ cookiecutter.package_name | upper }}_MLFLOW__TRACKING_URI=postgresql://...`. Secrets are `SecretStr`, so
they never print in logs, flow parameters or artifacts.

Settings cannot be misspelled: a variable with the prefix that names no setting stops
the program at start, naming the closest setting, and each group is frozen and refuses
fields it does not have. docs/settings.md lists every setting; `settings_reference()`
writes it (`{{ cookiecutter.project_slug }} settings --write docs/settings.md`).
"""

from __future__ import annotations

import difflib
import inspect
import json
import os
from collections.abc import Iterable, Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

from dotenv import dotenv_values
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, SettingsConfigDict
from pydantic_settings import SettingsError as SourceError

from .errors import SettingsError

ENV_PREFIX = "{{ cookiecutter.package_name | upper }}_"
# Variables with the prefix that something other than Settings reads: they are no typos.
# None today: the prefixed variables the project's own files set are settings (the Makefile
# reads ..._STATE_DIR, `state_dir`; prefect.yaml, the worker target and the containers set
# ..._PROJECT_ROOT, `project_root`). A variable another tool reads under this prefix goes
# here, or every command stops at start calling it an unknown setting.
NOT_SETTINGS: frozenset[str] = frozenset()


def _find_project_root() -> Path:
    """The folder holding `contract.yaml`: the checkout for an editable install.

    An installed wheel (a container) has no such parent; there the working
    directory counts, or the `{{ cookiecutter.package_name | upper }}_PROJECT_ROOT` variable when set.
    """
    for parent in Path(__file__).resolve().parents:
        if (parent / "contract.yaml").is_file():
            return parent
    return Path.cwd()


class SettingsGroup(BaseModel):
    """A group of settings, read from `PREFIX_GROUP__FIELD`. Frozen: code cannot change a
    setting behind the environment's back (`model_copy(update=...)` makes a changed copy).
    Closed: a field it does not have is refused, not ignored."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class MlflowSettings(SettingsGroup):
    """Where models are tracked and registered."""

    tracking_uri: str | None = Field(default=None, description="MLflow tracking/registry URI; default: SQLite in var/.")
    artifact_location: str | None = Field(
        default=None, description="Experiment artifact root; default: var/mlartifacts."
    )
    experiment_name: str = Field(
        default="{{ cookiecutter.project_slug }}",
        description="MLflow experiment the training runs are logged in.",
    )
    registered_model_name: str = Field(
        default="{{ cookiecutter.project_slug }}",
        description="Registered model whose `champion` and `challenger` aliases the service and flows follow.",
    )


class TrainingSettings(SettingsGroup):
    """How the model is trained and split. Defaults suit 10k-1M rows."""

    seed: int = Field(
        42,
        description=(
            "LightGBM's seed and the random split's, recorded in the model's manifest: a rerun on the same data "
            "gives the same model."
        ),
    )
    split: Literal["auto", "time", "random"] = Field(
        "auto",
        description=(
            "How rows are held out. time: the newest share is the holdout and the share before it validation, "
            "as production meets the future. random: seeded shares (the seed above), stratified by the target "
            "for classification. auto: time when the contract names a timestamp column, else random."
        ),
    )
    holdout_fraction: float = Field(
        0.2, gt=0, lt=0.5, description="Share kept for evaluation (the most recent, when the split is by time)."
    )
    validation_fraction: float = Field(
        0.15,
        gt=0,
        lt=0.5,
        description="Share for early stopping and the threshold (the one before the holdout, when by time).",
    )
    num_boost_round: int = Field(
        400, ge=1, description="Most boosting rounds (trees); early stopping usually ends sooner."
    )
    early_stopping_rounds: int = Field(
        40, ge=1, description="Stop when the validation metric has not improved for this many rounds."
    )
    learning_rate: float = Field(0.05, gt=0, le=1, description="LightGBM's shrinkage per tree.")
    num_leaves: int = Field(31, ge=2, description="LightGBM's most leaves per tree.")
    min_data_in_leaf: int = Field(50, ge=1, description="LightGBM's fewest training rows in a leaf.")
    feature_fraction: float = Field(0.9, gt=0, le=1, description="Share of features LightGBM samples per tree.")
    lambda_l2: float = Field(1.0, ge=0, description="LightGBM's L2 regularisation of leaf values.")
    max_category_levels: int = Field(
        64,
        ge=2,
        description=(
            "High-cardinality categoricals keep their most frequent levels; the rest count as unseen. ONNX "
            "turns each categorical split into one node per level: 64 levels scored 100 rows 2x faster than "
            "256 with the same average precision on 200k demo rows."
        ),
    )
    num_threads: int = Field(2, ge=1, description="Fixed so that training is bit-for-bit repeatable on any machine.")
    class_weighting: Literal["sqrt_balanced", "balanced", "none"] = Field(
        "sqrt_balanced",
        description=(
            "Positive-class weight: sqrt(neg/pos) lifts recall on rare fraud without "
            "distorting scores as much as full balancing; the decision threshold does the rest. "
            "Multiclass: each row weighs (largest class / its class), square-rooted likewise."
        ),
    )
    threshold_strategy: Literal["max_f1", "fixed"] = Field(
        "max_f1",
        description="Classification: the decision threshold maximises F1 on the validation share, or is fixed.",
    )
    fixed_threshold: float = Field(
        0.5, gt=0, lt=1, description="The decision threshold when threshold_strategy is fixed."
    )
    onnx_opset: int = Field(15, ge=9, le=15, description="onnxmltools 1.16 refuses opsets above 15.")


class ParitySettings(SettingsGroup):
    """How closely the ONNX model must reproduce LightGBM on the holdout.

    float32 thresholds in the ONNX graph move scores by ~1e-7; a score gap
    above 1e-4 means the export is wrong (encoding, feature order), not noise.
    """

    max_abs_diff: float = Field(1e-4, gt=0, description="Largest score difference allowed on any holdout row.")
    regression_rel_diff: float = Field(1e-5, gt=0, description="Regression: also allowed relative to |prediction|.")
    min_decision_agreement: float = Field(
        0.999, gt=0, le=1, description="Classification: share of holdout rows on which both decide alike."
    )


class ComputeSettings(SettingsGroup):
    """Where the heavy steps run: in this process (`local`, the default) or on Dask.

    With `engine=dask`, training reads its data as partitioned Parquet with dask.dataframe and
    fits LightGBM across the workers, and `score` scores a partition per task. `address` names
    a running scheduler; unset, a `LocalCluster` of `workers` processes is started for the run
    and stopped after it.
    """

    engine: Literal["local", "dask"] = Field(
        "local", description="`local`: one process, pandas. `dask`: partitions on a Dask cluster."
    )
    address: str | None = Field(
        None,
        description=(
            "A running Dask scheduler, e.g. `tcp://scheduler:8786`. Unset with engine=dask: a LocalCluster is "
            "started for the run."
        ),
    )
    workers: int = Field(2, ge=1, le=256, description="Worker processes of the LocalCluster (no address).")
    threads_per_worker: int = Field(1, ge=1, le=64, description="Threads of each LocalCluster worker.")
    memory_limit: str = Field(
        "2GiB",
        description="Memory limit of each LocalCluster worker (Dask's form: `2GiB`, `512MB`, or `auto`).",
    )
    connect_timeout: float = Field(
        10.0, gt=0, le=600, description="Seconds to reach the scheduler (or start the LocalCluster) before giving up."
    )
    rounds_sample_rows: int = Field(
        200_000,
        ge=1_000,
        description=(
            "Training rows sampled into memory to choose the number of boosting rounds by early stopping "
            "(lightgbm.dask has none); the cluster then fits every training row with that many rounds."
        ),
    )
    demo_partitions: int = Field(
        4, ge=1, le=1_000, description="Parquet files the demo data is written as when no data_path is set."
    )


class GateSettings(SettingsGroup):
    """What a new version must achieve before it may hold an alias."""

    min_average_precision: float = Field(
        0.1,
        ge=0,
        le=1,
        description=(
            "A sanity floor, not a target: average precision moves with the fraud rate and with how hard "
            "today's fraud is (a new pattern halves it for every model), so the comparison with the champion "
            "on the same holdout does the real work. 0.1 is 5-10x a random ranking at a 1-2% fraud rate."
        ),
    )
    min_roc_auc: float = Field(0.75, ge=0, le=1, description="A sanity floor; it does not move with the fraud rate.")
    min_macro_f1: float = Field(
        0.3,
        ge=0,
        le=1,
        description=(
            "Multiclass: a sanity floor of macro F1, the primary metric because it weighs every class alike (a "
            "model that ignores a rare class loses as much as one that ignores the common one, which accuracy and "
            "log loss, dominated by the majority class, forgive). A model answering one class for every row "
            "scores about 1/k of a class's F1 on average; 0.3 sits above that for up to 5 classes."
        ),
    )
    balanced_accuracy_over_chance: float = Field(
        0.1,
        ge=0,
        lt=1,
        description=(
            "Multiclass: balanced accuracy (the mean per-class recall) must reach 1/k plus this, k the number of "
            "classes: a model answering one class for every row, or at random, scores 1/k whatever k is."
        ),
    )
    max_rmse: float | None = Field(None, gt=0, description="Regression: absolute ceiling (unset: none).")
    min_r2: float = Field(0.2, le=1, description="Regression: a sanity floor of R² on the holdout.")
    champion_tolerance: float = Field(
        0.0, ge=0, description="How much worse than the champion on the same holdout a challenger may be."
    )


class DriftSettings(SettingsGroup):
    """How the monitoring engine judges a window of live data against the reference profile.

    A feature drifts only when a two-sample test says the change is real (after
    correcting for testing many features at once) AND an effect size says it is
    large enough to matter: large windows make tiny, harmless changes
    significant, and small windows make large-looking effects out of noise.
    """

    alpha: float = Field(
        default=0.05,
        gt=0,
        lt=1,
        description=(
            "Significance level after correction. With the Benjamini-Hochberg correction, an undrifted "
            "window raises any alarm at most ~5% of the time, and at most ~5% of alarms are false."
        ),
    )
    correction: Literal["bh", "holm", "none"] = Field(
        default="bh",
        description=(
            "Multiple-comparison control across a window's tests. 'bh' (false discovery rate) keeps power "
            "when several features drift together; 'holm' (family-wise) is stricter; 'none' alarms on "
            "~alpha of all features in every window."
        ),
    )
    wasserstein_threshold: float = Field(
        default=0.1,
        ge=0,
        description=(
            "Numeric: Wasserstein distance in units of the reference standard deviation. 0.1 (a tenth of "
            "the spread) is Evidently's default; a 0.2-SD mean shift clears it twice over."
        ),
    )
    js_threshold: float = Field(
        default=0.1,
        ge=0,
        description=(
            "Jensen-Shannon distance (natural log, 0 to 0.83) on deciles or category shares. 0.1 is "
            "Evidently's default; it catches shape changes that barely move the mean."
        ),
    )
    psi_threshold: float = Field(
        default=0.2,
        ge=0,
        description=(
            "Population stability index on deciles or categories. 0.2 is the credit-scoring convention "
            "for a significant shift."
        ),
    )
    share_change_threshold: float = Field(
        default=0.05,
        ge=0,
        description=(
            "Categorical: the largest change in any one level's share. Five percentage points is a visible "
            "mix change; JS distance alone misses a 10-point move of a common level (it scores ~0.07)."
        ),
    )
    null_rate_threshold: float = Field(
        default=0.02,
        ge=0,
        description=(
            "Absolute change in the share of missing (or unparseable) values. Two points is what a "
            "partially broken upstream join looks like; routine variation is far smaller."
        ),
    )
    unseen_threshold: float = Field(
        default=0.02,
        ge=0,
        description=(
            "Categorical: share of values the reference never saw, beyond the share expected from its "
            "own rare levels (Good-Turing). Two points of brand-new levels means a new upstream source."
        ),
    )
    min_expected_count: float = Field(
        default=5.0,
        gt=0,
        description=(
            "Chi-square: levels with a smaller expected count are pooled (Cochran's rule), so that rare "
            "levels cannot fake significance."
        ),
    )
    dataset_drift_share: float = Field(
        default=0.25,
        gt=0,
        le=1,
        description=(
            "The window drifts as a whole when at least this share of scored features drift: a quarter "
            "moving together means the population changed, not one upstream field."
        ),
    )
    rename_max_distance: float = Field(
        default=0.1,
        gt=0,
        le=1,
        description=(
            "An added column is taken for a renamed missing feature when its distribution is this close "
            "(KS statistic or total variation, and null-rate gap) to the feature's reference."
        ),
    )
    estimate_draws: int = Field(
        default=200,
        ge=20,
        description="Monte Carlo draws for estimated performance: enough for a stable 90% band.",
    )
    estimate_max_rows: int = Field(
        default=50_000,
        ge=1_000,
        description=(
            "Estimated performance simulates labels for at most this many rows (a random sample): the "
            "band is then a little wider than the window needs, never narrower."
        ),
    )
    band: float = Field(
        default=0.9, gt=0, lt=1, description="Coverage of the uncertainty band around estimated performance."
    )
    min_labelled_rows: int = Field(
        default=500,
        ge=1,
        description=(
            "Realized metrics on fewer labelled rows (overall or per segment) are marked unreliable: at the "
            "demo's 1.5% fraud rate that is ~7 frauds, about the fewest on which precision means anything."
        ),
    )


class ServiceSettings(SettingsGroup):
    """How the BentoML service runs: processes, limits, authentication, model reload, shadow."""

    host: str = Field(default="127.0.0.1", description="Where `serve` listens; a container listens on 0.0.0.0.")
    port: int = Field(default=3000, ge=1, le=65535, description="Where `serve` listens.")
    workers: int = Field(default=1, ge=1, description="Server processes; each loads the models and polls the registry.")
    api_key: SecretStr | None = Field(
        default=None,
        description=(
            "When set, /predict, /feedback, /metadata and /reload need it (X-API-Key or Bearer token); "
            "probes, metrics and the OpenAPI document stay open."
        ),
    )
    api_keys: list[SecretStr] = Field(
        default_factory=list,
        description=(
            "More valid keys (a JSON list), each accepted like `api_key`: to rotate without downtime, add the "
            "new key, move the clients, then remove the old one."
        ),
    )
    api_key_file: Path | None = Field(
        default=None,
        description=(
            "A file of valid keys, one per line (blank lines ignored), e.g. a mounted Kubernetes Secret; read "
            "once when the service starts (a changed file takes effect at the next restart). Missing, unreadable "
            "or empty: the service refuses to start, naming the file."
        ),
    )
    max_records: int = Field(
        default=1000, ge=1, description="The largest batch /predict and /feedback accept (413 above)."
    )
    max_body_bytes: int = Field(default=4_000_000, ge=1024, description="The largest request body (413 above).")
    reject_unknown_fields: bool = Field(
        default=False,
        description="False: serve records with fields the contract does not know and log a schema event; True: 400.",
    )
    reload_interval_s: float = Field(
        default=30.0, gt=0, description="How often the registry is asked whether `champion` or `challenger` moved."
    )
    registry_timeout_s: float = Field(default=10.0, gt=0, description="Per registry request (MLflow over HTTP).")
    registry_retries: int = Field(
        default=1, ge=0, description="Retries per registry request before it counts as unreachable."
    )
    model_cache_dir: Path | None = Field(
        default=None,
        description="The last models loaded, to start when the registry is down; default: var/serving/models.",
    )
    onnx_threads: int = Field(
        default=1, ge=1, description="onnxruntime threads per model; one suits small tree models."
    )
    request_timeout_s: float = Field(default=10.0, gt=0, description="BentoML answers 504 past this.")
    shadow: bool = Field(
        default=True, description="Score a `challenger` (when one exists) on live traffic, never answering."
    )
    shadow_queue: int = Field(
        default=1000,
        ge=1,
        description="Requests waiting for the challenger; beyond it shadow work is dropped and counted.",
    )
    shadow_max_age_s: float = Field(
        default=5.0,
        gt=0,
        description="Shadow work older than this when its turn comes is skipped and counted as stale.",
    )
    access_log: bool = Field(
        default=False, description="BentoML's per-request access log (the prediction log already has each request)."
    )
    metrics: bool = Field(
        default=True, description="Prometheus /metrics: BentoML's own and the model's (docs/monitoring.md)."
    )
    metrics_refresh_s: float = Field(
        default=60.0,
        gt=0,
        description="How often each worker reads the latest monitoring results for /metrics (never per request).",
    )
    tracing: bool = Field(
        default=False, description="BentoML's OpenTelemetry middleware on the API routes (exporter: BENTOML_CONFIG)."
    )

    @property
    def requires_api_key(self) -> bool:
        """Whether any key is configured (the file's content is checked by `valid_api_keys`)."""
        given = [secret.get_secret_value() for secret in ([self.api_key] if self.api_key else []) + self.api_keys]
        return any(key.strip() for key in given) or self.api_key_file is not None

    def valid_api_keys(self) -> list[str]:
        """Every valid key: `api_key`, `api_keys` and the lines of `api_key_file`, without repeats.
        Empty when none is configured (the API is open). Reads the file; SettingsError, naming
        the file (never a key), when it is missing, unreadable or holds no key."""
        keys = [secret.get_secret_value() for secret in ([self.api_key] if self.api_key else []) + self.api_keys]
        if self.api_key_file is not None:
            keys += _keys_in_file(self.api_key_file)
        return list(dict.fromkeys(key.strip() for key in keys if key.strip()))


def _keys_in_file(path: Path) -> list[str]:
    """The keys in a key file, one per line; SettingsError naming the file when there are none."""
    variable = f"{ENV_PREFIX}SERVICE__API_KEY_FILE"
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SettingsError(f"{variable}: the API key file {path} does not exist") from None
    except UnicodeDecodeError:
        raise SettingsError(f"{variable}: the API key file {path} is not UTF-8 text") from None
    except OSError as err:  # a directory, no permission
        raise SettingsError(f"{variable}: the API key file {path} cannot be read ({err.strerror})") from None
    keys = [line.strip() for line in text.splitlines() if line.strip()]
    if not keys:
        raise SettingsError(f"{variable}: the API key file {path} holds no key (one key per line)")
    return keys


class PredictionLogSettings(SettingsGroup):
    """Where every answer is recorded (and labels joined): SQLite by default, PostgreSQL by URL."""

    enabled: bool = Field(default=True, description="Off only for benchmarks: an unlogged service cannot be monitored.")
    url: SecretStr | None = Field(
        default=None,
        description="SQLAlchemy URL, e.g. postgresql+psycopg://user:pw@host/db; default: SQLite in var/.",
    )
    db_schema: str | None = Field(default=None, description="PostgreSQL schema for the tables (created when missing).")
    sqlite_synchronous: Literal["NORMAL", "FULL"] = Field(
        default="NORMAL",
        description="NORMAL survives a killed process; FULL also a power cut, at an fsync per request.",
    )


class ScoringSettings(SettingsGroup):
    """Batch scoring (`score`, the batch-scoring flow): a file is read, scored and written a chunk
    at a time, so its memory does not grow with the file."""

    chunk_rows: int = Field(
        default=100_000,
        ge=1,
        description=(
            "Rows read, scored and written at a time (Parquet: at most this, batches end at row groups). "
            "Larger chunks take more memory for little speed past about 100k rows."
        ),
    )
    progress_seconds: float = Field(
        default=10.0,
        gt=0,
        description="`score` without a terminal (a log, CI): a progress line at most this often.",
    )


class RetrainingSettings(SettingsGroup):
    """What a retraining run learns from: the base training data plus the most recent
    labelled answers from the prediction log (the data the model now meets)."""

    use_prediction_log: bool = Field(
        default=True, description="Add the labelled answers from the prediction log to the base training data."
    )
    window_days: int = Field(default=30, ge=1, description="Fresh rows are the answers logged in the last N days.")
    max_fresh_rows: int = Field(
        default=200_000, ge=1, description="At most this many fresh rows, the most recent first."
    )
    drop_flagged_rows: bool = Field(
        default=True,
        description=(
            "Leave out answers the service flagged as outside the contract (out of range, unseen category, "
            "pattern mismatch): they were served, but they are not evidence to learn from."
        ),
    )


class ShadowEvaluationSettings(SettingsGroup):
    """When a challenger, scored in shadow on live traffic, may replace the champion.

    Both models scored the same requests; once enough of them have labels the
    challenger is promoted only when it is better on the primary metric with
    confidence (a paired bootstrap interval) and no segment with enough samples
    is worse beyond a tolerance. Otherwise it is rejected.
    """

    window_days: int = Field(default=14, ge=1, description="Requests logged in the last N days are evaluated.")
    min_samples: int = Field(
        default=1000,
        ge=1,
        description="Labelled requests both models scored before any decision; until then: keep waiting.",
    )
    min_positives: int = Field(
        default=30,
        ge=1,
        description=(
            "Classification: positives among them too; average precision on fewer is mostly noise. Multiclass: "
            "at least two classes need this many labelled requests each (macro F1 on one class judges it alone)."
        ),
    )
    confidence: float = Field(default=0.95, gt=0.5, lt=1, description="Level of the two-sided bootstrap interval.")
    bootstrap_resamples: int = Field(default=1000, ge=100, description="Paired resamples of the requests.")
    seed: int = Field(
        default=42, description="The bootstrap's seed: the same rows give the same interval and decision."
    )
    min_improvement: float = Field(
        default=0.0,
        ge=0,
        description=(
            "Promote only when the interval's lower bound of the improvement (in the primary metric's units) "
            "is above this: 0 means 'better with confidence'."
        ),
    )
    min_segment_samples: int = Field(
        default=300, ge=1, description="A segment (contract.segments) is judged only with this many labelled requests."
    )
    min_segment_positives: int = Field(
        default=10,
        ge=1,
        description="Classification: ... and this many positives among them (multiclass: in each of two classes).",
    )
    segment_tolerance: float = Field(
        default=0.05,
        ge=0,
        description=(
            "A judged segment blocks promotion when the challenger is worse there by more than this share "
            "of the champion's value (0.05: average precision 0.60 may drop to 0.57, not below)."
        ),
    )
    auto_promote: bool = Field(
        default=True,
        description="Apply the decision (move the aliases); false records it only and a person runs `promote`.",
    )


class ReplaySettings(SettingsGroup):
    """Replay: a new challenger scored offline on the champion's logged, labelled requests.

    The challenger scores the features as the service received them; its scores are compared
    with the champion's logged ones on exactly those requests, by shadow evaluation's rules
    (`shadow_evaluation`: sample sizes, bootstrap, segment tolerance). A challenger replay
    finds worse on any segment never gets shadow traffic; a better one still goes through
    shadow, which sees what the log cannot (features it lacks, feedback loops).
    """

    days: int = Field(
        default=14, ge=1, description="Labelled requests the champion answered in the last N days are replayed."
    )
    on_training: bool = Field(
        default=True,
        description=(
            "The training flow replays each new challenger after the gate, and takes the `challenger` alias "
            "away from one replay finds worse; false: replay only when someone runs `replay`."
        ),
    )


class CanarySettings(SettingsGroup):
    """The canary: after shadow evaluation promotes, the challenger first answers a share of live
    traffic, and is rolled back automatically if it does worse than the champion on the same window.

    Off by default: shadow's promotion then switches every answer at once, as before. On, shadow's
    "promote" moves the version to the `canary` alias instead, and the canary flow completes the
    promotion after `duration_hours` with no guard breached, or rolls it back at the first breach.
    """

    enabled: bool = Field(
        default=False, description="Run a canary after shadow evaluation promotes; false: promote at once."
    )
    share: float = Field(
        default=0.1, gt=0, lt=1, description="Share of answered records the canary answers (0.1: one in ten)."
    )
    key_field: str | None = Field(
        default=None,
        description=(
            "A contract field whose value picks the model (a hash of it): the same customer always gets the same "
            "model. None: each record is routed at random."
        ),
    )
    duration_hours: float = Field(
        default=24.0, gt=0, description="The canary completes the promotion after this long with no guard breached."
    )
    min_answers: int = Field(
        default=500, ge=1, description="Records the canary answered before any guard judges it; until then: wait."
    )
    max_error_rate_increase: float = Field(
        default=0.01,
        ge=0,
        description=(
            "Breach when the canary's share of failed answers (refusals and errors it logged) exceeds the "
            "champion's by more than this (0.01: one point)."
        ),
    )
    max_latency_p99_ratio: float = Field(
        default=1.5, gt=1, description="Breach when the canary's p99 latency is more than this times the champion's."
    )
    max_score_psi: float | None = Field(
        default=None,
        gt=0,
        description=(
            "Breach when the canary's score distribution differs from the champion's on the same window by more "
            "than this population stability index (0.2: a large shift). Off (unset) by default: a retrained model's "
            "scores differ from the champion's by design (the demo's better model: PSI 2.2); set it for a "
            "like-for-like refresh."
        ),
    )
    max_metric_drop: float = Field(
        default=0.05,
        ge=0,
        description=(
            "Once labels arrive: breach when the canary's primary metric is below the champion's by more than "
            "this share of the champion's value."
        ),
    )
    min_labelled: int = Field(
        default=200, ge=1, description="Labelled answers each model needs before realized performance is compared."
    )
    event_slack_days: float = Field(
        default=2.0,
        gt=0,
        le=366,
        description=(
            "The canary's window is by serving time, read through the log's event-time index: answers to records "
            "whose own timestamp is further than this from when they were served are left out. Raise it for "
            "traffic that replays or backfills older events."
        ),
    )


class MonitoringSettings(SettingsGroup):
    """The monitoring flow: which window it judges, and how much of the past it looks at."""

    window_hours: float = Field(
        default=24.0,
        gt=0,
        description=(
            "Default window length: the last complete day of the prediction log (the day before today, or the "
            "log's last day when replaying the past). A day matches the daily schedule and holds enough traffic "
            "for the calibrated tests."
        ),
    )
    performance_days: float = Field(
        default=7.0,
        gt=0,
        description=(
            "Realized performance uses the labelled rows logged in this many days up to the window's end. Labels "
            "arrive days late, and one day's rows hold too few frauds (~45 at 3,000 requests a day) for a stable "
            "average precision; a week holds ~300."
        ),
    )
    window_chunk_rows: int = Field(
        default=50_000,
        ge=1,
        description=(
            "The monitoring flow reads its window (and the labelled answers of the performance period) from the "
            "prediction log in pages of at most this many rows, keeping only counts and one score per answer, so "
            "its memory does not grow with the traffic; the results equal a whole-window read."
        ),
    )
    max_rejection_share: float = Field(
        default=0.01,
        ge=0,
        le=1,
        description=(
            "Share of requests refused at the contract check that raises a critical alert: above 1%, an upstream "
            "change is losing answers, not just producing the odd bad record."
        ),
    )
    history_windows: int = Field(default=30, ge=2, description="Windows shown in the report's over-time plots.")
    estimate_seed: int = Field(default=0, description="Seed of the performance estimate's simulation: reruns agree.")


class AlertSettings(SettingsGroup):
    """Where alerts go and how often. Every alert is stored in the history tables, sent or not."""

    channel: Literal["none", "slack", "webhook", "email"] = Field(
        default="{{ cookiecutter.alert_channel }}",
        description="none: history and the report only; slack, webhook or email: also a message.",
    )
    block_name: str | None = Field(
        default=None,
        description=(
            "A saved Prefect block to deliver through instead of the settings below: a Slack Webhook or Custom "
            "Webhook notification block, or prefect-email's Email Server Credentials (needs the Prefect API), "
            "named `slack-webhook/...`, `custom-webhook/...` or `email-server-credentials/...`."
        ),
    )
    min_severity: Literal["info", "warning", "critical"] = Field(
        default="warning", description="Alerts below this severity are stored and reported, never sent."
    )
    cooldown_hours: float = Field(
        default=24.0,
        ge=0,
        description=(
            "An alert repeating one already sent within this time is suppressed (stored, not sent) unless its "
            "severity rose or it names something new (another feature, column or metric). A day means a daily "
            "run reminds about an open incident once a day instead of at every run."
        ),
    )
    subject_prefix: str = Field(
        default="[{{ cookiecutter.project_slug }}]",
        description="Starts the subject of every alert message.",
    )
    timeout_s: float = Field(default=10.0, gt=0, description="Per delivery attempt (HTTP or SMTP).")
    slack_webhook_url: SecretStr | None = Field(default=None, description="Slack incoming-webhook URL (channel slack).")
    webhook_url: SecretStr | None = Field(default=None, description="URL that receives a JSON POST (channel webhook).")
    webhook_token: SecretStr | None = Field(default=None, description="Sent as `Authorization: Bearer ...` when set.")
    smtp_host: str = Field(default="localhost", description="SMTP server (channel email).")
    smtp_port: int | None = Field(default=None, ge=1, le=65535, description="Default: the security mode's port.")
    smtp_security: Literal["SSL", "STARTTLS", "INSECURE"] = Field(
        default="STARTTLS", description="INSECURE (plain SMTP) only for a relay on a trusted network."
    )
    smtp_username: str | None = Field(
        default=None, description="SMTP login (channel email); also the sender when email_from is unset."
    )
    smtp_password: SecretStr | None = Field(default=None, description="SMTP password (channel email).")
    email_from: str | None = Field(default=None, description="Sender; default: the SMTP username.")
    email_to: list[str] = Field(default_factory=list, description="Recipients (a JSON list in the environment).")


class RetrainRuleSettings(SettingsGroup):
    """When monitoring asks for a new model: the evidence that emits the degradation event
    the training deployment listens for. Each rule fires once per incident (when it starts
    to hold for the current champion), not at every run while it keeps holding."""

    enabled: bool = Field(default=True, description="Off: monitor and alert, but never ask for retraining.")
    drift_windows: int = Field(
        default=3,
        ge=1,
        description=(
            "Sustained drift: the dataset drifted in this many consecutive monitored windows. One drifted day "
            "can be a holiday or a batch replay; three in a row is a new normal the model has not seen."
        ),
    )
    performance_floor: float | None = Field(
        default=None,
        description=(
            "Absolute floor (ceiling for error metrics) of the primary metric; unset: relative. Realized and "
            "estimated values breach it only when their whole uncertainty band does."
        ),
    )
    max_relative_drop: float = Field(
        default=0.2,
        gt=0,
        lt=1,
        description=(
            "Without an absolute floor: the primary metric may fall this share below the training holdout "
            "(rise above it, for error metrics). 20% is well outside a week's sampling noise at the demo's "
            "volume, and a loss users notice."
        ),
    )
    use_estimate: bool = Field(
        default=True,
        description=(
            "Also fire when the whole uncertainty band of the estimated metric (no labels yet) is below the "
            "floor: covariate shift can be acted on before labels confirm it."
        ),
    )
    schema_change: bool = Field(
        default=True, description="Fire on a schema change in served or refused requests (the kinds below)."
    )
    schema_kinds: list[str] = Field(
        default_factory=lambda: ["dropped", "renamed", "type_changed"],
        description=(
            "Schema event kinds that ask for retraining: the ones that change what the model reads. A new "
            "column (`added`, `unknown_field`) is alerted on, but a model retrained on the same contract "
            "cannot use it: it needs a contract change first. `duplicated` is a caller's bug, not new data."
        ),
    )


class ContractDraftSettings(SettingsGroup):
    """How `contract draft` reads the task from the target's values. Whatever it cannot tell
    apart it does not guess: it stops and asks for `--task`."""

    max_classes: int = Field(
        default=10,
        ge=3,
        description=(
            "Most distinct values a target may have to read as classes: 2 is binary classification, 3 up to this "
            "many multiclass, every class named in the contract's labels. Ten "
            "holds ratings and digits; more levels than that are rarely classes with enough examples each."
        ),
    )
    min_regression_values: int = Field(
        default=30,
        ge=4,
        description=(
            "Fewest distinct values of whole numbers that read as regression (numbers with fractions: more than "
            "max_classes). Whole numbers in between (counts, scores) could be either: the draft asks for --task."
        ),
    )

    @model_validator(mode="after")
    def _regression_above_classes(self) -> ContractDraftSettings:
        if self.min_regression_values <= self.max_classes:
            raise ValueError(
                f"min_regression_values ({self.min_regression_values}) must be above max_classes ({self.max_classes})"
            )
        return self


class Settings(BaseSettings):
    """All settings. Nested groups read `PREFIX_GROUP__FIELD`. Frozen like its groups:
    `model_copy(update=...)` makes a changed copy."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        env_file=".env",
        extra="ignore",  # unprefixed keys of .env belong to other tools; misspelled settings stop below
        frozen=True,
    )

    project_root: Path = Field(
        default_factory=_find_project_root,
        validate_default=True,
        description=(
            "The project folder (holding contract.yaml, flows/ and services/); default: the checkout the package "
            "is installed from, else the working directory."
        ),
    )
    state_dir: Path | None = Field(
        None, description="Where run-time state goes (databases, artifacts, reports); default: var/ in the project."
    )
    contract_path: Path | None = Field(
        None,
        validate_default=True,
        description="The data contract; default: contract.yaml in the project root (relative paths start there).",
    )
    data_path: Path | str | None = Field(
        None,
        description=(
            "Training data (CSV or Parquet; on the Dask engine a folder of Parquet files), or s3://bucket/prefix/ "
            "(the Parquet files under it; credentials from the AWS environment); relative paths start at the "
            "project root. Unset: the built-in demo data set."
        ),
    )
    demo_rows: int = Field(60_000, ge=1_000, description="Rows of demo data when no data_path is set.")
    demo_days: int = Field(90, ge=7, description="Days the demo data spans when no data_path is set.")

    mlflow: MlflowSettings = MlflowSettings()
    training: TrainingSettings = TrainingSettings()
    parity: ParitySettings = ParitySettings()
    compute: ComputeSettings = ComputeSettings()
    gate: GateSettings = GateSettings()
    service: ServiceSettings = ServiceSettings()
    scoring: ScoringSettings = ScoringSettings()
    prediction_log: PredictionLogSettings = PredictionLogSettings()
    drift: DriftSettings = DriftSettings()
    monitoring: MonitoringSettings = MonitoringSettings()
    alerts: AlertSettings = AlertSettings()
    retrain_rules: RetrainRuleSettings = RetrainRuleSettings()
    retraining: RetrainingSettings = RetrainingSettings()
    shadow_evaluation: ShadowEvaluationSettings = ShadowEvaluationSettings()
    replay: ReplaySettings = ReplaySettings()
    canary: CanarySettings = CanarySettings()
    contract_draft: ContractDraftSettings = ContractDraftSettings()

    @model_validator(mode="before")
    @classmethod
    def _known_variables_only(cls, data: Any) -> Any:
        """Before validation: every prefixed variable (and .env key) must name a setting."""
        check_environment(os.environ, _env_file())
        return data

    @field_validator("project_root")
    @classmethod
    def _resolve_root(cls, root: Path) -> Path:
        return root.resolve()

    @field_validator("contract_path", "data_path")
    @classmethod
    def _under_root(cls, path: Path | str | None, info: ValidationInfo) -> Path | str | None:
        if isinstance(path, str):  # an s3:// URL stays one; any other text is a local path
            if path.startswith("s3://"):
                return path
            path = Path(path)
        root = info.data.get("project_root")
        if root is None:  # project_root itself was refused, with its own error
            return path
        if path is None:
            return root / "contract.yaml" if info.field_name == "contract_path" else None
        return path if path.is_absolute() else root / path

    @property
    def var_dir(self) -> Path:
        """Everything the project writes at run time (gitignored)."""
        return (self.state_dir or self.project_root / "var").resolve()

    @property
    def contract_file(self) -> Path:
        assert self.contract_path is not None  # set by the validator
        return self.contract_path

    @property
    def gx_dir(self) -> Path:
        return self.project_root / "great_expectations"

    @property
    def mlflow_tracking_uri(self) -> str:
        return self.mlflow.tracking_uri or f"sqlite:///{self.var_dir / 'mlflow.db'}"

    @property
    def mlflow_artifact_location(self) -> str | None:
        """Where new experiments keep artifacts. A tracking server decides for itself (it
        proxies its artifact store); a database URI would otherwise default to ./mlruns
        in whatever directory the process started in, so it gets var/mlartifacts."""
        if self.mlflow.artifact_location:
            return self.mlflow.artifact_location
        if self.mlflow_tracking_uri.startswith(("http://", "https://", "databricks")):
            return None
        return (self.var_dir / "mlartifacts").as_uri()

    @property
    def prediction_log_url(self) -> str:
        url = secret_value(self.prediction_log.url)
        return url or f"sqlite:///{self.var_dir / 'predictions.db'}"

    @property
    def model_cache_path(self) -> Path:
        return (self.service.model_cache_dir or self.var_dir / "serving" / "models").resolve()


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings; tests call `get_settings.cache_clear()` after changing the environment.

    A misspelled variable, or a value a setting refuses, raises SettingsError: one line
    naming the variable, which the command line prints without a traceback.
    """
    try:
        return Settings()
    except ValidationError as err:
        raise SettingsError(_refusals(err)) from err
    except SourceError as err:  # a list or a whole group that is not valid JSON
        raise SettingsError(f"invalid setting: {err}: lists and whole groups are JSON") from err


def secret_value(secret: SecretStr | None) -> str | None:
    return secret.get_secret_value() if secret is not None else None


# --- what the environment may hold ---------------------------------------------------------


def _groups() -> dict[str, type[SettingsGroup]]:
    """The groups by field name (`training`, `service`, ...), in declaration order."""
    return {
        name: field.annotation
        for name, field in Settings.model_fields.items()
        if isinstance(field.annotation, type) and issubclass(field.annotation, SettingsGroup)
    }


def setting_variables() -> list[str]:
    """Every variable Settings reads: `PREFIX_FIELD`, `PREFIX_GROUP` (a whole group as JSON)
    and `PREFIX_GROUP__FIELD`, in capitals (they are read in any case)."""
    names = [ENV_PREFIX + name.upper() for name in Settings.model_fields]
    for group, model in _groups().items():
        names += [f"{ENV_PREFIX}{group.upper()}__{name.upper()}" for name in model.model_fields]
    return names


def _env_file() -> Path | None:
    """The `.env` file Settings reads (relative to the working directory), when there is one."""
    configured = Settings.model_config.get("env_file")
    path = Path(configured) if isinstance(configured, str | Path) else None
    return path if path is not None and path.is_file() else None


def check_environment(environ: Mapping[str, object], env_file: Path | None = None) -> None:
    """Refuse a variable (or `.env` key) with the prefix that names no setting: SettingsError,
    one line naming the closest setting for each."""
    known = set(setting_variables())
    allowed = known | NOT_SETTINGS
    sources: list[tuple[Iterable[str], str]] = [(environ, "")]
    if env_file is not None:
        sources.append((dotenv_values(env_file), f" (in {env_file})"))
    problems = [
        _unknown(name, where, sorted(known))
        for names, where in sources
        for name in sorted(names)
        if name.upper().startswith(ENV_PREFIX) and name.upper() not in allowed
    ]
    if problems:
        raise SettingsError("; ".join(problems))


def _unknown(name: str, where: str, known: list[str]) -> str:
    """`unknown setting X: did you mean Y?`, comparing the parts after the prefix (which all share)."""
    suffixes = {variable.removeprefix(ENV_PREFIX): variable for variable in known}
    close = difflib.get_close_matches(name.upper().removeprefix(ENV_PREFIX), list(suffixes), n=1)
    hint = f"did you mean {suffixes[close[0]]}?" if close else "no setting has a similar name (see docs/settings.md)"
    return f"unknown setting {name}{where}: {hint}"


def _refusals(err: ValidationError) -> str:
    """A validation error in one line, each refusal named by its variable (never its value: it may be a secret)."""
    refusals = []
    for error in err.errors(include_url=False, include_input=False):
        path = [str(part) for part in error["loc"] if isinstance(part, str)]
        refusals.append(f"invalid setting {ENV_PREFIX}{'__'.join(path).upper()}: {error['msg']}")
    return "; ".join(refusals)


# --- the reference (docs/settings.md) --------------------------------------------------------

_JSON_LIST = '["a@example.com", "b@example.com"]'
_JSON_GROUP = '{"num_leaves": 63, "learning_rate": 0.1}'


def settings_reference() -> str:
    """docs/settings.md: every setting's variable, type, default and description, made from
    the models above (`{{ cookiecutter.project_slug }} settings --write docs/settings.md`)."""
    groups = _groups()
    general = [(ENV_PREFIX + name.upper(), f) for name, f in Settings.model_fields.items() if name not in groups]
    lines = [
        "# Settings",
        "",
        (
            "<!-- Generated from src/{{ cookiecutter.package_name }}/settings.py by "
            "`{{ cookiecutter.project_slug }} settings --write docs/settings.md`: edit the settings, not this file. -->"
        ),
        "",
        (
            f"Every setting is an environment variable (or a line in `.env`) with the prefix `{ENV_PREFIX}`; "
            f"a setting of a group adds the group's name and `__`, e.g. `{ENV_PREFIX}TRAINING__NUM_LEAVES=63`. "
            f"Names are read in any case. Lists are JSON (`'{_JSON_LIST}'`), and so is a whole group given "
            f"at once (`{ENV_PREFIX}TRAINING='{_JSON_GROUP}'`)."
        ),
        "",
        (
            "A variable with the prefix that names no setting stops every command, the service and the flows at "
            "start with one line naming the closest setting, and so does a value a setting refuses. Secrets "
            "(type `secret`) never appear in logs, flow parameters or artifacts, and their defaults are not shown."
        ),
        "",
        "## General",
        "",
        *_table(general),
    ]
    for group, model in groups.items():
        lines += ["", f"## `{group}`", "", inspect.cleandoc(model.__doc__ or ""), ""]
        lines += _table((f"{ENV_PREFIX}{group.upper()}__{name.upper()}", f) for name, f in model.model_fields.items())
    return "\n".join(lines) + "\n"


def _table(rows: Iterable[tuple[str, FieldInfo]]) -> list[str]:
    lines = ["| Variable | Type | Default | Description |", "|---|---|---|---|"]
    for variable, field in rows:
        cells = (f"`{variable}`", _type_text(field), _default_text(field), field.description or "")
        lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    return lines


def _type_text(field: FieldInfo) -> str:
    bounds = [
        f"{symbol} {getattr(rule, attribute)}"
        for rule in field.metadata
        for attribute, symbol in (("gt", ">"), ("ge", ">="), ("lt", "<"), ("le", "<="))
        if hasattr(rule, attribute)
    ]
    return ", ".join([_type_name(field.annotation), *bounds])


def _type_name(annotation: Any) -> str:
    args = [arg for arg in get_args(annotation) if arg is not type(None)]
    if get_origin(annotation) is Literal:
        return "one of " + ", ".join(f"`{arg}`" for arg in args)
    if get_origin(annotation) is list:
        return f"list of {_type_name(args[0])}s (JSON)"
    if args and len(args) < len(get_args(annotation)):  # X | None: unset is the default, not a type
        return _type_name(args[0])
    names = {SecretStr: "secret", Path: "path", str: "string", bool: "bool", int: "int", float: "float"}
    return names.get(annotation, getattr(annotation, "__name__", str(annotation)))


def _default_text(field: FieldInfo) -> str:
    value = field.get_default(call_default_factory=True, validated_data={})
    if value is None:
        return "unset"
    if isinstance(value, SecretStr) or _type_name(field.annotation) == "secret":
        return "(secret)"
    if isinstance(value, Path):  # found on each machine (project_root): see the description
        return "found at start"
    if isinstance(value, bool):
        return "`true`" if value else "`false`"
    if isinstance(value, list | dict):
        return f"`{json.dumps(value)}`"
    return f"`{value}`"
