"""`check`: pair, prepare and split a history per key (P-compositionality),
then search each partition, compiled for built-in models, in parallel spawn
processes when the input is big enough to pay for them.
"""
from __future__ import annotations

import math
import os
import pickle
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from checker import models, native, search as pysearch, unique
from checker.history import History, HistoryError, Operation, Pairing, clock_of, no_gc, operations
from checker.model import Model, describe_op  # noqa: F401  (describe_op: reports import it from here)

UNKNOWN = "unknown"
# A history without operations proves nothing: its own verdict, never a pass.
EMPTY = "empty"
# Below these many ops in all, process start-up (~0.1 s per spawn) costs more
# than it saves: check in-process.
PARALLEL_MIN_OPS_COMPILED = 50_000
PARALLEL_MIN_OPS_PYTHON = 3_000


@dataclass
class PartitionResult:
    key: Any
    valid: Any  # True | False | "unknown"
    ops: list  # [Operation] of this partition (prepared ones only)
    inputs: list
    outputs: list
    linearization: list  # indices into ops: the longest linearizable prefix found
    blocked: Optional[int]  # index into ops of the op that cannot be placed after it
    seconds: float = 0.0
    steps: int = 0
    cache_entries: int = 0
    note: str = ""
    method: str = ""  # "unique-values" (polynomial) or "search" (Wing & Gong / Lowe)
    conflict: Optional[int] = None  # with `blocked`: the op whose times forbid it, when known
    reason: str = ""  # the unique-value procedure's tag for the violation (stale, ...)
    witness: Any = None  # checker.witness.Witness of a violation, once shrunk


@dataclass
class Result:
    valid: Any  # True | False | "unknown"
    partitions: list = field(default_factory=list)
    ops: int = 0
    seconds: float = 0.0
    model: Any = None
    source: Optional[str] = None
    time_unit: str = "ns"  # of the history's times: "ns" or "line" (see History)
    note: str = ""  # why the verdict is unknown, when no partition says
    origin: float = 0  # the first call of the history (times in sentences count from it)

    @property
    def failures(self) -> list:
        return [p for p in self.partitions if p.valid is False]

    @property
    def unknown(self) -> list:
        return [p for p in self.partitions if p.valid == UNKNOWN]


def _entries(ops: list) -> list:
    """Calls and returns in time order; at equal times calls come first, so
    ops touching the same instant count as concurrent (as Porcupine does)."""
    ev = [(op.call, 0, i) for i, op in enumerate(ops)]
    ev += [(op.ret, 1, i) for i, op in enumerate(ops)]
    ev.sort()
    return [i if kind == 0 else ~i for _, kind, i in ev]


def _run_one(model, inputs, outputs, entries, compiled, deadline, enc=None, max_bytes=None):
    """One partition; runs in this process or a spawned worker (CLOCK_MONOTONIC,
    hence `deadline`, is shared by all processes of the machine).
    Returns (valid, best, blocked, seconds, steps, cache_entries, note)."""
    if isinstance(model, str):
        model = models.get(model)
    t0 = time.perf_counter()
    time_limit = None if deadline is None else deadline - time.monotonic()
    if time_limit is not None and time_limit <= 0:
        return UNKNOWN, [], None, 0.0, 0, 0, "time limit reached before this partition started"
    note = ""
    try:
        if compiled:
            if enc is None:
                enc = model.encode(inputs, outputs)
            code, best, blocked, steps, cache = native.search(enc, entries, time_limit, max_bytes)
        else:
            code, best, blocked, steps, cache = pysearch.search(model, inputs, outputs, entries, time_limit, max_bytes)
    except (RuntimeError, MemoryError) as e:
        code, best, blocked, steps, cache, note = -1, [], None, 0, 0, str(e)
    valid = True if code == 1 else False if code == 0 else UNKNOWN
    if code == -1 and not note:
        note = f"time limit reached; longest linearizable prefix so far {len(best)} of {len(entries) // 2} ops"
    return valid, best, blocked, time.perf_counter() - t0, steps, cache, note


def _prepare(ops: list[Operation], model: Model):
    """Drop ops that constrain nothing and group the rest by partition key,
    keeping the first appearance order of keys."""
    prep = model.prepare or (lambda op: ((op.f, op.value), (op.status, op.result)))
    part = model.partition or (lambda op: op.key)
    accepted = model.operations
    groups: dict = {}
    for op in ops:
        if accepted is not None and op.f not in accepted:
            raise HistoryError(f"{op.where}: model {model.name} has no operation {op.f!r} ({', '.join(sorted(accepted))})")
        if op.status == "fail" and op.error is not None:
            continue  # definitely did not take effect
        try:
            io = prep(op)
            k = part(op)
        except (ValueError, TypeError) as e:
            raise HistoryError(f"{op.where}: {e}") from None
        except RecursionError:
            raise HistoryError(f"{op.where}: value nested too deeply") from None
        if io is None:
            continue
        try:
            g = groups[k]
        except KeyError:
            g = groups[k] = ([], [], [])
        except TypeError:
            raise HistoryError(f"{op.where}: key {k!r} is not hashable") from None
        g[0].append(op)
        g[1].append(io[0])
        g[2].append(io[1])
    return groups


