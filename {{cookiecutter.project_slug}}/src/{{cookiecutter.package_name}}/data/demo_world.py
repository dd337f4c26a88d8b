"""The demo world: a seeded generator of card transactions.

The generator is also the production simulator: `TransactionGenerator` draws the traffic of a
simulated day, shifted as an incident asks (`TrafficShift`).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal

import numpy as np
import pandas as pd

from ..core.contract import Contract
from ..errors import DataError

# name: (share of merchants, fraud log-odds, log-amount mean, log-amount sd, usual channel)
MERCHANT_CATEGORIES: dict[str, tuple[float, float, float, float, str]] = {
    "grocery": (0.16, -0.7, 3.4, 0.7, "pos"),
    "gas_station": (0.09, -0.2, 3.6, 0.5, "pos"),
    "restaurant": (0.13, -0.5, 3.5, 0.6, "pos"),
    "pharmacy": (0.05, -0.6, 3.2, 0.7, "pos"),
    "clothing": (0.08, 0.0, 4.1, 0.8, "pos"),
    "online_retail": (0.12, 0.5, 4.0, 0.9, "online"),
    "electronics": (0.06, 0.9, 5.2, 0.9, "online"),
    "jewelry": (0.02, 1.1, 5.8, 1.0, "pos"),
    "travel": (0.05, 0.5, 6.0, 0.8, "online"),
    "entertainment": (0.06, 0.1, 3.7, 0.7, "online"),
    "gaming": (0.04, 0.9, 3.3, 1.0, "online"),
    "utilities": (0.05, -0.9, 4.5, 0.5, "online"),
    "money_transfer": (0.03, 1.3, 5.0, 1.0, "phone"),
    "atm": (0.06, 0.3, 4.6, 0.6, "atm"),
}


CHANNELS = ("pos", "online", "atm", "phone")


CARD_TYPES = {"credit": 0.45, "debit": 0.48, "prepaid": 0.07}


ACCOUNT_TYPES = ("personal", "business", "student")


# The multiclass target, `fraud_kind`: no fraud, or which kind (the contract's labels, in order).
FRAUD_KINDS = ("none", "stolen_card", "account_takeover", "card_testing")
MULTICLASS_FRAUD_LIFT = 2.0  # log-odds: about 5% fraud instead of 1.5% (`TransactionGenerator.for_contract`)


@dataclass(frozen=True)
class TrafficShift:
    """What changes in a simulated stretch of production traffic (all off by default)."""

    amount_scale: float = 1.0  # covariate shift: amounts (and their ratio to the usual) grow
    distance_shift_km: float = 0.0  # covariate shift: transactions further from home
    device_risk_shift: float = 0.0  # covariate shift: a new device-scoring SDK reads higher
    online_share: float | None = None  # covariate shift: more card-not-present traffic
    fraud_pattern: Literal["baseline", "card_testing"] = "baseline"  # concept drift (is_fraud)
    settlement_backlog_hours: float = 0.0  # concept drift (settlement_hours): online payments settle later
    extra_columns: tuple[str, ...] = ()  # schema drift, e.g. ("account_type",)


@dataclass
class TransactionGenerator:
    """A seeded world of customers and merchants that emits card transactions.

    The same seed gives the same merchants, and `sample` with the same arguments
    gives the same rows. Fraud is drawn from a logistic model of the features
    (amount against the customer's usual, channel, device risk, night hours, new
    accounts, merchant category and a few compromised merchants), so it is
    learnable but noisy: even the true probabilities reach an average precision
    of only about 0.5, and a good model gets close to that.
    """

    seed: int = 7
    n_merchants: int = 4000
    fraud_intercept: float = -11.3  # with signal_strength 2: about 1.5% fraud
    signal_strength: float = 2.0  # the Bayes-optimal average precision is about 0.5
    _merchants: pd.DataFrame = field(init=False, repr=False)

    @classmethod
    def for_contract(cls, contract: Contract, seed: int = 7) -> TransactionGenerator:
        """The world a contract's model is trained and replayed in. A multiclass model tells
        three kinds of fraud apart, so its world has more fraud (about 5% of transactions, the
        intercept 2.0 higher): at 1.5% a day holds a few dozen frauds of each kind, too few to
        learn a kind from or to judge a model on it. The other targets keep the 1.5% world."""
        if contract.is_multiclass:
            return cls(seed=seed, fraud_intercept=cls.fraud_intercept + MULTICLASS_FRAUD_LIFT)
        return cls(seed=seed)

    def __post_init__(self) -> None:
        rng = np.random.default_rng([self.seed, 0])
        names = list(MERCHANT_CATEGORIES)
        shares = np.array([MERCHANT_CATEGORIES[n][0] for n in names])
        category = rng.choice(len(names), size=self.n_merchants, p=shares / shares.sum())
        popularity = 1.0 / np.arange(1, self.n_merchants + 1) ** 0.9  # Zipf-like: a few big merchants
        rng.shuffle(popularity)
        ids = rng.choice(np.arange(10_000, 100_000), size=self.n_merchants, replace=False)
        self._merchants = pd.DataFrame(
            {
                "merchant_id": [f"m{i:05d}" for i in ids],  # the contract's canonical form
                "category": np.array(names, dtype=object)[category],
                "popularity": popularity / popularity.sum(),
                "compromised": rng.random(self.n_merchants) < 0.02,
            }
        )

    def _rng(self, start: datetime, salt: str) -> np.random.Generator:
        key = hashlib.sha256(f"{self.seed}|{start.isoformat()}|{salt}".encode()).digest()
        return np.random.default_rng(int.from_bytes(key[:8], "little"))

    def sample(  # noqa: PLR0915 - one generative story, read top to bottom
        self,
        n: int,
        start: datetime,
        days: float = 1.0,
        shift: TrafficShift = TrafficShift(),  # a frozen dataclass: safe as a default
        id_prefix: str = "tx",
    ) -> pd.DataFrame:
        """`n` transactions in `[start, start + days)`, with every target (`is_fraud`,
        `settlement_hours`, `fraud_kind`) and the hidden fraud probability."""
        rng = self._rng(start, f"{n}|{days}|{id_prefix}|{shift}")
        m = self._merchants
        pick = rng.choice(len(m), size=n, p=m["popularity"].to_numpy())
        category = m["category"].to_numpy()[pick]
        spec = np.array([MERCHANT_CATEGORIES[c] for c in category], dtype=object)
        cat_risk = spec[:, 1].astype(float)
        usual_channel = spec[:, 4].astype(str)

        channel = np.where(rng.random(n) < 0.85, usual_channel, rng.choice(CHANNELS, size=n, p=[0.5, 0.4, 0.05, 0.05]))
        if shift.online_share is not None:
            flip = (channel == "pos") & (rng.random(n) < shift.online_share)
            channel = np.where(flip, "online", channel)
        channel = np.where(category == "atm", "atm", channel).astype(object)
        card_present = np.isin(channel, ["pos", "atm"]) ^ (rng.random(n) < 0.02)
        card_type = rng.choice(list(CARD_TYPES), size=n, p=list(CARD_TYPES.values())).astype(object)

        hours = np.where(rng.random(n) < 0.1, rng.integers(0, 24, n), np.clip(rng.normal(14, 4, n), 0, 23)).astype(int)
        day = rng.integers(0, max(int(np.ceil(days)), 1), n)
        seconds = rng.integers(0, 3600, n)
        event_time = pd.to_datetime(start.replace(tzinfo=None)) + pd.to_timedelta(
            day * 86_400 + hours * 3_600 + seconds, unit="s"
        )

        customer_age = np.clip(rng.normal(45, 15, n), 18, 95).round()
        account_age = np.clip(rng.exponential(900, n), 0, 20_000).round()
        new_account = account_age < 60
        amount = np.exp(rng.normal(spec[:, 2].astype(float), spec[:, 3].astype(float))) * shift.amount_scale
        amount = np.clip(amount, 0.5, 25_000).round(2)
        usual = np.exp(rng.normal(np.log(amount / shift.amount_scale), 0.6))
        ratio = np.round(amount / usual, 3)
        is_international = rng.random(n) < np.where(np.isin(category, ["travel", "online_retail"]), 0.18, 0.04)
        distance = rng.exponential(9, n) + np.where(is_international, rng.normal(1500, 400, n).clip(300), 0)
        distance = np.round(distance + shift.distance_shift_km, 1)
        device_risk = np.clip(rng.beta(2, 9, n) + shift.device_risk_shift, 0, 1).round(4)
        txn_count = rng.poisson(2.5, n)

        if shift.fraud_pattern == "card_testing":
            # Fraudsters test stolen cards with tiny online payments in quick succession.
            testing = rng.random(n) < 0.04
            amount = np.where(testing, rng.uniform(0.5, 4.0, n).round(2), amount)
            ratio = np.where(testing, np.round(amount / usual, 3), ratio)
            txn_count = np.where(testing, txn_count + rng.poisson(6, n), txn_count)
            channel = np.where(testing, "online", channel).astype(object)
            card_present = np.where(testing, False, card_present)

        evidence = (
            cat_risk
            + 0.25 * np.log(amount)
            + 0.9 * np.clip(np.log(np.maximum(ratio, 1e-3)), -1, 3)
            + np.select([channel == "online", channel == "phone"], [1.1, 0.8], 0.0)
            + 0.8 * is_international
            + 0.7 * (hours < 6)
            + 1.0 * new_account
            + 0.8 * (new_account & (channel == "online"))
            + 2.2 * m["compromised"].to_numpy()[pick]
            + 0.6 * (card_type == "prepaid")
            + 0.2 * (txn_count - 2.5)
            + np.where(card_present, 0.0, 3.0 * (device_risk - 0.18))
            + 0.4 * (distance > 500)
        )
        if shift.fraud_pattern == "card_testing":
            # The ring moved: international and device-risk signals no longer mean fraud,
            # and small repeated online payments now do.
            evidence = (
                evidence
                - 0.8 * is_international
                - np.where(card_present, 0.0, 3.0 * (device_risk - 0.18))
                - 0.9 * (channel == "online")
                + 3.0 * ((amount < 5) & (txn_count >= 5))
            )
        logit = self.fraud_intercept + self.signal_strength * evidence
        fraud_probability = 1.0 / (1.0 + np.exp(-logit))
        is_fraud = (rng.random(n) < fraud_probability).astype(int)

        settlement = (
            np.select([channel == "atm", channel == "pos", channel == "online"], [2.0, 20.0, 30.0], 44.0)
            + 26.0 * is_international
            + 3.0 * np.log1p(amount)
            + np.where(np.isin(category, ["travel", "money_transfer"]), 14.0, 0.0)
            + 8.0 * (hours >= 18)
            + 30.0 * device_risk
            + np.where(channel == "online", shift.settlement_backlog_hours, 0.0)
            + rng.gamma(2.0, 3.0, n)
        ).round(2)

        kind = self._fraud_kind(
            is_fraud.astype(bool),
            card_present=card_present,
            is_international=is_international,
            night=hours < 6,
            device_risk=device_risk,
            new_account=new_account,
            small=amount < 20,
            txn_count=txn_count,
            rng=self._rng(start, f"{n}|{days}|{id_prefix}|{shift}|kind"),
        )

        frame = pd.DataFrame(
            {
                "transaction_id": [f"{id_prefix}-{i:08d}" for i in range(n)],
                "event_time": event_time,
                "amount": amount,
                "merchant_category": category.astype(object),
                "merchant_id": m["merchant_id"].to_numpy()[pick],
                "channel": channel,
                "card_type": card_type,
                "card_present": card_present.astype(bool),
                "is_international": is_international.astype(bool),
                "hour_of_day": hours,
                "customer_age": customer_age,
                "account_age_days": account_age,
                "txn_count_24h": txn_count.astype(int),
                "amount_to_avg_ratio": ratio,
                "distance_from_home_km": distance,
                "device_risk_score": device_risk,
                "is_fraud": is_fraud,
                "settlement_hours": settlement,
                "fraud_kind": kind,
                "fraud_probability": fraud_probability.round(6),
            }
        )
        # Missing values where real data has them.
        frame.loc[rng.random(n) < 0.03, "customer_age"] = np.nan
        frame.loc[rng.random(n) < 0.01, "account_age_days"] = np.nan
        frame.loc[new_account, "amount_to_avg_ratio"] = np.nan  # no history yet
        no_geo = (~card_present) & (rng.random(n) < 0.6)
        frame.loc[no_geo, "distance_from_home_km"] = np.nan  # card-not-present: no location
        frame.loc[card_present, "device_risk_score"] = np.nan  # no device at a terminal
        for column in shift.extra_columns:
            frame[column] = rng.choice(ACCOUNT_TYPES, size=n, p=[0.8, 0.15, 0.05]).astype(object)
        return frame.sort_values("event_time", kind="stable").reset_index(drop=True)

    @staticmethod
    def _fraud_kind(
        fraud: np.ndarray,
        *,
        card_present: np.ndarray,
        is_international: np.ndarray,
        night: np.ndarray,
        device_risk: np.ndarray,
        new_account: np.ndarray,
        small: np.ndarray,
        txn_count: np.ndarray,
        rng: np.random.Generator,
    ) -> np.ndarray:
        """Which kind each fraud is (`FRAUD_KINDS`; "none" for the rest): a stolen card is used
        in person, abroad or at night; a taken-over account online from a risky device, often a
        new one; card testing is small payments in quick succession. Drawn from the features
        with noise (Gumbel: a softmax choice), so the kind is learnable but not certain. Its
        own random stream: the other columns are the same with or without it."""
        risk = np.nan_to_num(device_risk, nan=0.0)
        evidence = np.column_stack(
            [
                1.2 + 2.0 * card_present + 1.5 * is_international + 1.0 * night,
                1.0 * ~card_present + 5.0 * (risk - 0.18) + 1.5 * new_account,
                2.0 * small + 0.6 * (txn_count - 2.5) + 0.5 * ~card_present,
            ]
        )
        chosen = 1 + np.argmax(evidence + rng.gumbel(size=evidence.shape), axis=1)
        return np.asarray(FRAUD_KINDS, dtype=object)[np.where(fraud, chosen, 0)]


DEMO_START = datetime(2026, 1, 1, tzinfo=UTC)


def demo_frame(contract: Contract, rows: int, days: int, seed: int = 7) -> pd.DataFrame:
    """The built-in training set: `rows` transactions over `days` days, in the contract's columns."""
    sample = TransactionGenerator.for_contract(contract, seed).sample(rows, DEMO_START, days=days, id_prefix="train")
    missing = [c for c in contract.columns if c not in sample.columns]
    if missing:
        raise DataError(f"the demo data has no column(s) {', '.join(missing)}: point data_path at your own data")
    return sample[contract.columns]


def demo_end(days: int) -> datetime:
    return DEMO_START + timedelta(days=days)
