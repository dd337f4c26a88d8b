"""Which records the canary answers: a share of them, picked by a caller key or at random.

With a key field, a record goes to the canary when a hash of the field's value (salted with
the canary's version) falls below the share: the same customer gets the same model on every
request and every worker, and raising the share only adds customers (no one switches back).
The salt makes each canary pick its own customers, so one cohort does not carry every
experiment. A record without the key's value goes to the champion: it cannot be kept on one
model, and the champion is the model it would have had anyway. Without a key field each
record is drawn at random.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np

from .edge import CheckedRecords

T = TypeVar("T")

# 8 bytes of hash as a fraction of 2**64: finer than any share a setting can ask for.
_SCALE = float(2**64)


def key_fraction(salt: str, value: object) -> float:
    """Where `value` falls in [0, 1), the same for the same salt and value in every process."""
    digest = hashlib.blake2b(f"{salt}\x1f{value}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / _SCALE


def _uniform(count: int) -> np.ndarray:
    """Fractions in [0, 1) from the OS's randomness: workers forked from one parent would
    otherwise repeat one another's draws."""
    return np.frombuffer(os.urandom(8 * count), dtype=np.uint64) / _SCALE


@dataclass(frozen=True)
class CanaryRoute:
    """The canary's share and how records are picked; `salt` is the canary's version."""

    share: float
    key_field: str | None
    salt: str
    uniform: Callable[[int], np.ndarray] = _uniform

    def picks(self, records: Sequence[dict[str, Any]]) -> list[bool]:
        """True for each record the canary answers."""
        if self.key_field is None:
            return [bool(u < self.share) for u in self.uniform(len(records))]
        return [self._by_key(record.get(self.key_field)) for record in records]

    def _by_key(self, value: object) -> bool:
        if value is None or value == "":
            return False
        return key_fraction(self.salt, value) < self.share


def split(picks: Sequence[bool]) -> tuple[list[int], list[int]]:
    """The champion's record positions and the canary's, each in request order."""
    champion = [i for i, pick in enumerate(picks) if not pick]
    canary = [i for i, pick in enumerate(picks) if pick]
    return champion, canary


def take(checked: CheckedRecords, positions: Sequence[int]) -> CheckedRecords:
    """The records at `positions`, with everything the log and the models read about them."""
    return CheckedRecords(
        received=[checked.received[i] for i in positions],
        columns={name: [values[i] for i in positions] for name, values in checked.columns.items()},
        record_ids=[checked.record_ids[i] for i in positions],
        events=[checked.events[i] for i in positions] if checked.events else [],
        event_times=[checked.event_times[i] for i in positions] if checked.event_times else [],
    )


def interleave(count: int, parts: Sequence[tuple[Sequence[int], Sequence[T] | None]]) -> list[T] | None:
    """One list in request order from each model's values for its positions (None stays None:
    both models of one contract answer the same kinds of values)."""
    if any(values is None for _, values in parts):
        return None
    merged: list[Any] = [None] * count
    for positions, values in parts:
        for position, value in zip(positions, values or (), strict=True):
            merged[position] = value
    return merged


def parse_share(text: str | None, default: float) -> float:
    """The share a registered-model tag sets, or `default` when the tag is absent or unreadable
    (a bad tag must not stop the reload that reads it)."""
    if text is None:
        return default
    try:
        share = float(text)
    except ValueError:
        return default
    return share if 0.0 < share < 1.0 else default
