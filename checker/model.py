"""The model protocol (Porcupine's, in Python).

A model is a sequential specification of one object:

- `init()` -> the initial state;
- `step(state, input, output)` -> `(ok, new_state)`: is `output` a legal answer
  to `input` in `state`, and what state follows (must not mutate `state`);
- `prepare(op)` -> `(input, output)` or `None` (optional): turns a paired
  `checker.history.Operation` into the model's input/output, or drops an op
  that constrains nothing (a read that timed out). Raise `ValueError` for an
  op the model cannot take; it is reported with the op's file:line. Default:
  `((op.f, op.value), (op.status, op.result))`;
- `partition(op)` -> a key (optional; default `op.key`): ops of different keys
  are checked independently (P-compositionality), so a model describes ONE key;
- `hash(state)` -> a hashable stand-in for the state in the search's cache
  (optional; default the state itself, which must then be hashable) and
  `equal(a, b)` (optional; default `==` on the hash);
- `describe(input, output)` -> str, `describe_state(state)` -> str (optional,
  for reports and the HTML);
- `operations`: the `f` names the model accepts (optional; others are bad input).

`encode` is for built-in models only: it turns one partition into the integer
opcodes of the compiled search (see `checker/csrc/wgl.h`).

Custom models must be module-level (picklable) to be checked in parallel
processes; otherwise they are checked in-process.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Optional


@dataclass(frozen=True)
class Model:
    name: str
    init: Callable[[], Any]
    step: Callable[[Any, Any, Any], tuple[bool, Any]]
    prepare: Optional[Callable[[Any], Optional[tuple[Any, Any]]]] = None
    partition: Optional[Callable[[Any], Any]] = None
    hash: Optional[Callable[[Any], Any]] = None
    equal: Optional[Callable[[Any, Any], bool]] = None
    describe: Optional[Callable[[Any, Any], str]] = None
    describe_state: Optional[Callable[[Any], str]] = None
    operations: Optional[frozenset] = None
    encode: Optional[Callable[[list, list], Any]] = None


@dataclass
class Encoded:
    """One partition in the compiled search's terms (see wgl.h)."""

    kind: list
    a: list
    b: list
    init: int = 0
    tr_off: list | None = None
    tr_from: list | None = None
    tr_to: list | None = None
    dead: int = -1


def describe_op(model: Model, part, i: int) -> str:
    """Op i of a partition (a checker.core.PartitionResult) as the model shows it."""
    if model.describe:
        return model.describe(part.inputs[i], part.outputs[i])
    return f"{part.inputs[i]!r} -> {part.outputs[i]!r}"
