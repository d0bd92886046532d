"""Our side of the benchmark, in its own warm process (like the Go harness):
per file and run, parse + check; JSON lines; then peak memory.
usage: python -m bench.checker.ours [--timeout S] REPEATS FORMAT:PATH...
FORMAT: jepsen-log | porcupine-kv | jsonl-cas-register | jsonl-kv"""
from __future__ import annotations

import json
import resource
import sys
import time

import checker

# format -> (checker.load format, model)
FORMATS = {"jepsen-log": ("jepsen-log", "cas-register"), "porcupine-kv": ("porcupine-kv", "kv"),
           "jsonl-cas-register": ("jsonl", "cas-register"), "jsonl-kv": ("jsonl", "kv")}


def main(argv) -> int:
    timeout = None
    if argv and argv[0].startswith("--timeout="):
        timeout = float(argv.pop(0).split("=", 1)[1])
    repeats = int(argv[0])
    checker.check([], "cas-register")  # load the compiled module before timing
    for arg in argv[1:]:
        fmt, path = arg.split(":", 1)
        load_as, model = FORMATS[fmt]
        for _ in range(repeats):
            t0 = time.perf_counter()
            result = checker.check(checker.load(path, load_as), model, timeout=timeout, witnesses=False)
            print(json.dumps({"file": path, "valid": result.valid, "seconds": time.perf_counter() - t0}), flush=True)
    print(json.dumps({"peak_rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
