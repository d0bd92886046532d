"""No input makes the checker lie, crash or lose a verdict (issue #22 items 6,
7, 9 on the checker's side): a torn last line is dropped and named, any other
bad line is exit 2; an empty history is not a pass; the HTML failing keeps the
verdict; every bad value is one line and exit 2; a fuzz test over the importers and
`check` itself; reading a file a block at a time (what `check` and `report` do, to
hold operations and not parsed events) pairs exactly as reading it whole."""
from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import checker
from checker.history import HistoryError, load, pair, pair_file
from clitool import jl, sb

pytestmark = pytest.mark.unit

W = [{"process": 0, "type": "invoke", "f": "write", "key": "k", "value": 1, "time": 10},
     {"process": 0, "type": "ok", "f": "write", "key": "k", "value": 1, "time": 20}]
STALE = W + [{"process": 0, "type": "invoke", "f": "write", "key": "k", "value": 2, "time": 30},
             {"process": 0, "type": "ok", "f": "write", "key": "k", "value": 2, "time": 40},
             {"process": 1, "type": "invoke", "f": "read", "key": "k", "time": 50},
             {"process": 1, "type": "ok", "f": "read", "key": "k", "value": 1, "time": 60}]




def one_line_exit_2(p):
    assert p.returncode == 2, (p.returncode, p.stdout, p.stderr)
    assert "Traceback" not in p.stderr and len(p.stderr.strip().splitlines()) == 1, p.stderr


def test_torn_last_line_dropped_and_named(tmp_path):
    f = jl(tmp_path, "h.jsonl", STALE, '{"process": 2, "type": "inv')
    p = sb(f)
    assert p.returncode == 1, p.stderr  # the violation before the tear is still found
    assert f"{f}:7: torn last line dropped" in p.stdout
    j = json.loads(sb("--json", f).stdout)
    assert j["valid"] is False and j["torn_last_line"] == 7
    h = checker.load(f)
    assert h.torn.line == 7 and len(h) == 6


def test_a_complete_last_line_without_newline_is_kept(tmp_path):
    f = tmp_path / "h.jsonl"
    f.write_text("".join(json.dumps(e) + "\n" for e in STALE[:-1]) + json.dumps(STALE[-1]))
    h = checker.load(f)
    assert h.torn is None and len(h) == 6 and checker.check(h).valid is False


@pytest.mark.parametrize("where", [2, 5])
def test_a_bad_line_elsewhere_is_an_error_not_a_pass(tmp_path, where):
    lines = [json.dumps(e) for e in STALE]
    lines.insert(where, '{"process": 2, "type": "inv')
    f = tmp_path / "h.jsonl"
    f.write_text("\n".join(lines) + "\n")
    p = sb(f)
    one_line_exit_2(p)
    assert f"{f}:{where + 1}:" in p.stderr
    # Also a torn line that did get its newline: only an unterminated tail is a tear.
    g = tmp_path / "g.jsonl"
    g.write_text("\n".join(json.dumps(e) for e in STALE) + '\n{"process": 2, "type": "inv\n')
    one_line_exit_2(sb(g))


def test_empty_history_is_its_own_verdict(tmp_path):
    for content in ["", "\n\n", json.dumps({"process": "nemesis", "type": "info", "f": "kill", "time": 1}) + "\n"]:
        f = tmp_path / "e.jsonl"
        f.write_text(content)
        p = sb(f)
        assert p.returncode == 4 and "no operations" in p.stdout, (content, p.stdout, p.stderr)
        assert json.loads(sb("--json", f).stdout)["valid"] == "empty"
    assert checker.check([]).valid == checker.EMPTY


def test_html_into_missing_directory_keeps_the_verdict(tmp_path):
    good, bad = jl(tmp_path, "good.jsonl", W), jl(tmp_path, "bad.jsonl", STALE)
    p = sb("--html", tmp_path / "no" / "such" / "v.html", good)
    assert p.returncode == 2 and "linearizable" in p.stdout and "cannot write" in p.stderr
    assert "Traceback" not in p.stderr
    p = sb("--html", tmp_path / "no" / "v.html", bad)
    assert p.returncode == 1 and "NOT linearizable" in p.stdout  # a violation outranks the lost picture


