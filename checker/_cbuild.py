"""cffi (API mode) build of the compiled search core, run by `pip install -e .`
through setup.py's `cffi_modules`, producing `checker._wgl`."""
from __future__ import annotations

import os

from cffi import FFI

_CSRC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "csrc")

ffibuilder = FFI()
ffibuilder.cdef(
    """
    int wgl_check(int n, const int32_t *kind, const int64_t *a, const int64_t *b,
                  const int32_t *entries, int64_t init_state,
                  const int64_t *tr_off, const int64_t *tr_from, const int64_t *tr_to,
                  int64_t dead_state, double time_limit, int64_t max_bytes,
                  int32_t *best, int32_t *best_len, int32_t *blocked, int64_t *stats);
    """
)
ffibuilder.set_source(
    "checker._wgl",
    '#include "wgl.h"',
    # Relative paths: setuptools refuses absolute source paths in build_ext.
    sources=["checker/csrc/wgl.c"],
    include_dirs=[_CSRC],  # absolute: also found when cffi compiles in a temporary directory
    extra_compile_args=["-O3", "-std=c99", "-D_POSIX_C_SOURCE=199309L"],
)

