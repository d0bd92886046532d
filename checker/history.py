"""Histories: the JSONL event format of DESIGN.md, importers for Jepsen etcd logs
and Porcupine kv logs, and the pairing of events into operations.

Every importer yields the same event dicts as the JSONL format (`process`,
`type`, `f`, `key`, `value`, `time`, optional `error`), in a `History` that
remembers the file and line of each event so that bad input is reported as
`FILE:LINE: reason`.
"""
from __future__ import annotations

import contextlib
import gc
import json
import math
import re
from array import array
from dataclasses import dataclass, field
from typing import Any, Iterable

FORMATS = ("jsonl", "jepsen-edn", "jepsen-log", "porcupine-kv")
TYPES = frozenset({"invoke", "ok", "fail", "info"})
INF = math.inf


class HistoryError(ValueError):
    """Unusable input; the message is one line naming where (file:line or event #)."""


class History(list):
    """A list of event dicts plus where each came from (for error messages)."""

    def __init__(self, events: Iterable[dict] = (), path: str | None = None, lines=None, trusted: bool = False,
                 time_unit: str = "ns"):
        super().__init__(events)
        self.path = path
        self.lines = lines
        # "ns": monotonic nanoseconds (DESIGN.md); "line": importers without
        # clocks use the line number as the time.
        self.time_unit = time_unit
        # Made by one of our importers: well-formed events in time order, so
        # pairing may skip the per-event checks.
        self.trusted = trusted
        self.torn: TornLine | None = None  # set by `load`

    def where(self, index: int) -> str:
        if self.lines is not None and index < len(self.lines):
            return f"{self.path or '<history>'}:{self.lines[index]}"
        return f"{self.path or 'history'} event #{index + 1}"


@dataclass(slots=True, eq=False)
class Operation:
    """One invoke paired with its completion. `status` is ok|fail|info; an info
    (or never completed) op has `ret` = +inf: it may take effect any time after
    `call`, or never."""

    id: int
    process: Any
    f: str
    key: Any
    value: Any  # the invoke's value (argument)
    result: Any  # the completion's value
    status: str
    call: float
    ret: float
    error: Any = None
    src: Any = None  # (History, index) of the invoke, for `where`
    node: Any = None  # the completion's "node" (which node served it), if recorded
    latency: Any = None  # the completion's "latency", if recorded
    end: Any = None  # time of the completion event, also for info; None if never completed

    @property
    def where(self) -> str:
        """FILE:LINE (or event #) of the invoke."""
        return self.src[0].where(self.src[1]) if self.src else "?"


def load(path, format: str = "jsonl") -> History:
    """Read one history file in `format` (see FORMATS). A torn last line (no
    final newline and unparsable: a run killed mid-write) is dropped and named
    in `History.torn`; any other bad line is a HistoryError."""
    try:
        parse = _PARSERS[format]
    except KeyError:
        raise HistoryError(f"unknown history format {format!r} (one of {', '.join(FORMATS)})") from None
    path = str(path)
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError as e:
        raise HistoryError(f"{path}: cannot read: {e.strerror or e}") from None
    # The text after the last newline is the only part a killed writer can have torn.
    cut = data.rfind(b"\n") + 1
    body, tail = data[:cut], data[cut:]
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as e:
        line = body.count(b"\n", 0, e.start) + 1
        raise HistoryError(f"{path}:{line}: not UTF-8 text ({e.reason})") from None
    torn = None
    if tail.strip():
        try:
            last = tail.decode("utf-8")
        except UnicodeDecodeError:
            last = None
        if last is not None and _complete(format, last):
            text += last
        else:
            torn = TornLine(text.count("\n") + 1, tail[:60].decode("utf-8", "replace"))
    with no_gc():
        try:
            history = parse(text, path)
        except RecursionError:
            raise HistoryError(f"{path}: values nested too deeply") from None
    history.torn = torn
    return history


@dataclass(frozen=True)
class TornLine:
    """The unterminated, unparsable last line a killed writer left; dropped."""

    line: int
    excerpt: str

    def describe(self, path) -> str:
        return f"{path}:{self.line}: torn last line dropped (a run killed mid-write): {self.excerpt!r}"