def test_every_file_reported_then_worst_code(tmp_path):
    bad = jl(tmp_path, "bad.jsonl", STALE)
    p = sb(bad, tmp_path / "missing.jsonl")
    assert p.returncode == 1 and "NOT linearizable" in p.stdout and "missing.jsonl" in p.stderr
    good = jl(tmp_path, "good.jsonl", W)
    p = sb(good, tmp_path / "missing.jsonl", tmp_path / "e.jsonl")
    assert p.returncode == 2 and "linearizable" in p.stdout


@pytest.mark.parametrize("value", ["nan", "-1", "0", "inf", "-inf", "abc"])
def test_bad_timeouts(tmp_path, value):
    one_line_exit_2(sb("--timeout", value, jl(tmp_path, "h.jsonl", W)))


@pytest.mark.parametrize("value", ["nan", "1", "lots", "-4G"])
def test_bad_max_memory(tmp_path, value):
    one_line_exit_2(sb("--max-memory", value, jl(tmp_path, "h.jsonl", W)))


def test_hostile_values(tmp_path):
    deep = "[" * 1000 + "]" * 1000
    cases = {
        "deep.jsonl": '{"process": 0, "type": "invoke", "f": "write", "key": 1, "value": %s, "time": 1}\n' % deep,
        "big.jsonl": '{"process": 0, "type": "invoke", "f": "write", "key": 1, "value": %s, "time": 1}\n' % ("9" * 5000),
        "type.jsonl": '{"process": 0, "type": [], "f": "read", "time": 1}\n',
        "time.jsonl": '{"process": 0, "type": "invoke", "f": "read", "time": 1e999}\n',
    }
    for name, text in cases.items():
        f = tmp_path / name
        f.write_text(text)
        p = sb(f)
        one_line_exit_2(p)
        assert name in p.stderr
    ok = tmp_path / "deep-ok.jsonl"  # deep but within what JSON parses: a value like any other
    ok.write_text('{"process": 0, "type": "invoke", "f": "write", "key": 1, "value": %s, "time": 1}\n'
                  '{"process": 0, "type": "ok", "f": "write", "key": 1, "value": 1, "time": 2}\n' % ("[" * 900 + "]" * 900))
    assert sb(ok).returncode == 0
    j = tmp_path / "j.log"
    j.write_text("INFO  jepsen.util - 3\t:invoke\t:write\t%s\n" % ("7" * 5000))
    p = sb("--format", "jepsen-log", j)
    one_line_exit_2(p)
    assert f"{j}:1:" in p.stderr
    k = tmp_path / "k.txt"
    k.write_text('{:process %s, :type :invoke, :f :get, :key "1", :value nil}\n' % ("1" * 5000))
    p = sb("--format", "porcupine-kv", "--model", "kv", k)
    one_line_exit_2(p)
    assert f"{k}:1:" in p.stderr


def test_pairing_keeps_node_latency_and_nemesis():
    events = [{"process": 0, "type": "invoke", "f": "write", "key": "k", "value": 1, "time": 10},
              {"process": "nemesis", "type": "info", "f": "kill", "value": ["n1"], "time": 12},
              {"process": 0, "type": "info", "f": "write", "key": "k", "value": 1, "time": 20, "node": "n2",
               "latency": 10, "error": "timeout"},
              {"process": 1, "type": "invoke", "f": "read", "key": "k", "time": 30}]
    p = pair(events)
    a, b = p.ops
    assert (a.status, a.call, a.ret, a.end, a.node, a.latency, a.error) == ("info", 10, float("inf"), 20, "n2", 10, "timeout")
    assert (b.status, b.end) == ("info", None)
    assert p.nemesis == [(1, events[1])]


# -- fuzz: any text in any format gives a verdict or one HistoryError ----------