def check(history, model="cas-register", timeout: float | None = None, *, compiled: bool | None = None,
          processes: int | None = None, progress: Callable[[int, int], None] | None = None,
          max_memory: int | None = None, method: str = "auto", initial=models._NO_VALUE,
          witnesses: bool = True) -> Result:
    """Check a history (event dicts, e.g. `checker.history.load(path)`) against
    `model` (a built-in name or a `Model`). `timeout` in seconds turns an
    unfinished search into valid == "unknown", and so does a search that would
    grow past `max_memory` bytes. `compiled`: None = the C search
    when the model has one, False = the pure-Python search. Raises HistoryError
    for unusable input and native.CompiledMissing when the C core is not built.
    `method`: "auto" decides partitions whose writes are unique in polynomial
    time (checker/unique.py) and searches the rest; "search" searches all (the
    cross-check). `initial`: the built-in models' initial value (default
    absent / "")."""
    if method not in ("auto", "search"):
        raise ValueError(f"method must be auto or search, not {method!r}")
    # The cyclic garbage collector is paused: a check makes no cycles, only
    # many small objects, whose collection passes cost up to a third of the time.
    with no_gc():
        return _check(history, model, timeout, compiled, processes, progress, max_memory, method, initial,
                      witnesses)


def _check(history, model, timeout, compiled, processes, progress, max_memory, method, initial,
           witnesses) -> Result:
    t0 = time.perf_counter()
    deadline = None if timeout is None else time.monotonic() + timeout
    model = models.get(model, initial)
    if compiled is None:
        compiled = model.encode is not None
        if compiled:
            native.require()
    elif compiled and model.encode is None:
        raise ValueError(f"model {model.name} has no compiled search (no encode)")
    source = history.path if isinstance(history, (History, Pairing)) else None
    groups = _prepare(operations(history), model)
    parts = [PartitionResult(k, UNKNOWN, g[0], g[1], g[2], [], None) for k, g in groups.items()]
    total_ops = sum(len(p.ops) for p in parts)
    # Unique-value partitions first, in this process: polynomial, and each answer certified.
    jobs = []
    for p in parts:
        if method == "search" or not _decide_unique(p, model, deadline, max_memory):
            jobs.append((p, None, None))
    done = len(parts) - len(jobs)
    if progress and done:
        progress(done, len(parts))

    def record(p, res):
        p.valid, p.linearization, p.blocked, p.seconds, p.steps, p.cache_entries, p.note = res
        p.method = "search"

    threshold = PARALLEL_MIN_OPS_COMPILED if compiled else PARALLEL_MIN_OPS_PYTHON
    spec = model.name if model is models.MODELS.get(model.name) else model
    parallel = len(jobs) > 1 and sum(len(p.ops) for p, _, _ in jobs) >= threshold
    if parallel:
        workers = processes if processes is not None else (os.cpu_count() or 1)
        parallel = workers > 1 and _picklable(spec)
    # What the searches may add to what this process already holds (the history).
    share = None if not max_memory else max(32 * 2**20, max_memory - _rss()) // (min(workers, len(jobs)) if parallel else 1)
    if parallel:
        import concurrent.futures as cf
        import multiprocessing as mp

        with cf.ProcessPoolExecutor(min(workers, len(jobs)), mp_context=mp.get_context("spawn")) as pool:
            futs = {}
            for p, _, _ in sorted(jobs, key=lambda j: -len(j[0].ops)):
                futs[pool.submit(_run_one, spec, p.inputs, p.outputs, _entries(p.ops), compiled, deadline, None,
                                 share)] = p
            for fut in cf.as_completed(futs):
                record(futs[fut], fut.result())
                done += 1
                if progress:
                    progress(done, len(parts))
    else:
        for p, _, _ in jobs:
            record(p, _run_one(model, p.inputs, p.outputs, _entries(p.ops), compiled, deadline, None, share))
            done += 1
            if progress:
                progress(done, len(parts))
    result = Result(UNKNOWN, parts, total_ops, 0.0, model, source,
                    history.time_unit if isinstance(history, (History, Pairing)) else clock_of(history))
    result.origin = min((p.ops[0].call for p in parts if len(p.ops)), default=0)
    # Witnesses share a budget, so a run with many failing keys still ends soon.
    wit_deadline = time.monotonic() + WITNESS_SECONDS
    for p in parts:
        if p.valid is False and witnesses and time.monotonic() < wit_deadline:
            _witness(result, p, min(wit_deadline, deadline or math.inf))
    verdicts = [p.valid for p in parts]
    valid = False if False in verdicts else UNKNOWN if UNKNOWN in verdicts else True
    if valid is True and not _has_operations(history, parts):
        valid = EMPTY
    result.valid, result.seconds = valid, time.perf_counter() - t0
    return result


