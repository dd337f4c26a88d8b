"""`make demo`, exactly as the README gives it: the default project is baked and its
whole lifecycle replayed; the recorded outcome must show every incident caught by the
component that should catch it, the wrong challenger rejected and the right one promoted."""

from __future__ import annotations

import json
import subprocess

import pytest

from bake import TEMPLATE, baked_env, run
from tests.matrix import DEMO_LANE, DEMO_OUTCOME_TESTS

pytestmark = [pytest.mark.slow, DEMO_LANE]
PROJECT = TEMPLATE / "build" / "demo" / "fraud-detection"
OUTCOME = PROJECT / "var" / "demo" / "outcome.json"


# Fake secrets the demo is given, as a team gives its own (the service then asks every request
# for a key, the alerts carry a token); none may be found in anything the demo wrote or printed.
SECRETS = {
    "FRAUD_DETECTION_SERVICE__API_KEYS": '["sekret-demo-apikey-5Qe1x9"]',
    "FRAUD_DETECTION_ALERTS__WEBHOOK_TOKEN": "sekret-demo-token-Wm27ba",
}


def test_make_demo_catches_every_incident() -> None:
    """The two-command promise, first command: `make demo` on the template."""
    # Given a template checkout, and secrets given to the demo
    env = baked_env(**SECRETS)

    # When `make demo` runs
    result = subprocess.run(
        ["make", "demo"], cwd=TEMPLATE, env=env, capture_output=True, text=True, timeout=3000, check=False
    )

    # Then it succeeds and prints the summary
    assert result.returncode == 0, (result.stdout + result.stderr)[-6000:]
    assert "What broke, and what caught it" in result.stdout

    # And the recorded outcome holds every catch and the right promotion
    outcome = json.loads(OUTCOME.read_text(encoding="utf-8"))
    missed = [c["incident"] for c in outcome["catches"] if c["caught"] is None]
    assert missed == []
    assert all(c["component"] == c["expected_component"] for c in outcome["catches"])
    decisions = {v: s["shadow"] for v, s in outcome["versions"].items() if s["shadow"]}
    assert sorted(decisions.values()) == ["promote", "reject"]
    promoted = next(v for v, d in decisions.items() if d == "promote")
    rejected = next(v for v, d in decisions.items() if d == "reject")
    assert int(promoted) > int(rejected)
    assert outcome["days"][-1]["served_versions"] == [promoted]

    # And the baked project's own end-to-end tests judge the same run (the default bake's
    # suite leaves them out so as not to run the demo twice), among them the sweep for the
    # secrets given to it, which reads the demo's output here too
    (PROJECT / "var" / "demo" / "make-demo.log").write_text(result.stdout + result.stderr, encoding="utf-8")
    run(
        [PROJECT / ".venv" / "bin" / "pytest", DEMO_OUTCOME_TESTS, "-q", "-p", "no:cacheprovider"],
        PROJECT,
        {**env, "DEMO_STATE_TO_JUDGE": str(PROJECT / "var")},
    )