_EVENT = st.fixed_dictionaries({}, optional={
    "process": st.one_of(st.integers(-3, 3), st.sampled_from(["nemesis", "p"]), st.none(), st.lists(st.integers())),
    "type": st.one_of(st.sampled_from(["invoke", "ok", "fail", "info", "x"]), st.lists(st.integers(), max_size=1),
                      st.none()),
    "f": st.one_of(st.sampled_from(["read", "write", "cas", "delete", "get", "put", "append", "zz"]), st.integers()),
    "key": st.one_of(st.integers(0, 2), st.text(max_size=2), st.lists(st.integers(), max_size=2)),
    "value": st.recursive(st.one_of(st.none(), st.integers(), st.text(max_size=3), st.booleans(), st.floats()),
                          lambda c: st.lists(c, max_size=3), max_leaves=6),
    "time": st.one_of(st.integers(0, 50), st.floats(allow_nan=True), st.text(max_size=1)),
    "error": st.one_of(st.none(), st.text(max_size=3)),
})


def _lines(draw_events, junk):
    return "".join(json.dumps(e) + "\n" for e in draw_events) + junk


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(events=st.lists(_EVENT, max_size=8), junk=st.text(max_size=20),
       fmt_model=st.sampled_from([("jsonl", "cas-register"), ("jsonl", "kv"), ("jepsen-log", "cas-register"),
                                  ("porcupine-kv", "kv"), ("jepsen-edn", "cas-register")]),
       raw=st.text(max_size=200))
def test_fuzz_importers(tmp_path_factory, events, junk, fmt_model, raw):
    fmt, model = fmt_model
    path = tmp_path_factory.mktemp("fuzz") / "h"
    if fmt == "jsonl":
        path.write_text(_lines(events, junk))
    else:
        lines = ["INFO  jepsen.util - 3\t:invoke\t:write\t1", "INFO  jepsen.util - 3\t:ok\t:write\t1",
                 '{:process 1, :type :invoke, :f :get, :key "1", :value nil}',
                 "[{:process 0, :type :invoke, :f :write, :value [1 2]} {:process 0 :type :ok :f :read :value 3}"]
        path.write_text("\n".join(lines) + "\n" + raw)
    try:
        h = checker.load(path, fmt)
        r = checker.check(h, model, timeout=5)
    except checker.HistoryError as e:
        assert "\n" not in str(e) and str(e)
        return
    assert r.valid in (True, False, checker.UNKNOWN, checker.EMPTY)


def test_cli_max_memory_turns_into_unknown(tmp_path):
    from checker.synth import crowd

    ev = crowd(16, 24, repeat=4, read=lambda p: (p * 7) % 5)
    f = jl(tmp_path, "h.jsonl", ev)
    p = sb("--max-memory", "200M", "--timeout", "60", f)
    assert p.returncode == 3 and "memory limit" in p.stdout, (p.stdout, p.stderr)


def _as_tuples(p):
    ops = [(o.id, o.process, o.f, o.key, o.value, o.result, o.status, o.call, o.ret, o.error, o.node, o.latency,
            o.end, o.where) for o in p.ops]
    return ops, [(i, ev) for i, ev in p.nemesis], p.torn, p.time_unit, p.source.where(len(p.ops))


def _whole(path):
    """The reference: the file read whole, then paired."""
    return pair(load(path))


_LINE = st.one_of(_EVENT.map(json.dumps), _EVENT.map(json.dumps), _EVENT.map(json.dumps),
                  st.sampled_from(["", " ", "{", "[1]", '{"process": 1, "ty', "\ufeff{}"]), st.text(max_size=6))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(lines=st.lists(_LINE, max_size=10), tail=st.sampled_from(["", "\n", '{"process": 0, "ty', "{}", "x",
                                                                '{"process": "nemesis", "f": "kill", "time": 99}']),
       junk=st.sampled_from([b"", b"", b"\xff\n", b"\xe2\x82\n"]), at=st.integers(0, 10),
       block=st.sampled_from([1, 7, 40, 1 << 20]))
