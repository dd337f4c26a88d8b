"""The demo's closing summary reads whole in an 80-column terminal and in a log file, and tells
each challenger's replay."""

from __future__ import annotations

from {{ cookiecutter.package_name }}.demo.outcome import (
    SUMMARY_TITLE,
    VERSIONS_TITLE,
    Catch,
    DayRecord,
    Outcome,
    _canaried,
    _replayed,
    summary_text,
    versions_text,
)

EVIDENCE = (
    "v4 worse on account_type=business: average_precision 0.2314 vs 0.4521 (n=1204, tolerance 5%); "
    "worse on channel=pos: average_precision 0.3012 vs 0.3877 (n=2846)"
)


def outcome_of(*catches: Catch) -> Outcome:
    return Outcome(catches=list(catches), versions={}, alerts_delivered=0, report_path=None, days=[])


def caught(title: str, evidence: str = EVIDENCE) -> Catch:
    return Catch(
        incident="biased_challenger",
        title=title,
        started=6,
        caught=9,
        component="shadow evaluation",
        expected_component="shadow evaluation",
        evidence=evidence,
        action="challenger rejected; the champion keeps serving",
    )


def test_each_incident_is_a_block_whose_lines_fit_and_whose_words_stay_whole() -> None:
    """At 80 columns every line fits, and each field's words come back whole and in order
    (a table's narrow columns cut `account_type` in two)."""
    # Given an outcome whose evidence is longer than a line
    outcome = outcome_of(caught("A challenger learned a label bug"), caught("Upstream added a column", "new column x"))

    # When the summary is written for an 80-column terminal
    text = summary_text(outcome, width=80)
    lines = text.splitlines()

    # Then it opens with its title, numbers each incident with its mark, and no line passes 80
    assert lines[0] == SUMMARY_TITLE
    assert "✓ 1. A challenger learned a label bug" in lines
    assert "✓ 2. Upstream added a column" in lines
    assert max(len(line) for line in lines) <= 80
    # And the evidence, joined back from its wrapped lines, is the evidence word for word
    start = next(i for i, line in enumerate(lines) if line.startswith("  evidence"))
    end = next(i for i, line in enumerate(lines) if line.startswith("  action"))
    assert " ".join(" ".join(lines[start:end]).split()[1:]) == " ".join(EVIDENCE.split())
    assert "  when     started day 6, caught day 9" in lines
    assert "  by       shadow evaluation" in lines


def test_a_missed_incident_says_so_and_names_what_should_have_caught_it() -> None:
    """A missed incident is marked in words (no colour reaches a log file) with the component
    that was expected to catch it."""
    # Given an incident nothing caught
    missed = Catch("schema_drift", "Upstream added a column", 3, None, None, "schema drift", "", "")

    # When the summary is written
    text = summary_text(outcome_of(missed))

    # Then its block says it was missed, never caught, and what was expected
    assert "✗ MISSED 1. Upstream added a column" in text
    assert "started day 3, caught never" in text
    assert "nothing (expected: schema drift)" in text


def test_a_word_longer_than_the_line_stays_whole() -> None:
    """A name longer than the terminal is wide is kept whole on its own line, never cut."""
    # Given evidence holding one very long segment name
    name = "merchant_category_code=" + "x" * 90
    # When the summary is written at 60 columns
    text = summary_text(outcome_of(caught("Drift", f"worse on {name} only")), width=60)
    # Then the name appears unbroken
    assert name in text


def test_a_challengers_replay_is_told_with_the_day_it_ran_and_why_it_was_worse() -> None:
    """The evidence names the day the version was registered (and replayed), the verdict, and
    for a worse verdict its reason; a version without a verdict reads "not replayed"."""
    # Given the registry's story of three challengers and the days that registered them
    story = {
        "2": {"replay": "worse", "replay_reason": "worse on card_type=prepaid: average_precision 0.31 vs 0.52"},
        "3": {"replay": "not enough evidence", "replay_reason": "too few labelled requests"},
        "4": {"replay": ""},
    }
    days = [
        DayRecord(day=5, date="2026-12-01", registered=["2"]),
        DayRecord(day=9, date="2026-12-05", registered=["3"]),
    ]

    # When each is told / Then the day, the verdict and (for worse) the reason are there
    assert _replayed(story, days, "2") == (
        "replayed on day 5 on the logged traffic: worse (worse on card_type=prepaid: average_precision 0.31 vs 0.52)"
    )
    assert _replayed(story, days, "3") == "replayed on day 9 on the logged traffic: not enough evidence"
    assert _replayed(story, days, "4") == "not replayed"


def test_each_version_is_one_wrapped_block_with_its_replay_and_shadow_verdicts() -> None:
    """The versions list tells each version's trigger, gate, replay and shadow verdicts, one
    block per version, every line within 80 columns (one long line of all versions ran past
    the terminal and left replay out)."""
    # Given the registry's story of a first version, a refused retraining and two challengers
    story = {
        "1": {"trigger": "", "gate": "passed", "replay": "", "shadow": ""},
        "2": {"trigger": "degradation", "gate": "failed", "replay": "", "shadow": ""},
        "3": {"trigger": "scheduled", "gate": "passed", "replay": "worse", "shadow": ""},
        "4": {
            "trigger": "retrain after the label pipeline repair",
            "gate": "passed",
            "replay": "better",
            "shadow": "promote",
        },
    }
    outcome = Outcome(catches=[], versions=story, alerts_delivered=0, report_path=None, days=[])

    # When the list is written for a 40-column terminal
    lines = versions_text(outcome, width=40).splitlines()

    # Then it has its title, no line passes 40 columns, and each version's verdicts are there
    assert lines[0] == VERSIONS_TITLE
    assert max(len(line) for line in lines) <= 40
    text = " ".join(" ".join(lines).split())
    assert "v1: trained: first training; gate: passed v2:" in text
    assert "v3: trained: scheduled; gate: passed; replay: worse v4:" in text
    assert text.endswith(
        "v4: trained: retrain after the label pipeline repair; gate: passed; replay: better; shadow: promote"
    )


def test_a_canary_is_told_with_its_start_its_share_of_the_answers_and_its_verdict() -> None:
    """The better challenger's evidence tells the day its canary started, the records it
    answered beside the champion while it ran, and its guards' verdict; a version without a
    canary adds nothing."""
    # Given a canary started on day 12 that answered a quarter of day 13's records
    story = {"4": {"canary": "complete", "canary_reason": "no guard breached"}}
    days = [
        DayRecord(day=12, date="2026-12-04", canary_started="4", answered_by={"1": 8000}),
        DayRecord(day=13, date="2026-12-05", answered_by={"1": 6000, "4": 2000}, promoted="4"),
        DayRecord(day=14, date="2026-12-06", answered_by={"4": 8000}),
    ]

    # When told / Then
    assert _canaried(story, days, "4") == (
        "; as the canary from day 12, answered 2,000 of 8,000 records (25.0%); its guards: complete (no guard breached)"
    )
    assert _canaried(story, days, "3") == ""
