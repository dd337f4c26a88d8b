"""Typed settings, read from the environment (and an optional `.env` file).

Every knob of the project lives here with an embedded default that works on a
laptop: SQLite for MLflow and the prediction log, artifacts in `var/` inside the
project. Production moves each default by setting an environment variable, e.g.
`{{ cookiecutter.package_name | upper }}_MLFLOW__TRACKING_URI=postgresql://...`. Secrets are `SecretStr`, so
they never print in logs, flow parameters or artifacts.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

ENV_PREFIX = "{{ cookiecutter.package_name | upper }}_"


def _find_project_root() -> Path:
    """The folder holding `contract.yaml`: the checkout for an editable install.

    An installed wheel (a container) has no such parent; there the working
    directory counts, or the `{{ cookiecutter.package_name | upper }}_PROJECT_ROOT` variable when set.
    """
    for parent in Path(__file__).resolve().parents:
        if (parent / "contract.yaml").is_file():
            return parent
    return Path.cwd()


class MlflowSettings(BaseModel):
    """Where models are tracked and registered."""

    tracking_uri: str | None = Field(default=None, description="MLflow tracking/registry URI; default: SQLite in var/.")
    artifact_location: str | None = Field(
        default=None, description="Experiment artifact root; default: var/mlartifacts."
    )
    experiment_name: str = "{{ cookiecutter.project_slug }}"
    registered_model_name: str = "{{ cookiecutter.project_slug }}"


class TrainingSettings(BaseModel):
    """How the model is trained and split. Defaults suit 10k-1M rows."""

    seed: int = 42
    holdout_fraction: float = Field(0.2, gt=0, lt=0.5, description="Most recent share kept for evaluation.")
    validation_fraction: float = Field(
        0.15, gt=0, lt=0.5, description="Share before the holdout, for early stopping and the threshold."
    )
    num_boost_round: int = Field(400, ge=1)
    early_stopping_rounds: int = Field(40, ge=1)
    learning_rate: float = Field(0.05, gt=0, le=1)
    num_leaves: int = Field(31, ge=2)
    min_data_in_leaf: int = Field(50, ge=1)
    feature_fraction: float = Field(0.9, gt=0, le=1)
    lambda_l2: float = Field(1.0, ge=0)
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
            "distorting scores as much as full balancing; the decision threshold does the rest."
        ),
    )
    threshold_strategy: Literal["max_f1", "fixed"] = "max_f1"
    fixed_threshold: float = Field(0.5, gt=0, lt=1)
    onnx_opset: int = Field(15, ge=9, le=15, description="onnxmltools 1.16 refuses opsets above 15.")


class ParitySettings(BaseModel):
    """How closely the ONNX model must reproduce LightGBM on the holdout.

    float32 thresholds in the ONNX graph move scores by ~1e-7; a score gap
    above 1e-4 means the export is wrong (encoding, feature order), not noise.
    """

    max_abs_diff: float = Field(1e-4, gt=0)
    regression_rel_diff: float = Field(1e-5, gt=0, description="Regression: also allowed relative to |prediction|.")
    min_decision_agreement: float = Field(0.999, gt=0, le=1)


class GateSettings(BaseModel):
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
    max_rmse: float | None = Field(None, gt=0, description="Regression: absolute ceiling (unset: none).")
    min_r2: float = Field(0.2, le=1)
    champion_tolerance: float = Field(
        0.0, ge=0, description="How much worse than the champion on the same holdout a challenger may be."
    )


class DriftSettings(BaseModel):
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


class ServiceSettings(BaseModel):
    """How the BentoML service runs: processes, limits, authentication, model reload, shadow."""

    host: str = Field(default="127.0.0.1", description="Where `serve` listens; a container listens on 0.0.0.0.")
    port: int = Field(default=3000, ge=1, le=65535)
    workers: int = Field(default=1, ge=1, description="Server processes; each loads the models and polls the registry.")
    api_key: SecretStr | None = Field(
        default=None,
        description="When set, /predict, /feedback, /metadata and /reload need it (X-API-Key or Bearer token).",
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
    metrics: bool = Field(default=True, description="BentoML's Prometheus /metrics.")
    tracing: bool = Field(
        default=False, description="BentoML's OpenTelemetry middleware on the API routes (exporter: BENTOML_CONFIG)."
    )


class PredictionLogSettings(BaseModel):
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


class RetrainingSettings(BaseModel):
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


class ShadowEvaluationSettings(BaseModel):
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
        description="Classification: positives among them too; average precision on fewer is mostly noise.",
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
        default=10, ge=1, description="Classification: ... and this many positives among them."
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


class MonitoringSettings(BaseModel):
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


class AlertSettings(BaseModel):
    """Where alerts go and how often. Every alert is stored in the history tables, sent or not."""

    channel: Literal["none", "slack", "webhook", "email"] = Field(
        default="{{ cookiecutter.alert_channel }}",
        description="none: history and the report only; slack, webhook or email: also a message.",
    )
    block_name: str | None = Field(
        default=None,
        description=(
            "A saved Prefect block to deliver through instead of the settings below: a Slack Webhook or Custom "
            "Webhook notification block, or prefect-email's Email Server Credentials (needs the Prefect API)."
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
    subject_prefix: str = "[{{ cookiecutter.project_slug }}]"
    timeout_s: float = Field(default=10.0, gt=0, description="Per delivery attempt (HTTP or SMTP).")
    slack_webhook_url: SecretStr | None = Field(default=None, description="Slack incoming-webhook URL (channel slack).")
    webhook_url: SecretStr | None = Field(default=None, description="URL that receives a JSON POST (channel webhook).")
    webhook_token: SecretStr | None = Field(default=None, description="Sent as `Authorization: Bearer ...` when set.")
    smtp_host: str = Field(default="localhost", description="SMTP server (channel email).")
    smtp_port: int | None = Field(default=None, ge=1, le=65535, description="Default: the security mode's port.")
    smtp_security: Literal["SSL", "STARTTLS", "INSECURE"] = Field(
        default="STARTTLS", description="INSECURE (plain SMTP) only for a relay on a trusted network."
    )
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    email_from: str | None = Field(default=None, description="Sender; default: the SMTP username.")
    email_to: list[str] = Field(default_factory=list, description="Recipients (a JSON list in the environment).")


class RetrainRuleSettings(BaseModel):
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


class Settings(BaseSettings):
    """All settings. Nested groups read `PREFIX_GROUP__FIELD`."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        env_file=".env",
        extra="ignore",
    )

    project_root: Path = Field(default_factory=_find_project_root)
    state_dir: Path | None = Field(
        None, description="Where run-time state goes (databases, artifacts, reports); default: var/ in the project."
    )
    contract_path: Path | None = Field(None, description="Default: contract.yaml in the project root.")
    data_path: Path | None = Field(
        None, description="Training data (CSV or Parquet). Unset: the built-in demo data set."
    )
    demo_rows: int = Field(60_000, ge=1_000, description="Rows of demo data when no data_path is set.")
    demo_days: int = Field(90, ge=7)

    mlflow: MlflowSettings = MlflowSettings()
    training: TrainingSettings = TrainingSettings()
    parity: ParitySettings = ParitySettings()
    gate: GateSettings = GateSettings()
    service: ServiceSettings = ServiceSettings()
    prediction_log: PredictionLogSettings = PredictionLogSettings()
    drift: DriftSettings = DriftSettings()
    monitoring: MonitoringSettings = MonitoringSettings()
    alerts: AlertSettings = AlertSettings()
    retrain_rules: RetrainRuleSettings = RetrainRuleSettings()
    retraining: RetrainingSettings = RetrainingSettings()
    shadow_evaluation: ShadowEvaluationSettings = ShadowEvaluationSettings()

    @model_validator(mode="after")
    def _resolve_paths(self) -> Settings:
        self.project_root = self.project_root.resolve()
        if self.contract_path is None:
            self.contract_path = self.project_root / "contract.yaml"
        elif not self.contract_path.is_absolute():
            self.contract_path = self.project_root / self.contract_path
        if self.data_path is not None and not self.data_path.is_absolute():
            self.data_path = self.project_root / self.data_path
        return self

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
    """The process-wide settings; tests call `get_settings.cache_clear()` after changing the environment."""
    return Settings()


def secret_value(secret: SecretStr | None) -> str | None:
    return secret.get_secret_value() if secret is not None else None
