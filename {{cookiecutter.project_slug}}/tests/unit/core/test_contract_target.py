"""`contract draft` reads the task from the target's values, says why, and stops rather than
guess; a binary target's classes are named in the contract as the data writes them."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd
import pytest
import yaml
from sklearn.datasets import load_breast_cancer, load_wine

from {{ cookiecutter.package_name }}.core.contract import Contract, parse_contract
from {{ cookiecutter.package_name }}.core.contract_derived import expectation_suite
from {{ cookiecutter.package_name }}.core.contract_draft import draft_contract
from {{ cookiecutter.package_name }}.core.contract_target import read_target
from {{ cookiecutter.package_name }}.errors import ContractError, DataError
from {{ cookiecutter.package_name }}.settings import ContractDraftSettings


def table(target: Iterable[object]) -> pd.DataFrame:
    """A small table around a target: an id, an event time and two features."""
    values = list(target)
    n = len(values)
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {
            "row_id": [f"r{i}" for i in range(n)],
            "event_time": pd.date_range("2026-01-01", periods=n, freq="h"),
            "size": rng.normal(10, 2, n),
            "colour": rng.choice(["red", "blue"], n),
            "y": values,
        }
    )


def cancer(target: str = "diagnosis") -> pd.DataFrame:
    """scikit-learn's breast cancer table with its target written as the words M and B."""
    frame: pd.DataFrame = load_breast_cancer(as_frame=True).frame
    frame[target] = frame.pop("target").map({0: "M", 1: "B"})
    return frame


def wine() -> pd.DataFrame:
    """scikit-learn's wine table: three classes, 0, 1 and 2 (59, 71 and 48 rows)."""
    frame: pd.DataFrame = load_wine(as_frame=True).frame
    return frame


def one_line(error: pytest.ExceptionInfo[DataError]) -> str:
    message = str(error.value)
    assert "\n" not in message
    return message


# --- binary classification ------------------------------------------------------------------------


def test_zero_one_target_is_binary_with_one_positive_and_no_labels() -> None:
    """A 0/1 target is binary classification; 1 is the positive class, as a contract without
    labels means, whichever class is rarer."""
    # Given a 0/1 target where 1 is the more common class
    frame = table([0, 1, 1, 1, 0, 1])

    # When its task is read
    reading = read_target(frame, "y")

    # Then it is binary, 1 positive, nothing named in the contract, and the reason says so
    assert (reading.task, reading.labels) == ("binary_classification", None)
    assert reading.reason == (
        "target 'y': 2 values (0 2, 1 4): binary classification, positive class 1 "
        "(as 0/1 targets have it; --positive to choose)"
    )


def test_boolean_target_is_binary_with_true_positive_and_no_labels() -> None:
    """Booleans are binary classification with true the positive class: a contract without
    labels, as today's demo contract."""
    # Given a boolean target
    frame = table([True, False, False, True, False])

    # When its task is read
    reading = read_target(frame, "y")

    # Then true is positive and no labels are needed
    assert (reading.task, reading.labels) == ("binary_classification", None)
    assert "2 values (False 3, True 2)" in reading.reason
    assert "positive class True" in reading.reason


def test_two_words_are_binary_with_the_rarer_the_positive_class() -> None:
    """A target written as two words is binary classification; the rarer word is the positive
    class, and the contract names both (negative, positive)."""
    # Given the breast cancer table, diagnosis written as B (357) and M (212)
    frame = cancer()

    # When its task is read
    reading = read_target(frame, "diagnosis")

    # Then M, the rarer, is the positive class, with the reason in one line
    assert (reading.task, reading.labels) == ("binary_classification", ("B", "M"))
    assert reading.reason == (
        "target 'diagnosis': 2 values (B 357, M 212): binary classification, positive class 'M' "
        "(the rarer; --positive to choose)"
    )


def test_a_categorical_column_counts_only_the_levels_rows_have() -> None:
    """A target read as a pandas categorical (as Parquet brings it) is read by its values: a
    level no row has is no class."""
    # Given words in a categorical column that also declares an unused level
    frame = table(pd.Categorical(["yes", "no", "no"], categories=["maybe", "no", "yes"]))

    # When its task is read
    reading = read_target(frame, "y")

    # Then it is binary in the two words the rows hold
    assert (reading.task, reading.labels) == ("binary_classification", ("no", "yes"))