def test_reading_a_block_at_a_time_pairs_as_reading_whole(tmp_path_factory, lines, tail, junk, at, block):
    """Every block size gives the same operations, nemesis steps, torn line, clock and places as the whole
    file, or fails as it does: with one block (the file fits) by the same message, with many by one
    HistoryError too (then the first bad line may be named in place of the first bad byte)."""
    text = "".join(line + "\n" for line in lines[:at]).encode() + junk + \
        "".join(line + "\n" for line in lines[at:]).encode() + tail.encode()
    path = tmp_path_factory.mktemp("blocks") / "history.jsonl"
    path.write_bytes(text)
    try:
        whole = _as_tuples(_whole(path))
    except HistoryError as e:
        with pytest.raises(HistoryError) as got:
            pair_file(path, block)
        if block >= len(text):
            assert str(got.value) == str(e)
        assert "\n" not in str(got.value)
        return
    assert _as_tuples(pair_file(path, block)) == whole


def test_blocks_continue_the_clock_and_the_open_operations(tmp_path):
    """An operation invoked in one block and completed in a later one is one operation; time may not go
    backwards across a block's edge; a bad line in a later block is named by its line in the file."""
    events = [{"process": p, "type": "invoke", "f": "write", "key": "k", "value": p, "time": 10 + p}
              for p in range(5)] + [{"process": p, "type": "ok", "f": "write", "key": "k", "value": p,
                                     "time": 20 + p, "node": "n1"} for p in range(5)]
    f = jl(tmp_path, "h.jsonl", events)
    p = pair_file(f, 64)
    assert [(o.process, o.status, o.call, o.ret, o.where) for o in p.ops] == \
        [(q, "ok", 10 + q, 20 + q, f"{f}:{q + 1}") for q in range(5)]
    assert len({id(o.node) for o in p.ops}) == 1 and len({id(o.f) for o in p.ops}) == 1  # one string, shared
    back = jl(tmp_path, "back.jsonl", events[:6] + [{**events[6], "time": 1}])
    with pytest.raises(HistoryError, match=r"back.jsonl:7: time goes backwards"):
        pair_file(back, 64)
    bad = tmp_path / "bad.jsonl"
    bad.write_text("".join(json.dumps(e) + "\n" for e in events[:8]) + "{\n" + json.dumps(events[8]) + "\n")
    with pytest.raises(HistoryError, match=r"bad.jsonl:9: not a JSON object"):
        pair_file(bad, 64)
    for block in (8, 1 << 20):  # a last line without its newline: kept when whole, named when torn
        whole = tmp_path / "whole.jsonl"
        whole.write_text("".join(json.dumps(e) + "\n" for e in STALE[:-1]) + json.dumps(STALE[-1]))
        p = pair_file(whole, block)
        assert p.torn is None and [o.status for o in p.ops] == ["ok", "ok", "ok"] and p.ops[2].result == 1
        torn = jl(tmp_path, "torn.jsonl", STALE, '{"process": 2, "type": "inv')
        p = pair_file(torn, block)
        assert p.torn.line == 7 and len(p.ops) == 3


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(events=st.lists(_EVENT, max_size=8), junk=st.text(max_size=20),
       fmt_model=st.sampled_from([("jsonl", "cas-register"), ("jsonl", "kv"), ("jepsen-log", "cas-register"),
                                  ("porcupine-kv", "kv"), ("jepsen-edn", "cas-register")]),
       raw=st.binary(max_size=120), json_out=st.booleans())
def test_fuzz_check_command(tmp_path_factory, events, junk, fmt_model, raw, json_out):
    """`splitbrain check` as its command runs it (without the process-wide memory limit, which would bind
    the test process): a verdict's exit status, or exit 2 with one line on stderr, never a traceback."""
    import argparse
    import io
    from contextlib import redirect_stderr, redirect_stdout

    from splitbrain.commands import check as command

    fmt, model = fmt_model
    path = tmp_path_factory.mktemp("fuzzcli") / "h"
    path.write_bytes((_lines(events, junk).encode() if fmt == "jsonl" else b"") + raw)
    parser = argparse.ArgumentParser()
    command.add_arguments(parser)
    args = parser.parse_args(["--format", fmt, "--model", model, "--timeout", "5", *(["--json"] * json_out), str(path)])
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = command.check_one(str(path), args, 1 << 30)
    assert code in (0, 1, 2, 3, 4), (code, err.getvalue())
    if code == 2:
        assert len([line for line in err.getvalue().splitlines() if line.strip()]) == 1, err.getvalue()
    else:
        assert out.getvalue().strip(), code
