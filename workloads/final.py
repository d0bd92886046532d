"""The final read: after the final heal and the quiet period, every key that ever had an
acknowledged write is read once more (Jepsen's final generator), so data lost after the
workload moved on to other keys (a power loss, a rollback) still shows in the history.

The reads go through the same client protocol and the same recorder as the load, under
process numbers of their own block (`is_final_process`), so they are part of the checked
history and readers can tell them apart. Bounded: one read per key, a few tries while the
cluster answers nothing definite, and a deadline for all of them.
"""
from __future__ import annotations

import time
from typing import Callable, Iterable

from workloads.recorder import PROCESS_BLOCK, Recorder

FINAL_BLOCK = 999  # the recorder's worker index of the final reader: its process numbers are its own
WRITES = frozenset({"write", "cas", "put", "append"})
KV_FS = frozenset({"get", "put", "append"})


def is_final_process(process) -> bool:
    return type(process) is int and FINAL_BLOCK * PROCESS_BLOCK <= process < (FINAL_BLOCK + 1) * PROCESS_BLOCK


def keys_to_read(events: Iterable[dict]) -> dict[str, str]:
    """key -> the read operation of its model (`read` for registers, `get` for kv), for every
    key with an acknowledged (ok) write, in the order of their first write."""
    out: dict[str, str] = {}
    kv: set = set()
    for ev in events:
        if ev.get("process") == "nemesis":
            continue
        f, key = ev.get("f"), ev.get("key")
        if not isinstance(key, str):
            continue
        if f in KV_FS:
            kv.add(key)
        if ev.get("type") == "ok" and f in WRITES and key not in out:
            out[key] = "read"
    return {k: ("get" if k in kv else "read") for k in out}


def read_all(make_client: Callable[[int], object], recorder: Recorder, keys: dict[str, str], *,
             deadline_s: float = 30.0, tries: int = 3, pause_s: float = 0.5,
             say: Callable[[str], None] = lambda _msg: None) -> dict:
    """Reads each key (retrying up to `tries` times while the answer is not ok, `pause_s`
    apart) within `deadline_s`; -> {"keys", "ok", "note"?}. make_client(i) gives a client
    that starts at endpoint i; a new one is made after an unknown outcome."""
    deadline = time.monotonic() + deadline_s
    client, start, ok, done = None, 0, 0, 0
    process = recorder.new_process()
    note = None
    try:
        for key, f in keys.items():
            for attempt in range(tries):
                if time.monotonic() >= deadline:
                    note = (f"the final read stopped at its {deadline_s:.0f} s deadline after {done} of "
                            f"{len(keys)} keys")
                    break
                if client is None:
                    client = make_client(start)
                outcome = recorder.perform(client, process, f, key)
                if outcome.type == "ok":
                    ok += 1
                    break
                # another node may answer: move on round the endpoints, no tight loop
                _close(client)
                client, start = None, start + 1
                process = recorder.new_process()
                if attempt + 1 < tries:
                    time.sleep(pause_s)
            if note:
                break
            done += 1
            if done % 100 == 0:
                say(f"final read: {done}/{len(keys)} keys")
    finally:
        _close(client)
    out = {"keys": len(keys), "ok": ok}
    if note:
        out["note"] = note
    elif ok < len(keys):
        out["note"] = f"the final read got no answer for {len(keys) - ok} of {len(keys)} keys"
    return out


def _close(client) -> None:
    if client is not None:
        try:
            client.close()
        except Exception:  # noqa: BLE001 - a client that cannot close changes nothing read
            pass


def final_recorder(history) -> Recorder:
    """A recorder whose process numbers are the final reader's own block."""
    return Recorder(history, "final", worker_index=FINAL_BLOCK)