def test_positive_chooses_the_positive_class() -> None:
    """`--positive` names the positive class, also the more common one."""
    # Given the breast cancer table with words
    frame = cancer()

    # When the positive class is chosen as B
    reading = read_target(frame, "diagnosis", positive="B")

    # Then B is positive and M negative
    assert reading.labels == ("M", "B")
    assert reading.reason.endswith("positive class 'B' (--positive)")


@pytest.mark.parametrize(
    ("values", "positive", "labels"),
    [
        ([0, 1, 1], "0", (1, 0)),
        ([True, False, False], "false", (True, False)),
        (["yes", "no", "no"], "no", ("yes", "no")),
    ],
    ids=["zero-one", "booleans", "words"],
)
def test_positive_names_labels_whatever_their_kind(
    values: list[object], positive: str, labels: tuple[object, ...]
) -> None:
    """0/1 or booleans with the other class positive need the labels in the contract; the
    class is matched as the command line writes it."""
    # Given a two-valued target / When the positive class is chosen
    reading = read_target(table(values), "y", positive=positive)

    # Then the contract names negative and positive as the data writes them
    assert reading.labels == labels
    assert [type(v) for v in reading.labels] == [type(v) for v in labels]


def test_positive_that_is_no_value_is_refused() -> None:
    """A positive class the target does not hold stops with the values it does hold."""
    # Given the words B and M / When the positive class is named in lower case
    with pytest.raises(DataError) as error:
        read_target(cancer(), "diagnosis", positive="m")

    # Then the error lists what there is
    assert one_line(error) == "--positive 'm' is not a value of target 'diagnosis' (values: B 357, M 212)"


def test_two_equally_common_words_ask_for_the_positive_class() -> None:
    """With no rarer class there is no default: the draft asks which one is positive."""
    # Given two words, as common as each other / When the task is read
    with pytest.raises(DataError) as error:
        read_target(table(["a", "b", "b", "a"]), "y")

    # Then it asks for --positive
    assert "name the positive class with --positive" in one_line(error)


def test_drafted_contract_names_the_labels_and_the_suite_allows_only_them() -> None:
    """The drafted contract holds the labels as written (yes/no stay words through YAML), and
    the suite derived from it allows exactly those target values."""
    # Given a target written as yes and no
    frame = table(["yes", "no", "no", "no"] * 5)

    # When a contract is drafted and read back from its YAML
    drafted = draft_contract(frame, "y", "row_id", "event_time")
    again = parse_contract(yaml.safe_load(drafted.to_yaml()))

    # Then the labels survive the round trip as text, and the suite allows only them
    assert again.labels == ("no", "yes") == drafted.labels
    assert again.hash == drafted.hash
    target_set = [
        e["kwargs"]["value_set"]
        for e in expectation_suite(again)["expectations"]
        if e["type"] == "expect_column_values_to_be_in_set" and e["kwargs"]["column"] == "y"
    ]
    assert target_set == [["no", "yes"]]


# --- multiclass: every class named, the most common first -----------------------------------------


def test_a_few_whole_numbers_are_multiclass_with_every_class_named() -> None:
    """Three integer classes read as multiclass: the contract names them, the most common first."""
    # Given the wine table (classes 0, 1 and 2) / When its task is read
    reading = read_target(wine(), "target")

    # Then multiclass, classes by frequency, with the reason in a line
    assert (reading.task, reading.labels) == ("multiclass_classification", (1, 0, 2))
    assert reading.reason == (
        "target 'target': 3 values (0 59, 1 71, 2 48): multiclass classification, classes in the contract's "
        "labels, the most common first"
    )


def test_a_few_words_are_multiclass_and_the_draft_writes_a_contract_that_trains() -> None:
    """Three words read as multiclass; the drafted contract names them and its suite allows
    exactly them."""
    # Given the wine classes written as words
    frame = wine()
    frame["class"] = frame.pop("target").map(lambda v: f"class_{v}")

    # When its task is read, and a contract drafted
    reading = read_target(frame, "class")
    drafted = draft_contract(frame, target="class", id_column=None, timestamp_column=None)

    # Then multiclass with the words as labels, the most common first, in the suite too
    assert (reading.task, reading.labels) == ("multiclass_classification", ("class_1", "class_0", "class_2"))
    assert (drafted.task, drafted.labels, drafted.n_classes) == ("multiclass_classification", reading.labels, 3)
    suite = expectation_suite(drafted)
    target_set = [
        e["kwargs"]["value_set"]
        for e in suite["expectations"]
        if e["type"] == "expect_column_values_to_be_in_set" and e["kwargs"]["column"] == "class"
    ]
    assert target_set == [["class_1", "class_0", "class_2"]]


