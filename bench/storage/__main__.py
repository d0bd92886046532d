"""python -m bench.storage: Pebble through the cffi binding vs a pure Go program.

Both sides run the same operations on a fresh database in the same run,
interleaved per repetition: batched writes (100 entries of 16 B keys and
100 B values per batch, synced and unsynced), point reads and 100-entry
scans over 100k preloaded keys. Printed: ops/s medians with min-max spread,
the binding/native ratio against its target, and the machine.
"""
from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench import machine as bench_machine

HERE = Path(__file__).resolve().parent
NATIVE_SRC = HERE / "native"
NATIVE_BIN = HERE / "out" / "native"

BATCH = 100
VALUE_SIZE = 100
KEYS = 100_000
# Both sides get a cache holding every preloaded block, so reads measure the
# call path rather than decompression of blocks that fell out of the cache.
CACHE = 64 << 20

# operation -> (count per repetition at full size, target ratio binding/native, unit)
OPERATIONS = {
    "write-sync": (300, 0.5, "entries/s"),
    "write-nosync": (2000, 0.5, "entries/s"),
    "get": (200_000, 0.3, "gets/s"),
    "scan": (10_000, None, "scans/s"),
}


def key(i: int) -> bytes:
    # 16 bytes, the same as native/main.go's key().
    return b"key-%012x" % i


def value(i: int) -> bytes:
    return bytes((i * 31 + j * 7) & 0xFF for j in range(VALUE_SIZE))


def write_batches(db, batches: int, sync: bool) -> None:
    v = value(0)
    for b in range(batches):
        batch = db.batch()
        base = b * BATCH
        for e in range(BATCH):
            batch.set(key(base + e), v)
        batch.commit(sync=sync)


def run_binding(op: str, count: int, directory: Path) -> float:
    from reference_kv.storage.pebble import PebbleDB

    db = PebbleDB(directory, cache_size=CACHE)
    try:
        if op in ("get", "scan"):
            write_batches(db, KEYS // BATCH, sync=False)
            db.flush()
        t0 = time.perf_counter()
        if op.startswith("write"):
            write_batches(db, count, sync=(op == "write-sync"))
            ops = count * BATCH
        elif op == "get":
            get = db.get
            for i in range(count):
                get(key((i * 7919) % KEYS))
            ops = count
        else:
            for i in range(count):
                for _ in db.iterate(lower=key((i * 7919) % (KEYS - BATCH)), limit=BATCH):
                    pass
            ops = count
        return ops / (time.perf_counter() - t0)
    finally:
        db.close()


def run_native(op: str, count: int, directory: Path) -> float:
    out = subprocess.run([str(NATIVE_BIN), "-dir", str(directory), "-op", op, "-count", str(count),
                          "-batch", str(BATCH), "-value-size", str(VALUE_SIZE), "-keys", str(KEYS),
                          "-cache", str(CACHE)],
                         capture_output=True, text=True, check=True)
    result = json.loads(out.stdout)
    return result["ops"] / result["seconds"]


def build_native() -> None:
    sources = list(NATIVE_SRC.glob("*.go")) + [NATIVE_SRC / "go.mod", NATIVE_SRC / "go.sum"]
    if NATIVE_BIN.exists() and all(s.stat().st_mtime <= NATIVE_BIN.stat().st_mtime for s in sources):
        return
    from reference_kv.storage.build import find_go

    go = find_go()
    if go is None:
        raise SystemExit("error: the Go toolchain is needed to build the native peer (bench/storage/native)")
    NATIVE_BIN.parent.mkdir(exist_ok=True)
    print("building the native Go peer (first build compiles Pebble: minutes)...", file=sys.stderr)
    subprocess.run([go, "build", "-trimpath", "-o", str(NATIVE_BIN), "."], cwd=NATIVE_SRC, check=True)


def machine() -> str:
    go = subprocess.run([shutil.which("go") or "go", "version"], capture_output=True, text=True).stdout.strip() \
        if shutil.which("go") else "go: not on PATH"
    return f"{bench_machine.line()}; {go.removeprefix('go version ')}, Pebble v2.1.7"


def fmt_rate(rates: list[float]) -> str:
    med = statistics.median(rates)
    return f"{med:,.0f} ({min(rates):,.0f}-{max(rates):,.0f})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.storage", description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=5, help="repetitions per operation and side (default 5)")
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of the default operation counts")
    parser.add_argument("--dir", default=None, help="where the databases go (default: a temp dir)")
    args = parser.parse_args(argv)
    if args.reps < 1 or args.scale <= 0:
        parser.error("--reps must be >= 1 and --scale > 0")

    from reference_kv.storage.build import build

    build()
    build_native()
    root = Path(tempfile.mkdtemp(prefix="bench-storage-", dir=args.dir))
    rows = []
    try:
        for op, (count, target, unit) in OPERATIONS.items():
            count = max(1, int(count * args.scale))
            binding, native = [], []
            for rep in range(args.reps):
                # Interleaved, so drift in the machine's load hits both sides alike.
                native.append(run_native(op, count, root / f"{op}-native-{rep}"))
                binding.append(run_binding(op, count, root / f"{op}-binding-{rep}"))
                shutil.rmtree(root / f"{op}-native-{rep}", ignore_errors=True)
                shutil.rmtree(root / f"{op}-binding-{rep}", ignore_errors=True)
            ratio = statistics.median(binding) / statistics.median(native)
            verdict = "-" if target is None else (f">= {target}x " + ("met" if ratio >= target else "MISSED"))
            rows.append((op, unit, fmt_rate(binding), fmt_rate(native), f"{ratio:.2f}x", verdict))
    finally:
        shutil.rmtree(root, ignore_errors=True)

    print(f"## Pebble: Python binding (cffi) vs native Go, {args.reps} repetitions, median (min-max)\n")
    print("| operation | unit | binding | native | ratio | target |")
    print("|---|---|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    print(f"\nbatch = {BATCH} entries, keys 16 B, values {VALUE_SIZE} B; get/scan over {KEYS:,} flushed keys; "
          f"scan = {BATCH} entries from a seek; "
          f"block cache {CACHE >> 20} MiB both sides")
    print(f"machine: {machine()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
