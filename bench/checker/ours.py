"""Our side of the benchmark, in its own warm process (like the Go harness):
per file and run, parse + check; JSON lines; then peak memory.
usage: python -m bench.checker.ours REPEATS FORMAT:PATH..."""
from __future__ import annotations

import json
import resource
import sys
import time

import checker

MODEL = {"jepsen-log": "cas-register", "porcupine-kv": "kv"}


def main(argv) -> int:
    repeats = int(argv[0])
    checker.check([], "cas-register")  # load the compiled module before timing
    for arg in argv[1:]:
        fmt, path = arg.split(":", 1)
        for _ in range(repeats):
            t0 = time.perf_counter()
            result = checker.check(checker.load(path, fmt), MODEL[fmt])
            print(json.dumps({"file": path, "valid": result.valid, "seconds": time.perf_counter() - t0}))
    print(json.dumps({"peak_rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
