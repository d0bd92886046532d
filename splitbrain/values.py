"""Kinds of values the suite takes from users, each checked in one place.

A flag, a config.json field and a system file value of the same kind go
through the same `check`: right type, finite, in range. A kind is declared
with the field it checks (`RunConfig`'s fields carry theirs), so a new field
cannot skip the check. `check` raises ValueError with what was expected; the
caller names the flag or key (`--time must be ...`, `file: ready.timeout: ...`).

NaN and infinity are never a value: a NaN compares false with every bound, so
an unchecked `--nemesis-interval nan` let the fault planner loop forever.
"""
from __future__ import annotations

import argparse
import dataclasses
import math
from typing import Any

DAY = 86400.0
MAX_SECONDS = 30 * DAY  # longer than any run, shorter than what overflows a deadline
MAX_INT = 2**63 - 1  # what Go, JSON parsers and C agree an integer can be


class Kind:
    what: str = "a value"

    def check(self, value: Any) -> Any:
        """The value, normalized (a JSON list becomes a tuple, an integral float an int); ValueError if unfit."""
        raise NotImplementedError

    def fail(self, value: Any):
        raise ValueError(f"must be {self.what} (got {_show(value)})")

    def arg(self, text: str) -> Any:
        """An argparse `type=`: the text parsed as this kind, or argparse's one-line error."""
        try:
            return self.check(self.parse(text))
        except ValueError as e:
            raise argparse.ArgumentTypeError(str(e)) from None

    def parse(self, text: str) -> Any:
        return text


@dataclasses.dataclass(frozen=True)
class Number(Kind):
    """An int or float in [low, high] (low excluded when `low_open`), never NaN or infinite; None if `optional`."""

    low: float
    high: float
    integer: bool = False
    low_open: bool = False
    unit: str = ""
    optional: bool = False

    @property
    def what(self) -> str:  # type: ignore[override]
        parts = ["an integer" if self.integer else "a finite number" + (f" {self.unit}" if self.unit else "")]
        parts.append(f"{'above' if self.low_open else 'at least'} {_num(self.low)}")
        if self.high < MAX_INT:
            parts.append(f"at most {_num(self.high)}")
        return " ".join(parts[:2]) + "".join(f" and {p}" for p in parts[2:])

    def check(self, value):
        if value is None and self.optional:
            return None
        # bool is an int to Python, never a number to a user
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            self.fail(value)
        if self.integer:
            if isinstance(value, float):
                if not (math.isfinite(value) and value.is_integer()):
                    self.fail(value)
                value = int(value)
        elif not math.isfinite(value):
            self.fail(value)
        if value < self.low or (self.low_open and value == self.low) or value > self.high:
            self.fail(value)
        return value

    def parse(self, text: str):
        try:
            return int(text) if self.integer else float(text)
        except ValueError:
            raise ValueError(f"must be {self.what} (got {text!r})") from None


@dataclasses.dataclass(frozen=True)
class Text(Kind):
    """A non-empty string; None if `optional`."""

    optional: bool = False
    what: str = "a non-empty string"

    def check(self, value):
        if value is None and self.optional:
            return None
        if not isinstance(value, str) or not value.strip():
            self.fail(value)
        return value


@dataclasses.dataclass(frozen=True)
class Texts(Kind):
    """A list of strings, kept as a tuple."""

    what: str = "a list of strings"

    def check(self, value):
        if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
            self.fail(value)
        return tuple(value)


@dataclasses.dataclass(frozen=True)
class Table(Kind):
    """An object with string keys (its values are the owner's to check)."""

    what: str = "an object with string keys"

    def check(self, value):
        if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
            self.fail(value)
        return dict(value)


@dataclasses.dataclass(frozen=True)
class Duration(Number):
    """Seconds, as a number or with a unit: 90, 90s, 30m, 1.5h, 1d."""

    UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": DAY}

    def parse(self, text: str):
        t = text.strip().lower()
        scale = self.UNITS.get(t[-1:], None)
        try:
            return float(t[:-1] if scale else t) * (scale or 1.0)
        except ValueError:
            raise ValueError(f"must be {self.what}, as 90, 90s, 30m or 1.5h (got {text!r})") from None


def seconds(*, low: float = 0.0, low_open: bool = True, high: float = MAX_SECONDS, optional: bool = False) -> Number:
    return Number(low, high, low_open=low_open, unit="of seconds", optional=optional)


def count(low: int = 1, high: int = MAX_INT, *, optional: bool = False) -> Number:
    return Number(low, high, integer=True, optional=optional)


SECONDS = seconds()  # a positive duration
OPTIONAL_SECONDS = seconds(optional=True)
COUNT = count()
DURATION = Duration(0.0, MAX_SECONDS, low_open=True, unit="of seconds")  # a budget: 30m, 2h, 90


def _num(v: float) -> str:
    return "2592000 (30 days)" if v == MAX_SECONDS else f"{v:g}"


def _show(value: Any) -> str:
    r = repr(value)
    return r if len(r) <= 40 else r[:37] + "..."
