/* The single-partition linearizability search (Wing & Gong / Lowe with the
 * (linearized-set, state) cache of Horn & Kroening), over integer-encoded
 * operations. Python encodes each partition (checker/models/) and calls
 * wgl_check once per partition; everything model-specific is one of the
 * opcodes below, so the C side knows no values, keys or strings. */
#ifndef SPLITBRAIN_WGL_H
#define SPLITBRAIN_WGL_H
#include <stdint.h>

/* Opcodes: s is the register's state, a and b the op's arguments. */
#define WGL_READ 0     /* legal iff s == a */
#define WGL_WRITE 1    /* s = a */
#define WGL_CAS_OK 2   /* legal iff s == a; s = b */
#define WGL_CAS_FAIL 3 /* legal iff s != a */
#define WGL_CAS_ANY 4  /* outcome unknown: if s == a then s = b */
#define WGL_APPEND 5   /* s = table lookup of (value a, s); absent -> dead state */
#define WGL_NOP 6      /* always legal, no effect */

/* Results of wgl_check. */
#define WGL_ILLEGAL 0
#define WGL_OK 1
#define WGL_TIMEOUT (-1)
#define WGL_NOMEM (-2)
#define WGL_BADARG (-3)

/* entries: 2*n items in time order; i >= 0 is the call of op i, -(i+1) its return.
 * The append table: for value v, tr_from[tr_off[v] .. tr_off[v+1]) is sorted and
 * maps to tr_to at the same index; a state not found goes to dead_state.
 * best receives the longest linearizable prefix seen (op ids, best_len of them)
 * and *blocked the op whose return ended it (-1 if none); stats[0] search steps,
 * stats[1] cache entries. time_limit <= 0 means no limit (seconds); max_bytes
 * bounds the cache (<= 0: no bound), WGL_NOMEM when it would grow past it. */
int wgl_check(int n, const int32_t *kind, const int64_t *a, const int64_t *b,
              const int32_t *entries, int64_t init_state,
              const int64_t *tr_off, const int64_t *tr_from, const int64_t *tr_to,
              int64_t dead_state, double time_limit, int64_t max_bytes,
              int32_t *best, int32_t *best_len, int32_t *blocked, int64_t *stats);

#endif