def test_multiclass_can_be_asked_for_but_not_of_two_classes_nor_with_a_positive_class() -> None:
    """`--task multiclass_classification` of a two-class target, or `--positive` with more than
    two classes, stop with what to do instead."""
    # Given a binary target and a three-class one / When asked the wrong way / Then one line says why
    with pytest.raises(
        DataError, match=r"needs three or more classes of target 'diagnosis'.*use binary_classification"
    ):
        read_target(cancer(), "diagnosis", task="multiclass_classification")
    with pytest.raises(DataError, match="--positive names a class of a binary target; target 'target' is read as mul"):
        read_target(wine(), "target", positive="1")


# --- regression ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "values",
    [np.linspace(0.5, 99.5, 200), np.arange(200) * 3],
    ids=["numbers with fractions", "many whole numbers"],
)
def test_numbers_with_many_values_are_regression(values: np.ndarray) -> None:
    """Numbers with many distinct values read as regression; no labels."""
    # Given a numeric target with 200 distinct values / When its task is read
    reading = read_target(table(values), "y")

    # Then it is regression, with its range in the reason
    assert (reading.task, reading.labels) == ("regression", None)
    assert reading.reason.startswith("target 'y': 200 distinct numbers (")
    assert reading.reason.endswith("): regression")


# --- ambiguous: a one-line error asking for --task -------------------------------------------------


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (np.arange(100) % 20, "has 20 distinct whole numbers (0 to 19): more than contract_draft.max_classes (10)"),
        ([0.5, 1.5, 2.5, 0.5], "has 3 distinct numbers (0.5 to 2.5): too few to be sure of regression"),
        ([f"town {i}" for i in range(40)], "has 40 distinct text values (town 0 1, town 1 1,"),
        ([1] * 10, "has one value (1 10): no task can be read from it"),
        ([1, 0, None, 1, 0], "is missing in 1 of 5 rows: fill or drop them"),
    ],
    ids=["moderate whole numbers", "few numbers with fractions", "many words", "constant", "missing"],
)
def test_ambiguous_targets_stop_and_ask_for_the_task(values: Iterable[object], expected: str) -> None:
    """Where the values do not tell the task, the draft does not guess: one line, asking for --task."""
    # Given an ambiguous target / When its task is read
    with pytest.raises(DataError) as error:
        read_target(table(values), "y")

    # Then the error says what is ambiguous and asks for --task
    message = one_line(error)
    assert message.startswith("target 'y' ")
    assert expected in message
    assert "--task" in message


def test_the_class_limit_is_a_setting() -> None:
    """`contract_draft.max_classes` is where a few values stop being classes."""
    # Given five whole-number values, and the limit lowered to four
    frame = table([1, 2, 3, 4, 5] * 10)
    limits = ContractDraftSettings(max_classes=4, min_regression_values=5)

    # When read with the default and with the lowered limit
    default = read_target(frame, "y")
    reading = read_target(frame, "y", limits=limits)

    # Then five classes by default, and the lowered limit makes them regression
    assert (default.task, default.labels) == ("multiclass_classification", (1, 2, 3, 4, 5))
    assert reading.task == "regression"


# --- --task overrides ------------------------------------------------------------------------------


def test_task_overrides_the_reading() -> None:
    """`--task` decides where the values do not: ambiguous whole numbers as regression, a 0/1
    target with missing values as binary (the reason says which rows validation will refuse)."""
    # Given whole numbers with 20 values, and a 0/1 target with one missing value
    counts = table(np.arange(100) % 20)
    gaps = table([1, 0, None, 1, 0])

    # When the task is given
    regression = read_target(counts, "y", task="regression")
    binary = read_target(gaps, "y", task="binary_classification")

    # Then each is drafted as told, and says it was told
    assert regression.task == "regression"
    assert regression.reason.endswith("regression (--task)")
    assert (binary.task, binary.labels) == ("binary_classification", None)
    assert "binary classification (--task)" in binary.reason
    assert binary.reason.endswith("1 row without a target: validation refuses them until filled or dropped")


