"""`report` and `check` hold a history's operations, not its parsed events (issue #22 item 13): on a
run directory whose history is some 16 MB, the memory either command needs beyond what it needs for a
history of a few operations stays under four times the file's size (it is 2.5-2.7 times). Reading the
whole file into event dicts first took 6.8 (`report`) and 8.5 (`check`) times it, and the events lived
as long as the operations that pointed at them."""
import json
import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.integration

KEYS = 10
NODES = ("127.0.0.1:38311", "127.0.0.2:38312", "127.0.0.3:38313")


def write_run(run, ops):
    """A run directory as a run leaves it: compact JSON lines with string keys, the serving node and
    the latency; unique writes each read back, one at a time (linearizable, decided fast)."""
    run.mkdir()
    t = 3_000_000_000_000
    with open(run / "history.jsonl", "w") as fh:
        for i in range(ops):
            p, key = i % 30, f"register-38080907-{i // 2 % KEYS}"
            f, value = ("write", i // 2) if i % 2 == 0 else ("read", None)
            result = i // 2
            fh.write(f'{{"process":{p},"type":"invoke","f":"{f}","key":"{key}","value":{json.dumps(value)},'
                     f'"time":{t}}}\n')
            fh.write(f'{{"process":{p},"type":"ok","f":"{f}","key":"{key}","value":{result},'
                     f'"node":"{NODES[i % 3]}","time":{t + 700_000},"latency":700000}}\n')
            t += 1_000_000
    nodes = {str(n): {"role": "leader" if n == 1 else "follower", "term": 1, "leader": "1"} for n in (1, 2, 3)}
    (run / "status.jsonl").write_text("".join(json.dumps({"time": 3_000_000_000_000 + s * 10**8, "nodes": nodes})
                                              + "\n" for s in range(50)))
    (run / "config.json").write_text(json.dumps({"nodes": 3, "model": "cas-register"}))
    return run / "history.jsonl"


def peak_rss(*argv) -> tuple[int, int]:
    """(exit status, peak resident bytes) of `splitbrain ARGV` in a process of its own."""
    p = subprocess.Popen([sys.executable, "-m", "splitbrain", *map(str, argv)], stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE)
    try:
        _, status, usage = os.wait4(p.pid, 0)
    finally:
        p.returncode = 0 if p.returncode is None else p.returncode
        p.stderr.close()
    return os.waitstatus_to_exitcode(status), usage.ru_maxrss * 1024


@pytest.mark.parametrize("command", ["report", "check"])
def test_memory_grows_with_the_operations_not_the_parsed_file(tmp_path, command):
    small, big = tmp_path / "small", tmp_path / "big"
    write_run(small, 100)
    size = write_run(big, 70_000).stat().st_size
    target = (lambda run: run) if command == "report" else (lambda run: run / "history.jsonl")
    code, base = peak_rss(command, target(small))
    assert code == 0, code
    code, peak = peak_rss(command, target(big), "--timeout", "120")
    assert code == 0, code
    grown = peak - base
    print(f"{command}: {size / 2**20:.1f} MB history, peak {peak / 2**20:.0f} MB, tiny run {base / 2**20:.0f} MB, "
          f"grown {grown / size:.1f} x the file")
    assert grown < 4 * size, f"{command} grew {grown / 2**20:.0f} MB for a {size / 2**20:.1f} MB history " \
                             f"({grown / size:.1f} x)"
