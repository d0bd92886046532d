"""Key choice and value generation shared by the workloads (pure; seeded by the caller's rng)."""
from __future__ import annotations

import bisect
import itertools
import random
from collections import deque
from typing import Any

# Values are unique within a load-generating process; worker blocks keep them unique across workers.
VALUE_BLOCK = 1_000_000_000
RECENT = 4


class RotatingRegisters:
    """A window of `width` live keys that moves on after `ops_per_key * width` picks
    (never, with ops_per_key None).

    The general linearizability search is exponential in the concurrency of one
    key's history, so keys may live for a bounded number of operations; with
    unique values the checker needs no such bound. The window keeps a few keys
    busy at once, like Jepsen's independent keys.
    Writes carry unique ints, and a cas expects one of the key's recent values,
    so cas both succeeds and fails often enough to be informative.
    """

    def __init__(self, width: int, ops_per_key: int | None, worker_index: int = 0, prefix: str = "r") -> None:
        # None: keys never rotate (the checker decides unique-value histories of any length).
        if width < 1 or (ops_per_key is not None and ops_per_key < 1):
            raise ValueError("keys and ops-per-key must be at least 1")
        self.width, self.ops_per_key, self.prefix = width, ops_per_key, prefix
        self._picks = 0
        self._generation = 0
        self._values = itertools.count(worker_index * VALUE_BLOCK + 1)
        self._recent: dict[str, deque] = {}

    def pick(self, rng: random.Random) -> str:
        generation = 0 if self.ops_per_key is None else self._picks // (self.width * self.ops_per_key)
        self._picks += 1
        if generation != self._generation:
            self._generation = generation
            self._recent.clear()
        return f"{self.prefix}{generation * self.width + rng.randrange(self.width)}"

    def fresh_value(self, key: str) -> int:
        value = next(self._values)
        self._recent.setdefault(key, deque(maxlen=RECENT)).append(value)
        return value

    def recent_value(self, key: str, rng: random.Random) -> Any:
        """A value recently written to key, or None when none was."""
        recent = self._recent.get(key)
        return rng.choice(recent) if recent else None


class ZipfKeys:
    """`count` keys with zipfian popularity (YCSB's default constant 0.99), hottest first.

    Rank r is drawn with probability proportional to 1 / r**theta by bisecting
    a precomputed cumulative table; ranks are spread over the key names with a
    fixed permutation so the hot keys are not neighbours (as YCSB scrambles them).
    """

    def __init__(self, count: int, theta: float = 0.99, value_size: int = 16, worker_index: int = 0,
                 prefix: str = "k") -> None:
        if count < 1:
            raise ValueError("keys must be at least 1")
        if value_size < 1:
            raise ValueError("value size must be at least 1")
        self.count, self.value_size, self.prefix = count, value_size, prefix
        total, cumulative = 0.0, []
        for rank in range(1, count + 1):
            total += 1.0 / rank ** theta
            cumulative.append(total)
        self._cumulative = cumulative
        self._names = list(range(count))
        random.Random(count).shuffle(self._names)
        self._values = itertools.count(worker_index * VALUE_BLOCK + 1)

    def pick(self, rng: random.Random) -> str:
        rank = bisect.bisect_left(self._cumulative, rng.random() * self._cumulative[-1])
        return f"{self.prefix}{self._names[min(rank, self.count - 1)]}"

    def payload(self) -> str:
        """A unique string of exactly value_size characters (longer when the unique part needs it)."""
        head = f"{next(self._values)}."
        return head + "x" * max(0, self.value_size - len(head))


MIXES = {
    "A": {"get": 0.5, "put": 0.5},
    "B": {"get": 0.95, "put": 0.05},
    "C": {"get": 1.0},
}


class Mix:
    """Operation weights: a YCSB letter (A, B, C) or `get=0.5,put=0.3,append=0.2`."""

    def __init__(self, spec: str) -> None:
        spec = spec.strip()
        if spec.upper() in MIXES:
            weights = MIXES[spec.upper()]
        else:
            weights = {}
            for part in filter(None, (p.strip() for p in spec.split(","))):
                name, sep, weight = part.partition("=")
                if not sep or name.strip() not in ("get", "put", "append"):
                    raise ValueError(f"mix {spec!r}: expected A, B, C or get=W,put=W,append=W")
                try:
                    weights[name.strip()] = float(weight)
                except ValueError:
                    raise ValueError(f"mix {spec!r}: weight {weight!r} is not a number") from None
            if not weights or sum(weights.values()) <= 0 or min(weights.values()) < 0:
                raise ValueError(f"mix {spec!r}: weights must be non-negative and not all zero")
        self.ops = list(weights)
        self.weights = [weights[o] for o in self.ops]

    def pick(self, rng: random.Random) -> str:
        return rng.choices(self.ops, self.weights)[0]
