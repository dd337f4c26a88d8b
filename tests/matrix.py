"""The option matrix, in the manner of cookiecutter-data-science's tests.

Every combination of the options that change what is built is baked; pairs
that make no sense are filtered in one place (`invalid`); cosmetic options (names,
descriptions, schedules) are cycled through the combinations so each variant is
baked somewhere without multiplying the matrix.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from bake import TEMPLATE

CHOICES = json.loads((TEMPLATE / "cookiecutter.json").read_text(encoding="utf-8"))

# Options whose answer changes the files, the code or the toolchain of a bake.
BUILD_OPTIONS = ("problem_type", "alert_channel", "ci", "python_version", "license")

# Names with spaces, capitals, quotes and non-ASCII; schedules in other valid cron forms.
COSMETIC: tuple[dict[str, str], ...] = (
    {},
    {
        "project_name": "Churn Model",
        "description": 'Predicts "churn" & who\'s next',
        "author_name": "Zoë O'Brien",
        "author_email": "zoe@example.org",
        "retrain_cron": "30 2 * * 0",
        "monitor_cron": "*/30 * * * *",
    },
    {
        "project_name": "credit risk v2",
        "package_name": "creditrisk",
        "description": "Scores credit applications.",
        "retrain_cron": "0 4 1,15 jan-dec *",
        "monitor_cron": "15 5 * * mon-fri",
    },
)


@dataclass(frozen=True)
class Combination:
    answers: dict[str, str]

    @property
    def id(self) -> str:
        a = self.answers
        kind = {"binary_classification": "clf", "multiclass_classification": "multi", "regression": "reg"}[
            a["problem_type"]
        ]
        name = a.get("project_name", "default")
        return f"{kind}-{a['alert_channel']}-ci_{a['ci']}-py{a['python_version']}-{a['license']}-{name}"

    def __getitem__(self, option: str) -> str:
        return self.answers.get(option) or str(_default(option))


def _default(option: str) -> object:
    value = CHOICES[option]
    return value[0] if isinstance(value, list) else value


def invalid(answers: dict[str, str]) -> str | None:
    """Why a combination must not be baked, or None. The single place for such rules.

    None today: every option is independent. A future rule belongs here, e.g. an
    alert channel that needs a CI secret store the chosen CI lacks.
    """
    del answers
    return None


def combinations() -> Iterator[Combination]:
    values = [CHOICES[option] for option in BUILD_OPTIONS]
    valid = (dict(zip(BUILD_OPTIONS, combo, strict=True)) for combo in itertools.product(*values))
    for index, answers in enumerate(a for a in valid if invalid(a) is None):
        yield Combination({**answers, **COSMETIC[index % len(COSMETIC)]})


def representatives() -> list[Combination]:
    """One bake per problem type and alert channel (the options that change code), with
    the CI system, Python version, license and cosmetics cycled across them."""
    chosen = []
    for index, (problem, channel) in enumerate(itertools.product(CHOICES["problem_type"], CHOICES["alert_channel"])):
        if (problem, channel) == (CHOICES["problem_type"][0], CHOICES["alert_channel"][0]):
            continue  # the default bake runs everything in its own test
        chosen.append(
            Combination(
                {
                    "problem_type": problem,
                    "alert_channel": channel,
                    # By thirds: cycled by `index` as the Python version is, the CI system
                    # would always meet the same version (three of each), and 3.13's CI
                    # files (and 3.11's GitLab job) would never be baked and checked.
                    "ci": CHOICES["ci"][index // len(CHOICES["python_version"]) % len(CHOICES["ci"])],
                    "python_version": CHOICES["python_version"][index % len(CHOICES["python_version"])],
                    "license": CHOICES["license"][index % len(CHOICES["license"])],
                    **COSMETIC[index % len(COSMETIC)],
                }
            )
        )
    return chosen


# The tests whose outcome the alert channel, the CI system, the license and the cosmetic
# answers can change: the channel is one setting's default (alerts, settings), the names reach
# the CLI's and the alerts' text, the CI files and the license are checked in tests/project.
ANSWER_TESTS = (
    "tests/project",
    "tests/unit/test_settings.py",
    "tests/unit/monitoring/test_alerts.py",
    "tests/unit/cli",
    "tests/integration/test_cli.py",
)


def whole_fast_suites() -> list[Combination]:
    """The representative bakes that run all their fast tests; the rest run `ANSWER_TESTS`.

    The problem type and the Python version change what the fast tests exercise; the other
    answers do not (ruff and mypy still check every bake whole). So every problem type and every
    Python version runs the whole fast suite at least once, the default bake covering its own
    pair: chosen greedily, the bake that brings the most of them not yet covered first (two
    bakes cover three problem types and three Pythons). A whole suite takes 4-10 minutes in CI;
    one per (problem type, Python) pair, eight of them, would be most of `make test`'s hour."""
    default = Combination({})
    wanted = {("problem", c["problem_type"]) for c in representatives()}
    wanted |= {("python", c["python_version"]) for c in representatives()}
    wanted -= {("problem", default["problem_type"]), ("python", default["python_version"])}
    chosen: list[Combination] = []
    while wanted:
        best = max(representatives(), key=lambda c: len(wanted & _covers(c)))  # ties: the first
        chosen.append(best)
        wanted -= _covers(best)
    return chosen


def _covers(combo: Combination) -> set[tuple[str, str]]:
    return {("problem", combo["problem_type"]), ("python", combo["python_version"])}


def runs_whole_fast_suite(combo: Combination) -> bool:
    """Whether a representative bake runs all its fast tests (see `whole_fast_suites`)."""
    if combo not in representatives():
        raise ValueError(f"{combo.id} is not a representative bake")
    return combo in whole_fast_suites()


# `make test` runs in two processes (pytest-xdist, `--dist loadgroup`) and the long tests are
# laid out by hand in two lanes (xdist groups), because xdist hands each group to one process
# whole and a third group would land beside one of the two long ones. The bakes of one Python
# version stay in one lane: they share an environment and a mypy cache that the lane builds once.
#   lane a: the default bake's whole suite (without the demo's outcome tests, which judge
#           `make demo`'s run in lane b), the benchmarks' smoke tests (they reuse its
#           environment), the multiclass long suite, the Python 3.11 representative bakes;
#   lane b: `make demo` with those outcome tests, the regression long suite, the 3.12 and
#           3.13 representative bakes.
LANES = {"3.11": "lane-a", "3.12": "lane-b", "3.13": "lane-b"}


def lane(python_version: str) -> pytest.MarkDecorator:
    """The xdist group of the lane that runs the bakes of `python_version`."""
    return pytest.mark.xdist_group(LANES[python_version])


DEFAULT_BAKE_LANE = lane("3.11")  # the default bake runs on 3.11 (test_baked_project)
DEMO_LANE = lane("3.12")

# The baked tests that run the whole demo and judge its outcome: `tests/test_demo.py` runs them
# against `make demo`'s run (the same demo, so run once), and the default bake's suite leaves
# them out.
DEMO_OUTCOME_TESTS = "tests/e2e/test_demo.py"