WITNESS_SECONDS = 10.0


def _witness(result: Result, p: PartitionResult, deadline) -> None:
    """Shrink a violation to its witness; a witness the search does not confirm
    means the polynomial procedure erred, and the search decides the partition."""
    from checker import witness

    # The search's judgements of weakened histories are slower: a shorter budget.
    budget = max(0.5, min(3.0 if p.method == "unique-values" else 1.5, deadline - time.monotonic()))
    try:
        w = witness.shrink(result.model, p, sentence_time(result), budget)
    except (MemoryError, RecursionError):
        return
    if w is not None and w.confirmed is False and p.method == "unique-values":
        res = _run_one(result.model, p.inputs, p.outputs, _entries(p.ops), result.model.encode is not None,
                       None if deadline == math.inf else deadline)
        p.valid, p.linearization, p.blocked, _, p.steps, p.cache_entries, p.note = res
        p.method = "search"
        p.note = (p.note + "; " if p.note else "") + "the unique-value procedure's witness was not confirmed"
        if p.valid is not False:
            return
        w = witness.shrink(result.model, p, sentence_time(result), budget)
    p.witness = w


def sentence_time(result: Result) -> Callable[[float], str]:
    """Times in witness sentences: seconds since the history's first call for
    nanosecond clocks, line or event numbers otherwise."""
    origin = getattr(result, "origin", 0)
    if result.time_unit == "ns":
        # Milliseconds when they matter: ops of a fast store are microseconds apart.
        return lambda t: "never" if t == math.inf else f"{(t - origin) / 1e9:.6f} s"
    if result.time_unit == "event":
        return lambda t: "never" if t == math.inf else f"event #{int(t)}"
    return lambda t: "never" if t == math.inf else f"line {t:g}"


def _decide_unique(p: PartitionResult, model: Model, deadline, max_memory) -> bool:
    """Decide `p` with the polynomial unique-value procedure when it applies
    (built-in models whose writes are unique); False: the search must."""
    base = models.base(model)
    if base is None or not p.ops:
        return False
    t0 = time.perf_counter()
    try:
        if base.name == "cas-register":
            out = unique.register(p.ops, p.inputs, p.outputs, model.init(), deadline, max_memory)
        else:
            out = unique.append(p.ops, p.inputs, p.outputs, model.init(), deadline)
    except MemoryError:
        return False
    if out is None:
        return False
    p.valid = out.valid
    p.linearization = out.order if out.valid else [i for i in out.order if i != out.blocked]
    p.blocked, p.conflict, p.reason = out.blocked, out.conflict, out.reason
    p.method = "unique-values"
    p.seconds = time.perf_counter() - t0
    return True


def _rss() -> int:
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def _has_operations(history, parts) -> bool:
    """Any client operation at all (also ones that constrain nothing, e.g. failed reads)?"""
    if any(len(p.ops) for p in parts):
        return True
    if isinstance(history, Pairing):
        return bool(history.ops)
    return any(type(ev) is dict and ev.get("process") != "nemesis" for ev in history)


def _picklable(spec) -> bool:
    if isinstance(spec, str):
        return True
    try:
        pickle.dumps(spec)
        return True
    except Exception:
        return False


def replay(model: Model, part: PartitionResult) -> list:
    """The states after each op of the partition's longest prefix."""
    state, states = model.init(), []
    for i in part.linearization:
        ok, state = model.step(state, part.inputs[i], part.outputs[i])
        states.append(state)
    return states


def describe_state(model: Model, state) -> str:
    return model.describe_state(state) if model.describe_state else repr(state)


def time_format(result: Result, part: PartitionResult) -> Callable[[float], str]:
    """How a report shows times of `part`: for nanosecond clocks, ms since
    the partition's first call (raw monotonic readings mean nothing to a
    reader); line numbers as they are."""
    if result.time_unit == "ns" and len(part.ops):
        origin = part.ops[0].call  # ops are in call order
        return lambda t: "never returned" if t == math.inf else f"{(t - origin) / 1e6:.3f} ms"
    if result.time_unit == "event":
        return lambda t: "never returned" if t == math.inf else f"event #{int(t)}"
    return lambda t: "never returned" if t == math.inf else f"{'line ' if result.time_unit == 'line' else ''}{t:g}"
