"""Which records the canary answers: a stable share by caller key, or a random share."""

from __future__ import annotations

import math

import numpy as np

from {{ cookiecutter.package_name }}.serving.canary_routing import CanaryRoute, interleave, parse_share, split

# A share measured on n independent picks is binomial: 4 standard deviations wide, a correct
# router fails this about once in 16,000 runs, and a router off by a fifth of the share
# (0.08 for 0.10 on 5,000 keys) fails it every time.
KEYS = 5000


def tolerance(share: float, n: int) -> float:
    return 4 * math.sqrt(share * (1 - share) / n)


def test_the_same_key_always_gets_the_same_model() -> None:
    """A customer routed once is routed the same way on every later request, by any process
    holding the same canary (the hash, not a process's state, decides)."""
    # Given two routers of the same canary, as two workers hold them
    first, second = CanaryRoute(0.2, "customer_id", salt="7"), CanaryRoute(0.2, "customer_id", salt="7")
    records = [{"customer_id": f"c{i}"} for i in range(KEYS)]

    # When both route every customer, the first one three times
    picks = [first.picks(records) for _ in range(3)] + [second.picks(records)]

    # Then every customer got the same model each time
    assert all(p == picks[0] for p in picks)


def test_a_keyed_share_is_the_configured_one_within_binomial_tolerance() -> None:
    """Over a few thousand distinct customers the canary answers the configured share."""
    for share in (0.05, 0.1, 0.5):
        # Given a router with that share and distinct customers
        route = CanaryRoute(share, "customer_id", salt="12")

        # When it routes them
        measured = float(np.mean(route.picks([{"customer_id": i} for i in range(KEYS)])))

        # Then the share is within four standard deviations of the setting
        assert abs(measured - share) < tolerance(share, KEYS), (share, measured)


def test_raising_the_share_only_adds_customers() -> None:
    """A customer on the canary at 10% stays on it at 20%: no one switches back and forth."""
    records = [{"customer_id": i} for i in range(KEYS)]
    low = CanaryRoute(0.1, "customer_id", salt="3").picks(records)
    high = CanaryRoute(0.2, "customer_id", salt="3").picks(records)
    assert all(h for lo, h in zip(low, high, strict=True) if lo)
    assert sum(high) > sum(low)


def test_each_canary_picks_its_own_customers() -> None:
    """Another version's canary (another salt) picks a different cohort, so one set of
    customers does not carry every experiment."""
    records = [{"customer_id": i} for i in range(KEYS)]
    one = CanaryRoute(0.1, "customer_id", salt="3").picks(records)
    other = CanaryRoute(0.1, "customer_id", salt="4").picks(records)
    both = sum(a and b for a, b in zip(one, other, strict=True))
    # Independent cohorts share about a tenth of each (50 of ~500 customers); one cohort, all 500.
    assert both < 0.3 * sum(one)


def test_records_without_the_key_go_to_the_champion() -> None:
    """A record that does not carry the key (missing, null or empty) cannot be kept on one
    model: the champion answers it."""
    route = CanaryRoute(0.99, "customer_id", salt="1")
    assert route.picks([{}, {"customer_id": None}, {"customer_id": ""}]) == [False, False, False]


def test_random_routing_measures_the_share_and_differs_between_calls() -> None:
    """Without a key field each record is drawn: the share holds over thousands of records, and
    the same records are not routed alike twice."""
    # Given a random router (no key field)
    route = CanaryRoute(0.1, None, salt="5")
    records = [{"customer_id": i} for i in range(KEYS)]

    # When it routes the same records twice
    first, second = route.picks(records), route.picks(records)

    # Then each time the share is within tolerance, and the two draws differ
    for picks in (first, second):
        assert abs(float(np.mean(picks)) - 0.1) < tolerance(0.1, KEYS)
    assert first != second


def test_split_and_interleave_keep_the_request_order() -> None:
    """The answers of both models come back in the order the records were sent."""
    champion, canary = split([False, True, False, True])
    assert (champion, canary) == ([0, 2], [1, 3])
    assert interleave(4, [(champion, ["a", "c"]), (canary, ["b", "d"])]) == ["a", "b", "c", "d"]
    assert interleave(4, [(champion, None), (canary, None)]) is None


def test_a_share_tag_that_does_not_read_falls_back_to_the_setting() -> None:
    """The share comes from the registered model's tag; a missing, unreadable or out-of-range
    tag leaves the setting's share (the reload must not fail on it)."""
    assert parse_share("0.25", 0.1) == 0.25
    assert parse_share(None, 0.1) == 0.1
    assert parse_share("lots", 0.1) == 0.1
    assert parse_share("1.5", 0.1) == 0.1
