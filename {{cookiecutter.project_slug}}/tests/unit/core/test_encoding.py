"""The feature encoding shared by training and serving."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from {{ cookiecutter.package_name }}.core.contract import Contract
from {{ cookiecutter.package_name }}.core.encoding import Encoding, fit_encoding
from {{ cookiecutter.package_name }}.serving.edge import Edge


def test_frame_and_record_encodings_agree(contract: Contract, demo: pd.DataFrame) -> None:
    """Batch (DataFrame) and service (records) paths give the same matrix, NaNs included."""
    # Given an encoding fitted on the demo data
    encoding = fit_encoding(demo, contract, max_levels=256)
    sample = demo.head(200)

    # When the same rows are encoded both ways
    from_frame = encoding.transform(sample)
    records = [{str(k): (None if pd.isna(v) else v) for k, v in row.items()} for row in sample.to_dict("records")]
    from_records = encoding.transform_records(records)

    # Then the matrices are identical
    np.testing.assert_array_equal(from_frame, from_records)
    assert from_frame.dtype == np.float32


def test_the_services_checked_columns_encode_as_their_records(contract: Contract, demo: pd.DataFrame) -> None:
    """The service's path (the edge's normalised columns, not cleaned twice) gives the records' matrix."""
    # Given records with odd spellings and nulls, and the columns the edge makes of them
    encoding = fit_encoding(demo, contract, max_levels=256)
    rows = demo.head(50).to_dict("records")
    records = [{name: (None if pd.isna(row[name]) else row[name]) for name in contract.feature_names} for row in rows]
    records[0]["channel"], records[1]["card_type"], records[2]["customer_age"] = "  ONLINE ", "Gold", None
    checked = Edge(contract, max_records=100).check(records)

    # When both are encoded
    from_records = encoding.transform_records(records)
    from_columns = encoding.transform_columns(checked.columns, len(checked), normalized=True)

    # Then the matrices are identical, and a feature missing from the columns reads as missing
    np.testing.assert_array_equal(from_records, from_columns)
    without = encoding.transform_columns({k: v for k, v in checked.columns.items() if k != "amount"}, len(checked))
    assert np.isnan(without[:, encoding.features.index("amount")]).all()


def test_unseen_and_oddly_written_categories(contract: Contract, demo: pd.DataFrame) -> None:
    """Unseen categories and nulls become NaN (the model's "missing" branch); case and
    stray whitespace are normalised where the contract says so."""
    # Given an encoding and a record with an odd spelling, an unseen value and a null
    encoding = fit_encoding(demo, contract, max_levels=256)
    base = {str(k): (None if pd.isna(v) else v) for k, v in demo.iloc[0].items()}
    column = encoding.features.index("channel")

    # When each variant is encoded
    odd = encoding.transform_records([{**base, "channel": "  ONLINE "}])[0, column]
    clean = encoding.transform_records([{**base, "channel": "online"}])[0, column]
    unseen = encoding.transform_records([{**base, "channel": "teleport"}])[0, column]
    null = encoding.transform_records([{**base, "channel": None}])[0, column]

    # Then normalised spellings share a code and the rest are missing
    assert odd == clean
    assert math.isnan(unseen)
    assert math.isnan(null)


def test_high_cardinality_keeps_the_most_frequent_levels(contract: Contract, demo: pd.DataFrame) -> None:
    """An open categorical keeps its max_levels most frequent values, deterministically."""
    # Given a small level budget
    # When the encoding is fitted twice
    first = fit_encoding(demo, contract, max_levels=10)
    second = fit_encoding(demo.sample(frac=1.0, random_state=1), contract, max_levels=10)

    # Then the kept merchants are the ten most frequent, in the same order both times
    top = demo["merchant_id"].value_counts().head(10).index
    assert set(first.levels["merchant_id"]) == set(top)
    assert first.levels["merchant_id"] == second.levels["merchant_id"]


def test_encoding_round_trips_through_json(contract: Contract, demo: pd.DataFrame) -> None:
    """The encoding is stored as JSON with the model and comes back identical."""
    # Given a fitted encoding
    encoding = fit_encoding(demo, contract, max_levels=256)

    # When it is written and read back
    restored = Encoding.from_dict(encoding.to_dict())

    # Then it encodes identically
    np.testing.assert_array_equal(restored.transform(demo.head(50)), encoding.transform(demo.head(50)))
