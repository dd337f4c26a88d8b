"""Behavioural tests of the trained model: invariances, directions, determinism and parity."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from {{ cookiecutter.package_name }}.core.contract import Contract
from {{ cookiecutter.package_name }}.errors import ParityError
from {{ cookiecutter.package_name }}.model.bundle import ModelBundle, load_bundle
from {{ cookiecutter.package_name }}.settings import ParitySettings
from {{ cookiecutter.package_name }}.stores import registry
from {{ cookiecutter.package_name }}.training import steps
from {{ cookiecutter.package_name }}.training.onnx_export import ensure_parity, parity_report
from tests.support.project import Trained, make_settings


@pytest.fixture(scope="module")
def bundle(trained: Trained, tmp_path_factory: pytest.TempPathFactory) -> ModelBundle:
    client = registry.connect(trained.settings)
    version = client.get_model_version(trained.settings.mlflow.registered_model_name, trained.version)
    return load_bundle(registry.download_bundle(client, version, tmp_path_factory.mktemp("bundle") / "b"))


def records(frame: pd.DataFrame) -> list[dict[str, object]]:
    return [{str(k): (None if pd.isna(v) else v) for k, v in row.items()} for row in frame.to_dict("records")]


def test_invariant_to_ids_case_whitespace_and_row_order(bundle: ModelBundle, trained: Trained) -> None:
    """The score depends on the features only: not on the id, the spelling of a category,
    or the other rows in the batch."""
    # Given holdout records
    rows = records(trained.holdout.head(300))

    # When ids change, categories are re-cased and padded, and the batch is reversed
    messy = [
        {
            **r,
            "transaction_id": f"other-{i}",
            "channel": f"  {str(r['channel']).upper()} ",
            "merchant_category": str(r["merchant_category"]).title(),
        }
        for i, r in enumerate(rows)
    ]
    base = bundle.score_records(rows)
    varied = bundle.score_records(messy[::-1])[::-1]

    # Then every score is unchanged
    np.testing.assert_allclose(varied, base, rtol=0, atol=1e-7)


{% if cookiecutter.problem_type == "binary_classification" -%}
def test_more_risk_means_higher_scores(bundle: ModelBundle, trained: Trained) -> None:
    """Directional: card-not-present traffic from riskier devices and brand-new accounts
    scores higher on average, as fraud does in the data."""
    # Given online holdout transactions
    online = trained.holdout[trained.holdout["channel"] == "online"].head(500)

    # When the device risk rises and the account becomes new
    riskier = online.assign(
        device_risk_score=np.minimum(online["device_risk_score"].fillna(0.2) + 0.4, 1.0),
        account_age_days=5.0,
        amount_to_avg_ratio=np.nan,
    )
    before, after = bundle.score_frame(online), bundle.score_frame(riskier)

    # Then scores rise on average and for most rows
    assert after.mean() > 2 * before.mean()
    assert (after >= before).mean() > 0.8
{%- elif cookiecutter.problem_type == "multiclass_classification" -%}
def test_riskier_devices_on_new_accounts_mean_account_takeover(
    bundle: ModelBundle, trained: Trained, contract: Contract
) -> None:
    """Directional: card-not-present traffic from riskier devices and brand-new accounts is
    more likely an account takeover, and less likely no fraud, as in the data."""
    # Given online holdout transactions, and the classes' places in the model's answers
    online = trained.holdout[trained.holdout["channel"] == "online"].head(500)
    takeover, none = contract.class_labels.index("account_takeover"), 0

    # When the device risk rises and the account becomes new
    riskier = online.assign(
        device_risk_score=np.minimum(online["device_risk_score"].fillna(0.2) + 0.4, 1.0),
        account_age_days=5.0,
        amount_to_avg_ratio=np.nan,
    )
    before, after = bundle.score_frame(online), bundle.score_frame(riskier)

    # Then account takeover grows more likely on average and for most rows, no fraud less
    assert after[:, takeover].mean() > 2 * before[:, takeover].mean()
    assert (after[:, takeover] >= before[:, takeover]).mean() > 0.8
    assert after[:, none].mean() < before[:, none].mean()
{%- else -%}
def test_international_transactions_settle_later(bundle: ModelBundle, trained: Trained) -> None:
    """Directional: the same transactions made abroad are predicted to settle later."""
    # Given domestic holdout transactions
    domestic = trained.holdout[~trained.holdout["is_international"].astype(bool)].head(500)

    # When they become international
    abroad = domestic.assign(is_international=True)
    before, after = bundle.score_frame(domestic), bundle.score_frame(abroad)

    # Then predicted settlement times grow for most rows
    assert after.mean() > before.mean() + 10
    assert (after > before).mean() > 0.9
{%- endif %}


def test_training_is_deterministic(
    tmp_path_factory: pytest.TempPathFactory, demo: pd.DataFrame, contract: Contract
) -> None:
    """Two trainings on the same data give identical predictions (seeded, fixed threads)."""
    # Given the same data and settings twice
    settings = make_settings(tmp_path_factory.mktemp("determinism"))
    data = steps.split(demo, contract, settings)

    # When trained twice
    first, encoding = steps.fit(data, contract, settings)
    second, _ = steps.fit(data, contract, settings)
    matrix = encoding.transform(data.holdout)

    # Then the models and their predictions are identical
    assert first.model_to_string() == second.model_to_string()
    np.testing.assert_array_equal(first.predict(matrix), second.predict(matrix))


def test_parity_gate_catches_a_broken_export(trained: Trained) -> None:
    """A wrong export (here: scores from shuffled rows) fails the parity check with a reason."""
    # Given reference scores and an export that scrambles them
    reference = trained.evaluation.holdout_scores
    broken = np.random.default_rng(0).permutation(reference)

    # When parity is judged
    report = parity_report(reference, broken, trained.evaluation.threshold, ParitySettings())

    # Then it fails, and the pipeline step would raise
    assert not report.passed
    assert "differ" in report.reason
    with pytest.raises(ParityError, match="parity check failed"):
        ensure_parity(report)


def test_parity_within_float32_noise_passes(trained: Trained) -> None:
    """float32 rounding (~1e-7) is well inside tolerance."""
    # Given scores rounded through float32
    reference = trained.evaluation.holdout_scores
    exported = reference.astype(np.float32).astype(float)

    # When parity is judged / Then it passes with full agreement
    report = parity_report(reference, exported, trained.evaluation.threshold, ParitySettings())
    assert report.passed
    assert report.max_abs_diff < 1e-6 * max(1.0, float(np.abs(reference).max()))  # float32: ~7 digits
