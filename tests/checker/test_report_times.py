"""Reports show nanosecond times as ms since the partition's first call, and
clock-less importers' times as line numbers."""
from __future__ import annotations

import re

import pytest

import checker
from checker import report

pytestmark = pytest.mark.unit
T0 = 603_000_000_000  # a monotonic clock reading: meaningless to a reader


def test_html_and_text_show_seconds_since_the_first_call(tmp_path):
    ev = lambda p, typ, f, v, dt: {"process": p, "type": typ, "f": f, "key": "a", "value": v, "time": T0 + dt}
    h = [ev(0, "invoke", "write", 1, 0), ev(0, "ok", "write", 1, 2_500_000),
         ev(1, "invoke", "read", None, 3_000_000), ev(1, "ok", "read", None, 4_250_000)]
    result = checker.check(h)
    assert result.valid is False
    out = tmp_path / "r.html"
    checker.write_html(result, out)
    page = out.read_text()
    assert "<td>0.000000 s</td>" in page and "<td>0.002500 s</td>" in page and "0.004250 s" in page
    assert not re.search(r"6\.03e\+11|603000", page)
    assert "called 0.003000 s, returned 0.004250 s" in report.text(result, "h")  # seconds since the first call


def test_jepsen_log_times_are_line_numbers(corpus_dir):
    result = checker.check(checker.load(corpus_dir / "jepsen-etcd" / "etcd_000.log", "jepsen-log"))
    assert result.valid is False and result.time_unit == "line"
    assert re.search(r"called line \d+, returned line \d+", report.text(result, "x"))