def _complete(format: str, line: str) -> bool:
    """Does an unterminated last line parse on its own (then it is kept)?"""
    if format == "jsonl":
        try:
            return type(json.loads(line)) is dict
        except (ValueError, RecursionError):
            return False
    if format == "jepsen-log":
        return _JEPSEN_LINE.match(line) is not None and (
            " jepsen.util " not in line or _JEPSEN_OP.match(_JEPSEN_LINE.match(line).group(3)) is not None
            or ":nemesis" in line)
    if format == "porcupine-kv":
        return _KV_LINE.match(line) is not None
    if format == "jepsen-edn":
        return True  # EDN is not line-based; its reader names any tear itself
    return False


@contextlib.contextmanager
def no_gc():
    """Pause the cyclic collector: parsing and checking make no cycles, only
    many small objects, whose collection passes cost up to a third of the time."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            # What was built stays: the collector's passes over it would find no
            # cycles, so it is moved out of their way instead of traversed.
            gc.freeze()
            gc.enable()


def _parse_jsonl(text: str, path: str, first: int = 1) -> History:
    # The whole file as one JSON array (one C call), when it has no blank
    # lines and parses; else line by line, to name the bad line. `first`:
    # the number of the text's first line in the file.
    body = text[:-1] if text.endswith("\n") else text
    if body and "\n\n" not in body:
        try:
            events = json.loads("[" + body.replace("\n", ",") + "]")
        except (ValueError, RecursionError):
            events = None
        if events is not None and len(events) == body.count("\n") + 1 and all(type(e) is dict for e in events):
            return History(events, path, range(first, first + len(events)), time_unit=clock_of(events))
    events, lines = [], []
    loads = json.loads
    for no, line in enumerate(text.split("\n"), first):
        if not line.strip():
            continue
        try:
            ev = loads(line)
        except ValueError as e:
            why = "number too long" if "digits" in str(e) else "truncated or malformed line"
            raise HistoryError(f"{path}:{no}: not a JSON object ({why})") from None
        except RecursionError:
            raise HistoryError(f"{path}:{no}: values nested too deeply") from None
        if type(ev) is not dict:
            raise HistoryError(f"{path}:{no}: not a JSON object")
        events.append(ev)
        lines.append(no)
    return History(events, path, lines, time_unit=clock_of(events))


def clock_of(events) -> str:
    """"ns" when events carry times, else "event": their order is the clock."""
    return "ns" if any(type(e) is dict and "time" in e for e in events) else "event"


# Jepsen's log: "INFO  jepsen.util - 3	:ok	:cas	[3 0]". Lines of other loggers
# (and the nemesis) are skipped; a jepsen.util op line that does not parse is an error.
_JEPSEN_LINE = re.compile(r"^(\w+)\s+(\S+)\s+-\s+(.*?)\s*$")
_JEPSEN_OP = re.compile(r"^(\d+)\s+:(invoke|ok|fail|info)\s+:([\w-]+)\s+(nil|-?\d+|\[-?\d+\s+-?\d+\]|:[\w-]+)$")


# The whole file at once, when every non-blank line is an op line (the usual
# case): one regex pass in C instead of two matches per line. Anything else
# takes the line-by-line path, which also names the offending line.
_JEPSEN_OPS = re.compile(r"^\w+[ \t]+jepsen\.util[ \t]+-[ \t]+(\d+)[ \t]+:(invoke|ok|fail|info)[ \t]+:([\w-]+)[ \t]+"
                         r"(nil|-?\d+|\[-?\d+[ \t]+-?\d+\]|:[\w-]+)[ \t\r]*$", re.M)
# Jepsen's own spacing, with the value's parts as groups: twice as fast again.
_JEPSEN_STRICT = re.compile(r"^\w+ +jepsen\.util - (\d+)\t:(invoke|ok|fail|info)\t:([\w-]+)\t"
                            r"(?:nil|(-?\d+)|\[(-?\d+) (-?\d+)\]|(:[\w-]+))$", re.M)


def _strict_jepsen_events(text: str):
    """Events of a file of Jepsen-spaced op lines only, else None."""
    try:
        return _strict_jepsen_events_unchecked(text)
    except ValueError:  # a number too long for int(): the line-by-line path names it
        return None


def _strict_jepsen_events_unchecked(text: str):
    ops = _JEPSEN_STRICT.findall(text)
    n = len(ops)
    if not n or n != text.count("\n") + (not text.endswith("\n")):
        return None
    events = [{"process": int(p), "type": ty, "f": f, "value": int(v) if v else [int(x), int(y)] if x else None, "time": no}
              for no, (p, ty, f, v, x, y, _) in enumerate(ops, 1)]
    for k in [k for k, m in enumerate(ops) if m[6]]:
        events[k] = _jepsen_event(k + 1, *ops[k][:3], ops[k][6])
    return events


def _jepsen_event(no, proc, typ, f, raw):
    if raw == "nil":
        return {"process": int(proc), "type": typ, "f": f, "value": None, "time": no}
    c = raw[0]
    if c == ":":
        # ":timed-out" and friends are errors, not values; a timed-out
        # request is indeterminate, whatever Jepsen typed it as.
        if typ == "fail" and raw == ":timed-out":
            typ = "info"
        return {"process": int(proc), "type": typ, "f": f, "value": None, "time": no, "error": raw[1:]}
    if c == "[":
        x, y = raw[1:-1].split()
        return {"process": int(proc), "type": typ, "f": f, "value": [int(x), int(y)], "time": no}
    return {"process": int(proc), "type": typ, "f": f, "value": int(raw), "time": no}


def _parse_jepsen_log(text: str, path: str) -> History:
    events = _strict_jepsen_events(text)
    if events is not None:
        return History(events, path, range(1, len(events) + 1), trusted=True, time_unit="line")
    ops = _JEPSEN_OPS.findall(text)
    n = len(ops)
    if n and n == text.count("\n") + (not text.endswith("\n")):
        # Every line an op line: event i is on line i + 1.
        try:
            events = [_jepsen_event(no, p, ty, f, r) if r[0] in "[:" else
                      {"process": int(p), "type": ty, "f": f, "value": None if r == "nil" else int(r), "time": no}
                      for no, (p, ty, f, r) in enumerate(ops, 1)]
            return History(events, path, range(1, n + 1), trusted=True, time_unit="line")
        except ValueError:
            pass  # a number too long: the line-by-line path below names its line
    events, lines = [], []
    line_re, op_re = _JEPSEN_LINE.match, _JEPSEN_OP.match
    for no, line in enumerate(text.split("\n"), 1):
        if not line.strip():
            continue
        m = line_re(line)
        if m is None:
            raise HistoryError(f"{path}:{no}: not a Jepsen log line")
        if m.group(2) != "jepsen.util" or m.group(3).startswith(":nemesis"):
            continue
        o = op_re(m.group(3))
        if o is None:
            raise HistoryError(f"{path}:{no}: malformed Jepsen operation {_short(m.group(3))}")
        try:
            events.append(_jepsen_event(no, *o.groups()))
        except ValueError:
            raise HistoryError(f"{path}:{no}: number too long") from None
        lines.append(no)
    return History(events, path, lines, trusted=True, time_unit="line")


_STR = r'"((?:[^"\\]|\\.)*)"'
_KV_LINE = re.compile(r"^\{:process (\d+), :type :(invoke|ok|fail|info), :f :(\w+), :key " + _STR + r", :value (?:nil|" + _STR + r")\}\s*$")


def _parse_porcupine_kv(text: str, path: str) -> History:
    events, lines = [], []
    match = _KV_LINE.match
    for no, line in enumerate(text.split("\n"), 1):
        if not line.strip():
            continue
        m = match(line)
        if m is None:
            raise HistoryError(f"{path}:{no}: not a Porcupine kv line ({{:process N, :type :T, :f :F, :key \"K\", :value V}})")
        proc, typ, f, key, value = m.groups()
        if len(proc) > 18:
            raise HistoryError(f"{path}:{no}: process number too long")
        events.append({"process": int(proc), "type": typ, "f": f, "key": key, "value": value, "time": no})
        lines.append(no)
    return History(events, path, lines, trusted=True, time_unit="line")


def _parse_jepsen_edn(text: str, path: str) -> History:
    """Jepsen's history.edn, as Jepsen means it: a vector, list or stream of op
    maps; :fail means the op did not happen (whatever f is), :info is
    indeterminate, a nil read value is unknown, [k v] values of an independent
    history split per key. Times are used when every op has one and they never
    go back; otherwise the order of the events is the clock ("event #n")."""
    from checker import edn

    try:
        forms = edn.read_all(text)
    except edn.EDNError as e:
        raise HistoryError(f"{path}: {e}") from None
    except RecursionError:
        raise HistoryError(f"{path}: nested too deeply") from None
    maps = []
    for value, pos in forms:
        items = value if isinstance(value, (list, tuple)) and len(forms) == 1 else [value]
        for item in items:
            if not isinstance(item, dict):
                line = text.count("\n", 0, pos) + 1
                raise HistoryError(f"{path}: line {line}: expected an operation map {{:process .. :type ..}}, "
                                   f"got {_short(item)}")
            maps.append((item, pos))
    ops = [m for m, _ in maps if m.get("process") != "nemesis"]
    independent = bool(ops) and all(_is_tuple(m) for m in ops)
    times = [m.get("time") for m, _ in maps]
    clock = all(type(t) is int for t in times) and all(a <= b for a, b in zip(times, times[1:]))
    events, lines = [], []
    for n, (m, pos) in enumerate(maps, 1):
        typ, f, proc = _plain(m.get("type")), _plain(m.get("f")), _plain(m.get("process"))
        ev = {"process": proc, "type": typ, "f": f if isinstance(f, str) else _short(f), "value": m.get("value"),
              "time": m["time"] if clock else n}
        if independent and ev["process"] != "nemesis":
            ev["key"], ev["value"] = ev["value"][0], ev["value"][1]
        if "error" in m:
            ev["error"] = _plain(m["error"])
        if typ == "fail" and ev["process"] != "nemesis":
            ev.setdefault("error", "fail")  # Jepsen's :fail: it did not happen
        if typ == "ok" and f == "read" and ev["value"] is None:
            ev["type"] = "info"  # a read that returned nothing known constrains nothing
        ev["value"] = _plain(ev["value"])
        events.append(ev)
        lines.append(text.count("\n", 0, pos) + 1 if len(maps) < 100000 else n)
    return History(events, path, lines, time_unit="ns" if clock and maps else "event")


def _is_tuple(m) -> bool:
    v = m.get("value")
    if not (isinstance(v, list) and len(v) == 2):
        return False
    return m.get("f") != "cas" or (isinstance(v[1], list) and len(v[1]) == 2) or v[1] is None


def _plain(v):
    """EDN values as the JSON events have them (keywords as strings, lists for vectors)."""
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    if isinstance(v, dict):
        return {str(k): _plain(x) for k, x in v.items()}
    if isinstance(v, str):
        return str(v)
    return v


_PARSERS = {"jsonl": _parse_jsonl, "jepsen-edn": _parse_jepsen_edn, "jepsen-log": _parse_jepsen_log,
            "porcupine-kv": _parse_porcupine_kv}


@dataclass
class Pairing:
    """A history's operations (in invoke order) and its nemesis events (in
    history order, as (index, event) pairs); `source.where(index)` says where
    an event came from."""

    ops: list = field(default_factory=list)
    nemesis: list = field(default_factory=list)
    source: Any = None  # the History (or, streamed, the Lines) the indexes refer to
    torn: TornLine | None = None  # as History.torn
    time_unit: str = "ns"

    @property
    def path(self) -> str | None:
        return getattr(self.source, "path", None)


class Lines:
    """Where each event of a streamed file came from (`where` as History's), without its events."""

    def __init__(self, path: str):
        self.path = path
        self.lines = array("q")

    def where(self, index: int) -> str:
        if index < len(self.lines):
            return f"{self.path}:{self.lines[index]}"
        return f"{self.path} event #{index + 1}"


def operations(events: Iterable[dict]) -> list[Operation]:
    """Pair invokes with completions; validate; skip the nemesis. Ops are in
    invoke order; an invoke never completed becomes an `info` op. Takes a
    Pairing as it is."""
    return events.ops if isinstance(events, Pairing) else pair(events).ops


def pair(events: Iterable[dict]) -> Pairing:
    """The one pairing of the project: every event validated (HistoryError
    naming file:line otherwise), nemesis events kept apart, node and latency
    kept with each operation."""
    if not isinstance(events, History):
        events = History(events)
    if events.trusted:
        return _pair_trusted(events)
    pairer = _Pairer(events)
    pairer.feed(events, 0)
    pairer.out.time_unit, pairer.out.torn = events.time_unit, events.torn
    return pairer.out


def pair_file(path, block_bytes: int = 1 << 20) -> Pairing:
    """`pair(load(path))` of a JSONL history, by the same rules (a torn last line
    dropped and named, any other bad line a HistoryError), read a block of lines
    at a time: a block's event dicts go once paired, so memory holds the
    operations and not the parsed file (a history's dicts take about six times
    its size)."""
    path = str(path)
    source = Lines(path)
    pairer = _Pairer(source)
    timed = False
    first = 1

    def feed(raw: bytes) -> None:
        nonlocal first, timed
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            line = first + raw.count(b"\n", 0, e.start)
            raise HistoryError(f"{path}:{line}: not UTF-8 text ({e.reason})") from None
        with no_gc():
            try:
                block = _parse_jsonl(text, path, first)
            except RecursionError:
                raise HistoryError(f"{path}: values nested too deeply") from None
            base = len(source.lines)
            source.lines.extend(block.lines)
            timed = timed or block.time_unit == "ns"
            pairer.feed(block, base)
        first += text.count("\n")

    try:
        with open(path, "rb") as fh:
            rest, parts = b"", []  # parts: blocks without a newline yet (a long line), joined once it ends
            while chunk := fh.read(block_bytes):
                cut = chunk.rfind(b"\n") + 1
                if not cut:
                    parts.append(chunk)
                    continue
                feed(b"".join([rest, *parts, chunk[:cut]]))
                rest, parts = chunk[cut:], []
            rest = b"".join([rest, *parts])
    except OSError as e:
        raise HistoryError(f"{path}: cannot read: {e.strerror or e}") from None
    if rest.strip():  # the text after the last newline: the only part a killed writer can have torn
        try:
            last = rest.decode("utf-8")
        except UnicodeDecodeError:
            last = None
        if last is not None and _complete("jsonl", last):
            feed(rest)
        else:
            pairer.out.torn = TornLine(first, rest[:60].decode("utf-8", "replace"))
    pairer.out.time_unit = "ns" if timed else "event"
    return pairer.out


class _Pairer:
    """The pairing loop, fed events a block at a time (`pair` feeds them all at once)."""

    def __init__(self, source):
        self.pending: dict[Any, Operation] = {}
        self.strings: dict[str, str] = {}
        self.out = Pairing(source=source)
        self.last = -INF

    def feed(self, events: History, base: int) -> None:
        """Pair `events`, the source's events from index `base` on."""
        pending, src, where = self.pending, self.out.source, self.out.source.where
        ops = self.out.ops
        append, pop, nemesis = ops.append, pending.pop, self.out.nemesis.append
        last = self.last
        isfinite, Op = math.isfinite, Operation
        # One object for each distinct string (op name, key, node, error): the parser makes a new one at every
        # event, and held by every operation they were most of a history's memory.
        share = self.strings.setdefault
        for i, ev in enumerate(events, base):
            # The common, well-formed event in few steps; anything unusual goes
            # through _checked, which names what is wrong.
            try:
                proc, typ, f, t = ev["process"], ev["type"], ev["f"], ev["time"]
            except (KeyError, TypeError):
                proc, typ, f, t = _checked(src, i, ev, last)
            else:
                if (type(typ) is not str or typ not in TYPES or type(f) is not str or type(proc) not in (int, str)
                        or type(t) not in (int, float) or not t >= last or not isfinite(t)):
                    if proc == "nemesis":
                        nemesis((i, ev))
                        continue
                    proc, typ, f, t = _checked(src, i, ev, last)
            if proc == "nemesis":
                nemesis((i, ev))
                continue
            last = t
            if typ == "invoke":
                if proc in pending:
                    raise HistoryError(f"{where(i)}: process {proc} invokes again before its previous operation completed")
                key = ev.get("key")
                if type(key) is str:
                    key = share(key, key)
                op = pending[proc] = Op(len(ops), proc, share(f, f), key, ev.get("value"), None, "info", t, INF,
                                        None, (src, i))
                append(op)
            else:
                op = pop(proc, None)
                if op is None:
                    raise HistoryError(f"{where(i)}: {typ} of process {proc} without a preceding invoke")
                if f != op.f:
                    raise HistoryError(f"{where(i)}: completion f {f!r} does not match the invoke's {op.f!r}")
                op.status = share(typ, typ)
                op.result = ev.get("value")
                op.end = t
                error, node = ev.get("error"), ev.get("node")
                op.error = share(error, error) if type(error) is str else error
                op.node = share(node, node) if type(node) is str else node
                op.latency = ev.get("latency")
                if typ != "info":
                    op.ret = t
        self.last = last


def _checked(events, i, ev, last):
    """(process, type, f, time) of event i, or the HistoryError saying what is wrong."""
    where = events.where
    if type(ev) is not dict:
        raise HistoryError(f"{where(i)}: event is not an object")
    proc = ev.get("process")
    if proc == "nemesis":
        return proc, None, None, None
    typ = ev.get("type")
    if type(typ) is not str or typ not in TYPES:
        raise HistoryError(f"{where(i)}: type must be one of invoke, ok, fail, info (got {_short(typ)})")
    f = ev.get("f")
    if type(f) is not str:
        raise HistoryError(f"{where(i)}: missing or non-string \"f\"")
    if proc is None or type(proc) not in (int, str):
        raise HistoryError(f"{where(i)}: missing or invalid \"process\"")
    t = ev.get("time", i + 1)  # no clock: the event's number (1-based) is its time
    if type(t) not in (int, float) or not math.isfinite(t):
        raise HistoryError(f"{where(i)}: \"time\" must be a finite number")
    if t < last:
        raise HistoryError(f"{where(i)}: time goes backwards ({t} after {last})")
    return proc, typ, f, t


def _short(v) -> str:
    r = repr(v)
    return r if len(r) <= 40 else r[:37] + "..."


def _pair_trusted(events: History) -> Pairing:
    """`pair` for well-formed histories from our importers."""
    pending: dict[Any, Operation] = {}
    out = Pairing(source=events, time_unit=events.time_unit, torn=events.torn)
    ops = out.ops
    append, pop = ops.append, pending.pop
    for i, ev in enumerate(events):
        proc = ev["process"]
        if proc == "nemesis":
            out.nemesis.append((i, ev))
            continue
        if ev["type"] == "invoke":
            if proc in pending:
                raise HistoryError(f"{events.where(i)}: process {proc} invokes again before its previous operation completed")
            op = pending[proc] = Operation(len(ops), proc, ev["f"], ev.get("key"), ev["value"], None, "info",
                                           ev["time"], INF, None, (events, i))
            append(op)
            continue
        op = pop(proc, None)
        if op is None:
            raise HistoryError(f"{events.where(i)}: {ev['type']} of process {proc} without a preceding invoke")
        if ev["f"] != op.f:
            raise HistoryError(f"{events.where(i)}: completion f {ev['f']!r} does not match the invoke's {op.f!r}")
        op.status = typ = ev["type"]
        op.result = ev["value"]
        op.error = ev.get("error")
        op.end = ev["time"]
        if typ != "info":
            op.ret = ev["time"]
    return out
