"""Loading the Pebble shim: once per process, on first use, never at import.

The Go runtime starts threads when the library is loaded, and a forked child
inherits none of them; so the library must be loaded after any fork, and
processes that use Pebble must be started with multiprocessing's "spawn"
method (or be exec'd), never plain fork after a PebbleDB was opened.
"""
from __future__ import annotations

import os
import threading

from .base import StorageError

RC_NOT_FOUND = -1
RC_ERROR = -2
RC_TOO_SMALL = -3

CDEF = """
int64_t pbs_open(const char *path, int64_t path_len, int64_t cache_bytes, int64_t memtable_bytes, int flags);
int64_t pbs_close(int64_t db);
int64_t pbs_get(int64_t db, const char *key, int64_t key_len, char *buf, int64_t buf_cap);
int64_t pbs_get_many(int64_t db, const char *keys, int64_t keys_len, int64_t count, char **out);
int64_t pbs_write(int64_t db, const char *ops, int64_t ops_len, int sync);
int64_t pbs_flush(int64_t db);
int64_t pbs_compact(int64_t db, const char *start, int64_t start_len, const char *end, int64_t end_len);
int64_t pbs_checkpoint(int64_t db, const char *dir, int64_t dir_len);
int64_t pbs_estimate_disk_usage(int64_t db, const char *start, int64_t start_len, const char *end, int64_t end_len);
int64_t pbs_metrics(int64_t db, char **out);
int64_t pbs_batch_new(int64_t db);
int64_t pbs_batch_add(int64_t batch, const char *ops, int64_t ops_len);
int64_t pbs_batch_commit(int64_t batch, int sync);
int64_t pbs_batch_free(int64_t batch);
int64_t pbs_iter_new(int64_t db, const char *lower, int64_t lower_len, int has_lower,
                     const char *upper, int64_t upper_len, int has_upper, int reverse);
int64_t pbs_iter_next(int64_t iter, char *buf, int64_t buf_cap, int64_t max_items);
int64_t pbs_iter_close(int64_t iter);
char *pbs_errmsg(void);
void pbs_free(void *p);
"""

_lock = threading.Lock()
_loaded = None  # (ffi, lib, pid)


def load():
    """(ffi, lib) for this process, building the library first if it is missing."""
    global _loaded
    loaded = _loaded
    if loaded is None:
        with _lock:
            if _loaded is None:
                _loaded = _load()
            loaded = _loaded
    if loaded[2] != os.getpid():
        raise StorageError("the Pebble shim was loaded before this process forked; the Go runtime "
                           "does not survive fork: start worker processes with multiprocessing 'spawn'")
    return loaded[0], loaded[1]


def _load():
    import cffi

    from . import build

    if not build.LIBRARY.exists() or (not build.is_up_to_date() and build.find_go()):
        build.build()
    ffi = cffi.FFI()
    ffi.cdef(CDEF)
    try:
        lib = ffi.dlopen(str(build.LIBRARY))
    except OSError as e:
        raise StorageError(f"cannot load the Pebble shim {build.LIBRARY}: {e}") from None
    return ffi, lib, os.getpid()


def last_error(ffi, lib) -> str:
    return ffi.string(lib.pbs_errmsg()).decode("utf-8", "replace")
