"""Child process of the crash test: writes synced batches and acknowledges each.

Batch n sets KEYS_PER_BATCH keys "b{n:06d}-{i}" to the same value; "ack n"
is printed only after commit(sync=True) returned.
"""
from __future__ import annotations

import sys

from reference_kv.storage.pebble import PebbleDB

KEYS_PER_BATCH = 8


def main(path: str, batches: int) -> None:
    db = PebbleDB(path)
    for n in range(batches):
        b = db.batch()
        for i in range(KEYS_PER_BATCH):
            b.set(b"b%06d-%d" % (n, i), b"batch %d " % n * 20)
        b.commit(sync=True)
        print(f"ack {n}", flush=True)
    db.close()


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
