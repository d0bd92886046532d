"""The compiled search (checker._wgl, built by `pip install -e .`)."""
from __future__ import annotations

try:
    from checker._wgl import ffi, lib
except ImportError as _e:  # reported by require() with the fix
    ffi = lib = None
    _why = str(_e)


class CompiledMissing(RuntimeError):
    pass


def available() -> bool:
    return lib is not None


def require():
    if lib is None:
        raise CompiledMissing(
            "the checker's compiled search (checker._wgl) is not built; run `pip install -e .` "
            f"in the repository (needs a C compiler and cffi) [{_why}]"
        )


_RESULTS = {1: "ok", 0: "illegal", -1: "timeout", -2: "out of memory", -3: "bad encoding"}


def search(enc, entries, time_limit=None, max_bytes=None):
    """Returns (code, best_prefix, blocked_or_None, steps, cache_entries); code as in wgl.h."""
    require()
    n = len(enc.kind)
    new = ffi.new
    tr_off = enc.tr_off or [0]
    best = new("int32_t[]", max(n, 1))
    best_len = new("int32_t *")
    blocked = new("int32_t *")
    stats = new("int64_t[2]")
    code = lib.wgl_check(
        n, new("int32_t[]", enc.kind), new("int64_t[]", enc.a), new("int64_t[]", enc.b),
        new("int32_t[]", entries), enc.init,
        new("int64_t[]", tr_off), new("int64_t[]", enc.tr_from or [0]), new("int64_t[]", enc.tr_to or [0]),
        enc.dead, float(time_limit or 0.0), int(max_bytes or 0), best, best_len, blocked, stats,
    )
    if code == -2:
        raise MemoryError("memory limit reached (the search's cache would outgrow --max-memory)")
    if code < -1:
        raise RuntimeError(f"compiled search failed: {_RESULTS.get(code, code)}")
    bl = blocked[0]
    return code, list(best[0:best_len[0]]), (None if bl < 0 else bl), stats[0], stats[1]