@pytest.mark.parametrize(
    ("task", "values", "expected"),
    [
        ("regression", ["a", "b", "c"], "regression needs numbers; target 'y' holds text (a 1, b 1, c 1)"),
        ("binary_classification", [1, 2, 3], "binary classification needs two values of target 'y'; it has 3"),
        ("classification", [0, 1], "--task must be one of binary_classification, multiclass_classification, "),
    ],
    ids=["regression on words", "binary on three values", "unknown task"],
)
def test_a_task_the_values_cannot_have_is_refused(task: str, values: list[object], expected: str) -> None:
    """`--task` cannot make words a regression or three values binary: one line says why."""
    # Given a target / When a task it cannot have is asked for
    with pytest.raises(DataError) as error:
        read_target(table(values), "y", task=task)

    # Then the error says why
    assert expected in one_line(error)


# --- the contract's labels -------------------------------------------------------------------------


def labelled(contract: Contract, labels: list[object]) -> Contract:
    return parse_contract({**contract.model_dump(mode="json"), "task": "binary_classification", "labels": labels})


def test_labels_map_to_zero_and_one_as_written_and_in_feedback(contract: Contract) -> None:
    """`label_code`: the labels as the data writes them (spaces around text, booleans as text,
    1.0 for 1); 0 and 1 too in feedback, where the labels are words; nothing else."""
    # Given contracts with words, with numbers and with swapped booleans
    words = labelled(contract, ["B", "M"])
    numbers = labelled(contract, [1, 2])
    swapped = labelled(contract, [True, False])

    # When values are mapped / Then each is its class, or None
    assert [words.label_code(v) for v in ("B", " M ", "m", 1, None)] == [0, 1, None, None, None]
    assert [words.label_code(v, codes=True) for v in ("M", 1, 0.0, "1", 2)] == [1, 1, 0, 1, None]
    assert [numbers.label_code(v, codes=True) for v in (1, 2.0, "2", np.int64(1), 0)] == [0, 1, 1, 0, None]
    assert [swapped.label_code(v, codes=True) for v in (True, "false", np.bool_(False), 1)] == [0, 1, 1, None]


def test_multiclass_labels_map_to_their_index() -> None:
    """A multiclass contract's classes are its labels in order; feedback may also send the
    index (0 to k-1) when the labels are words, never an index out of range."""
    # Given a three-class contract written as words
    kinds = Contract.model_validate(
        {
            "task": "multiclass_classification",
            "target": "kind",
            "labels": ["none", "card testing", "account takeover"],
            "features": [{"name": "amount", "type": "numeric"}],
        }
    )

    # When values are mapped / Then each is its class's index, or None
    assert (kinds.is_classification, kinds.is_multiclass, kinds.is_binary, kinds.n_classes) == (True, True, False, 3)
    assert [kinds.label_code(v) for v in ("none", " account takeover ", "Card testing", 2)] == [0, 2, None, None]
    assert [kinds.label_code(v, codes=True) for v in ("card testing", 2, "1", 3, 1.5, -1)] == [
        1,
        2,
        1,
        None,
        None,
        None,
    ]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"labels": ["B", "B "]}, "labels must be different classes, not 'B' twice"),
        ({"labels": ["B", " "]}, "labels must not be empty text"),
        ({"labels": ["B", "M", "X"]}, "labels of a binary target are two classes"),
        ({"labels": ["B", "M"], "task": "regression"}, "a regression target has none"),
        ({"labels": None, "task": "multiclass_classification"}, "names its three or more classes"),
        ({"labels": ["B", "M"], "task": "multiclass_classification"}, "names its three or more classes"),
        ({"labels": ["a", "b", "A", "a "], "task": "multiclass_classification"}, "not 'a' twice"),
    ],
    ids=["the same twice", "empty", "three", "regression", "multiclass unnamed", "multiclass of two", "repeated"],
)
def test_contract_refuses_labels_that_do_not_name_the_classes(
    contract: Contract, change: dict[str, object], expected: str
) -> None:
    """Labels are different, non-empty classes: two of a binary target, three or more (and
    required) of a multiclass one, none of a regression."""
    # Given a contract with bad labels / When it is parsed / Then it is refused with the reason
    raw = {**contract.model_dump(mode="json"), "task": "binary_classification", **change}
    with pytest.raises(ContractError, match=expected):
        parse_contract(raw)
