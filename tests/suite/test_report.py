"""report.html points at the anomaly: every failing key listed with its own anchor, grouped by
the fault window it fell in, named as the checker's witness names it, with the serving node
and times relative to the run; and it opens in a real headless Chromium."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile

import pytest

from splitbrain import rundir
from splitbrain.evaluate import evaluate

MS = 1_000_000
T0 = 5_000_000_000_000  # a monotonic clock far from zero: every time shown must be relative to it
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
FINAL = 999_000_000  # the final reader's processes (workloads.final)


def _op(events, proc, f, key, value, call_ms, ret_ms, typ="ok", node=None):
    events.append({"process": proc, "type": "invoke", "f": f, "key": key, "value": None if f == "read" else value,
                   "time": T0 + call_ms * MS})
    done = {"process": proc, "type": typ, "f": f, "key": key, "value": value, "time": T0 + ret_ms * MS}
    if node:
        done["node"] = node
    events.append(done)


def _nemesis(events, f, at_ms, fault=None, phase=None, value=None):
    events.append({"process": "nemesis", "type": "info", "f": f, "value": value or {}, "time": T0 + at_ms * MS,
                   **({"fault": fault} if fault else {}), **({"phase": phase} if phase else {})})


def stale_run(tmp_path, keys_per_window=13):
    """26 keys with a stale read each, half in a partition, half in a kill; one more key whose
    acknowledged write only the final read shows lost."""
    events = []
    t = 0
    windows = [("partition-halves", "start-partition", 1000, 4000), ("kill-one", "kill", 6000, 9000)]
    for fault, f, start, stop in windows:
        _nemesis(events, f, start, fault, "start", {"grudge": {}} if fault.startswith("partition") else {"down": []})
        for k in range(keys_per_window):
            key = f"{fault}-k{k}"
            t = start + 10 + 200 * k
            _op(events, 1, "write", key, 1, t, t + 5, node="n1")
            _op(events, 1, "write", key, 2, t + 10, t + 15, node="n1")
            _op(events, 2, "read", key, 1, t + 20, t + 25, node="n3")  # stale: 2 was written before
        _nemesis(events, "heal" if fault.startswith("partition") else "restart", stop, fault, "stop")
    _op(events, 3, "write", "lost", 7, 9500, 9505, node="n2")
    _nemesis(events, "heal", 10000, phase="stop")
    _op(events, FINAL, "read", "lost", None, 13000, 13002, node="n2")
    events.sort(key=lambda e: e["time"])
    run = tmp_path / "run"
    (run / "nodes").mkdir(parents=True)
    (run / rundir.HISTORY).write_text("".join(json.dumps(e) + "\n" for e in events))
    (run / rundir.CONFIG).write_text(json.dumps({"nodes": 3, "time": 12}))
    return run


@pytest.mark.unit
def test_every_failing_key_is_listed_with_its_own_anchor_grouped_by_fault_window(tmp_path):
    run = stale_run(tmp_path)
    s = evaluate(run)
    assert s["verdict"] == "NOT LINEARIZABLE" and len(s["linearizable"]["failing"]) == 27
    page = (run / rundir.REPORT).read_text()
    anchors = re.findall(r'<div class="key" id="([^"]+)"', page)
    assert len(anchors) == 27 == len(set(anchors)) and "first-error" not in page
    for a in anchors:
        assert f'href="#{a}"' in page  # each reachable from its group's list
    groups = re.findall(r"<h3>([^<(]+)\(", page)
    assert [g.strip() for g in groups if "key" not in g][:3] == ["partition-halves", "kill-one", "after the final heal"]
    assert page.count('<span class="kind">stale read</span>') == 26
    assert page.count('<span class="kind">lost write</span>') == 1
    # times relative to the run's first operation, as in the witness sentences; the serving node shown
    first = s["linearizable"]["witnesses"][0]
    assert " at 0.020000 s" in first["sentence"] and ">0.020000<" in page
    assert "<td>n3</td>" in page and "<td>n1</td>" in page
    assert str(T0) not in re.sub(r"<pre>.*?</pre>", "", page, flags=re.S)
    assert "(final read)" in page


@pytest.mark.unit
def test_the_page_is_escaped(tmp_path):
    events = []
    key = "<script>alert(1)</script>"
    _op(events, 1, "write", key, 1, 0, 5)
    _op(events, 1, "write", key, 2, 10, 15)
    _op(events, 2, "read", key, 1, 20, 25)
    run = tmp_path / "run"
    (run / "nodes").mkdir(parents=True)
    (run / rundir.HISTORY).write_text("".join(json.dumps(e) + "\n" for e in events))
    evaluate(run)
    page = (run / rundir.REPORT).read_text()
    assert "<script>alert(1)" not in page and "&lt;script&gt;alert(1)" in page


def chromium(*args):
    from system_parts import require

    require("chromium")
    with tempfile.TemporaryDirectory() as profile:
        return subprocess.run([shutil.which("chromium"), *FLAGS, f"--user-data-dir={profile}", *args],
                              capture_output=True, timeout=120, text=True)


def _pixels(png):
    from PIL import Image

    return Image.open(png).convert("RGB")


def _red_runs(img, x, colour=(0xe6, 0x39, 0x46), below=150) -> int:
    """Separate vertical runs of `colour` in column x below the badge (each failing key's box has a
    red left border)."""
    runs, inside = 0, False
    for y in range(below, img.size[1]):
        red = img.getpixel((x, y)) == colour
        runs += red and not inside
        inside = red
    return runs


@pytest.mark.integration
def test_chromium_draws_the_verdict_and_every_failing_key(tmp_path):
    run = stale_run(tmp_path, keys_per_window=3)
    evaluate(run)
    page = run / rundir.REPORT
    dom = chromium("--dump-dom", page.as_uri()).stdout
    assert 'id="verdict"' in dom and "NOT LINEARIZABLE" in dom and dom.count('class="key"') == 7
    png = tmp_path / "report.png"
    chromium("--window-size=1200,5000", f"--screenshot={png}", page.as_uri())
    img = _pixels(png)
    assert img.size == (1200, 5000)
    badge = sum(1 for x in range(0, 400) for y in range(40, 110) if img.getpixel((x, y)) == (0xe6, 0x39, 0x46))
    assert badge > 2000, badge  # the red NOT LINEARIZABLE badge at the top
    border = next(x for x in range(0, 80) if _red_runs(img, x) >= 7)  # the keys' red left borders
    assert _red_runs(img, border) == 7
    keep = os.environ.get("SPLITBRAIN_KEEP_SCREENSHOT")
    if keep:
        shutil.copy(png, keep)
