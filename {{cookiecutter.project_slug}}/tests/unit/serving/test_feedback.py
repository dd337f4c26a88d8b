"""Labels sent to /feedback: read whole or refused whole, and kept as the log keeps them."""

from __future__ import annotations

import pytest

from {{ cookiecutter.package_name }}.core.contract import Contract
from {{ cookiecutter.package_name }}.serving.edge import Rejected
from {{ cookiecutter.package_name }}.serving.feedback import Labels


def test_one_label_or_a_list_is_read(contract: Contract) -> None:
    """A single label object and a list of them are the same request."""
    # Given the project's labels reader
    labels = Labels(contract, max_records=10)

    # When one label and a list of one are read
    one = labels.parse({"request_id": "a", "label": 1})
    listed = labels.parse([{"request_id": "a", "label": 1}])

    # Then both hold the same label
    assert [item.request_id for item in one] == [item.request_id for item in listed] == ["a"]


@pytest.mark.parametrize(
    ("body", "status", "says"),
    [
        ([], 400, "non-empty list"),
        ("1", 400, "non-empty list"),
        ([{"request_id": "a"}], 400, "problem(s) in the labels"),
        ([{"request_id": str(i), "label": 0} for i in range(11)], 413, "the limit is 10"),
    ],
)
def test_a_bad_body_is_refused_whole_with_the_reason(contract: Contract, body: object, status: int, says: str) -> None:
    """An empty body, a label without its value or too many labels: the request is refused
    with its status and a reason, nothing is taken from it."""
    with pytest.raises(Rejected) as refused:
        Labels(contract, max_records=10).parse(body)
    assert refused.value.status == status
    assert says in refused.value.error


def test_classification_labels_are_zero_or_one_and_others_are_named(contract: Contract) -> None:
    """For a 0/1 target the log keeps 0.0 and 1.0; a label that is neither is named by its place.
    A multiclass target takes its classes (here: as their indexes 0 and 1) and names them when refusing."""
    labels = Labels(contract, max_records=10)
    if not contract.is_classification:
        pytest.skip("the project predicts a number: every number is a label")
    assert labels.values(labels.parse([{"request_id": "a", "label": 1}, {"request_id": "b", "label": 0}])) == [1.0, 0.0]
    with pytest.raises(Rejected) as refused:
        labels.values(labels.parse([{"request_id": "a", "label": 1}, {"request_id": "b", "label": 0.5}]))
    if contract.labels is None:
        assert refused.value.error == "1 label(s) are neither 0 nor 1"
    else:  # the demo's multiclass contract: its classes are words
        classes = ", ".join(f'"{label}"' for label in contract.class_labels)
        assert refused.value.error == f"1 label(s) are none of {classes} (or 0 to {contract.n_classes - 1})"
    assert refused.value.problems[0].where == "labels[1].label"
