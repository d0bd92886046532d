/* See wgl.h. The history is a doubly linked list of call and return entries
 * (index 0 is the head sentinel, 2n+1 the tail sentinel); linearizing an op
 * lifts its call and return out of the list, backtracking puts them back.
 * The cache remembers every (linearized set, state) pair already explored:
 * an open-addressing table over an arena of variable-length rows, with the
 * set's hash kept incrementally (XOR of one random word per op).
 *
 * Rows are compact, because a full bitset per row costs n/8 bytes and
 * histories have 10^4 ops and 10^7 rows: ops are renumbered internally by
 * call order, with the "tail" ops (returning after the last call: info ops,
 * returning at +infinity) numbered last. A linearized set is then all body
 * ops below some `lo`, a window of body bits from lo's word up to the highest
 * linearized body op (short: bounded by concurrency), and the tail bits:
 * row = [state, lo_word << 32 | window_words, window..., tail...]. lo_word
 * and hi_word are maintained per stack frame, so backtracking restores them. */
#include "wgl.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

static uint64_t mix64(uint64_t x) {
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

typedef struct {
    size_t tail_words;  /* fixed tail part of every row */
    uint64_t *arena;    /* rows, back to back */
    size_t used, arena_cap; /* in uint64 words */
    size_t rows;
    uint64_t *slots;    /* row offset + 1, 0 = empty */
    uint64_t *hashes;   /* hash of the row in the same slot */
    size_t cap;         /* power of two */
    size_t max_bytes;   /* 0: unbounded */
} cache_t;

static size_t cache_bytes(const cache_t *c, size_t arena_cap, size_t cap) {
    (void)c;
    return arena_cap * sizeof(uint64_t) + cap * 2 * sizeof(uint64_t);
}

static int cache_init(cache_t *c, size_t tail_words) {
    c->tail_words = tail_words;
    c->rows = c->used = 0;
    c->arena_cap = 1 << 14;
    c->cap = 1 << 12;
    c->arena = malloc(c->arena_cap * sizeof(uint64_t));
    c->slots = calloc(c->cap, sizeof(uint64_t));
    c->hashes = malloc(c->cap * sizeof(uint64_t));
    return c->arena && c->slots && c->hashes ? 0 : -1;
}

static void cache_free(cache_t *c) {
    free(c->arena);
    free(c->slots);
    free(c->hashes);
}

static int cache_grow_table(cache_t *c) {
    size_t ncap = c->cap * 2, mask = ncap - 1;
    if (c->max_bytes && cache_bytes(c, c->arena_cap, ncap) > c->max_bytes) return -1;
    uint64_t *ns = calloc(ncap, sizeof(uint64_t));
    uint64_t *nh = malloc(ncap * sizeof(uint64_t));
    if (!ns || !nh) {
        free(ns);
        free(nh);
        return -1;
    }
    for (size_t i = 0; i < c->cap; i++) {
        if (!c->slots[i]) continue;
        size_t j = c->hashes[i] & mask;
        while (ns[j]) j = (j + 1) & mask;
        ns[j] = c->slots[i];
        nh[j] = c->hashes[i];
    }
    free(c->slots);
    free(c->hashes);
    c->slots = ns;
    c->hashes = nh;
    c->cap = ncap;
    return 0;
}

/* The row of (state, set): header words then window then tail.
 * 1 if it was new and is now stored, 0 if already present, -1 out of memory. */
static int cache_insert(cache_t *c, int64_t state, uint64_t header, const uint64_t *window, size_t wlen,
                        const uint64_t *tail, uint64_t h) {
    size_t mask = c->cap - 1, t = c->tail_words, i = h & mask;
    while (c->slots[i]) {
        if (c->hashes[i] == h) {
            const uint64_t *row = c->arena + (c->slots[i] - 1);
            if ((int64_t)row[0] == state && row[1] == header &&
                memcmp(row + 2, window, wlen * sizeof(uint64_t)) == 0 &&
                memcmp(row + 2 + wlen, tail, t * sizeof(uint64_t)) == 0)
                return 0;
        }
        i = (i + 1) & mask;
    }
    size_t len = 2 + wlen + t;
    if (c->used + len > c->arena_cap) {
        size_t ncap = c->arena_cap * 2;
        while (c->used + len > ncap) ncap *= 2;
        if (c->max_bytes && cache_bytes(c, ncap, c->cap) > c->max_bytes) return -1;
        uint64_t *na = realloc(c->arena, ncap * sizeof(uint64_t));
        if (!na) return -1;
        c->arena = na;
        c->arena_cap = ncap;
    }
    uint64_t *row = c->arena + c->used;
    row[0] = (uint64_t)state;
    row[1] = header;
    memcpy(row + 2, window, wlen * sizeof(uint64_t));
    memcpy(row + 2 + wlen, tail, t * sizeof(uint64_t));
    c->slots[i] = c->used + 1;
    c->hashes[i] = h;
    c->used += len;
    c->rows++;
    if (c->rows * 2 > c->cap && cache_grow_table(c) < 0) return -1;
    return 1;
}

static int64_t append_lookup(const int64_t *tr_off, const int64_t *tr_from, const int64_t *tr_to,
                             int64_t v, int64_t s, int64_t dead) {
    int64_t lo = tr_off[v], hi = tr_off[v + 1];
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        if (tr_from[mid] < s)
            lo = mid + 1;
        else
            hi = mid;
    }
    return (lo < tr_off[v + 1] && tr_from[lo] == s) ? tr_to[lo] : dead;
}

static int32_t first_zero(const uint64_t *bits, size_t words, int32_t from) {
    size_t w = (size_t)from >> 6;
    if (w >= words) return from;
    uint64_t x = bits[w] | ((1ULL << (from & 63)) - 1);
    while (x == ~0ULL) {
        if (++w == words) return (int32_t)(w << 6);
        x = bits[w];
    }
    return (int32_t)((w << 6) + (size_t)__builtin_ctzll(~x));
}

int wgl_check(int n, const int32_t *kind, const int64_t *a, const int64_t *b,
              const int32_t *entries, int64_t init_state,
              const int64_t *tr_off, const int64_t *tr_from, const int64_t *tr_to,
              int64_t dead_state, double time_limit, int64_t max_bytes,
              int32_t *best, int32_t *best_len, int32_t *blocked, int64_t *stats) {
    *best_len = 0;
    *blocked = -1;
    stats[0] = stats[1] = 0;
    if (n < 0) return WGL_BADARG;
    if (n == 0) return WGL_OK;

    const int32_t nodes = 2 * n + 2, HEAD = 0, TAIL = 2 * n + 1;
    int32_t *nxt = malloc(sizeof(int32_t) * nodes);
    int32_t *prv = malloc(sizeof(int32_t) * nodes);
    int32_t *node_op = malloc(sizeof(int32_t) * nodes);
    int32_t *match = malloc(sizeof(int32_t) * nodes); /* call -> its return node; -1 for returns */
    int32_t *ret_node = malloc(sizeof(int32_t) * n);
    int32_t *bit = malloc(sizeof(int32_t) * n);        /* op -> index in body or tail set */
    uint8_t *is_tail = calloc((size_t)n, 1);
    int32_t *stack_node = malloc(sizeof(int32_t) * n);
    int64_t *stack_state = malloc(sizeof(int64_t) * n);
    int32_t *stack_lo = malloc(sizeof(int32_t) * n);
    int32_t *stack_hi = malloc(sizeof(int32_t) * n);
    uint64_t *zob = malloc(sizeof(uint64_t) * n);
    uint64_t *body = NULL, *tail = NULL;
    cache_t cache;
    int cache_ok = -1;
    int64_t steps = 0;
    int result = WGL_BADARG;
    if (!nxt || !prv || !node_op || !match || !ret_node || !bit || !is_tail || !stack_node || !stack_state ||
        !stack_lo || !stack_hi || !zob) {
        result = WGL_NOMEM;
        goto out;
    }

    /* Returns are linked to their calls from the back, so a call finds its return. */
    for (int i = 0; i < n; i++) ret_node[i] = -1;
    int32_t last_call = -1;
    for (int32_t k = 2 * n - 1; k >= 0; k--) {
        int32_t e = entries[k], node = k + 1;
        if (e >= 0) {
            if (e >= n || ret_node[e] < 0) goto out; /* call without a later return */
            if (last_call < 0) last_call = node;
            node_op[node] = e;
            match[node] = ret_node[e];
        } else {
            int32_t op = -e - 1;
            if (op >= n || ret_node[op] >= 0) goto out;
            node_op[node] = op;
            match[node] = -1;
            ret_node[op] = node;
        }
    }
    /* Body ops numbered by call order, tail ops (returning after the last call) apart. */
    int32_t n_body = 0, n_tail = 0;
    for (int32_t node = 1; node <= 2 * n; node++) {
        if (match[node] < 0) continue;
        int32_t op = node_op[node];
        if (ret_node[op] > last_call) {
            is_tail[op] = 1;
            bit[op] = n_tail++;
        } else {
            bit[op] = n_body++;
        }
    }
    size_t body_words = ((size_t)n_body + 63) / 64, tail_words = ((size_t)n_tail + 63) / 64;
    body = calloc(body_words + 1, sizeof(uint64_t));
    tail = calloc(tail_words + 1, sizeof(uint64_t));
    cache_ok = cache_init(&cache, tail_words);
    cache.max_bytes = max_bytes > 0 ? (size_t)max_bytes : 0;
    if (!body || !tail || cache_ok < 0) {
        result = WGL_NOMEM;
        goto out;
    }
    for (int32_t i = 0; i < nodes; i++) {
        nxt[i] = i + 1 < nodes ? i + 1 : TAIL;
        prv[i] = i > 0 ? i - 1 : HEAD;
    }
    for (int i = 0; i < n; i++) zob[i] = mix64((uint64_t)i * 0x632be59bd9b4e019ULL + 1);

    double deadline = time_limit > 0 ? now_seconds() + time_limit : 0;
    int64_t state = init_state;
    uint64_t zh = 0;
    int32_t lo = 0, hi_word = -1; /* first body op not linearized; highest nonzero body word */
    int32_t depth = 0, e = nxt[HEAD];
    result = WGL_ILLEGAL;
    while (nxt[HEAD] != TAIL) {
        if ((++steps & 0x3fff) == 0 && deadline > 0 && now_seconds() > deadline) {
            result = WGL_TIMEOUT;
            goto out;
        }
        if (match[e] >= 0) {
            int32_t op = node_op[e];
            int64_t s = state, ns = state;
            int ok = 1;
            switch (kind[op]) {
            case WGL_READ: ok = s == a[op]; break;
            case WGL_WRITE: ns = a[op]; break;
            case WGL_CAS_OK: ok = s == a[op]; ns = b[op]; break;
            case WGL_CAS_FAIL: ok = s != a[op]; break;
            case WGL_CAS_ANY: if (s == a[op]) ns = b[op]; break;
            case WGL_APPEND: ns = append_lookup(tr_off, tr_from, tr_to, a[op], s, dead_state); break;
            case WGL_NOP: break;
            default: result = WGL_BADARG; goto out;
            }
            if (!ok) {
                e = nxt[e];
                continue;
            }
            int32_t j = bit[op], nlo = lo, nhi = hi_word;
            uint64_t *set = is_tail[op] ? tail : body;
            set[j >> 6] |= 1ULL << (j & 63);
            if (!is_tail[op]) {
                if (j == lo) nlo = first_zero(body, body_words, lo);
                if ((j >> 6) > nhi) nhi = j >> 6;
            }
            int32_t lo_word = nlo >> 6, wlen = nhi >= lo_word ? nhi - lo_word + 1 : 0;
            uint64_t header = (uint64_t)(uint32_t)lo_word << 32 | (uint32_t)wlen;
            uint64_t nzh = zh ^ zob[op];
            int fresh = cache_insert(&cache, ns, header, body + lo_word, (size_t)wlen, tail,
                                     nzh ^ mix64((uint64_t)ns));
            if (fresh < 0) {
                result = WGL_NOMEM;
                goto out;
            }
            if (fresh) {
                stack_node[depth] = e;
                stack_state[depth] = state;
                stack_lo[depth] = lo;
                stack_hi[depth] = hi_word;
                depth++;
                state = ns;
                zh = nzh;
                lo = nlo;
                hi_word = nhi;
                int32_t m = match[e];
                nxt[prv[e]] = nxt[e];
                prv[nxt[e]] = prv[e];
                nxt[prv[m]] = nxt[m];
                prv[nxt[m]] = prv[m];
                e = nxt[HEAD];
            } else {
                set[j >> 6] &= ~(1ULL << (j & 63));
                e = nxt[e];
            }
        } else {
            /* A return: its op could not be linearized after this prefix. */
            if (depth > *best_len || *blocked < 0) {
                for (int32_t i = 0; i < depth; i++) best[i] = node_op[stack_node[i]];
                *best_len = depth;
                *blocked = node_op[e];
            }
            if (depth == 0) goto out; /* ILLEGAL */
            depth--;
            e = stack_node[depth];
            state = stack_state[depth];
            lo = stack_lo[depth];
            hi_word = stack_hi[depth];
            int32_t op = node_op[e], m = match[e], j = bit[op];
            (is_tail[op] ? tail : body)[j >> 6] &= ~(1ULL << (j & 63));
            zh ^= zob[op];
            nxt[prv[m]] = m;
            prv[nxt[m]] = m;
            nxt[prv[e]] = e;
            prv[nxt[e]] = e;
            e = nxt[e];
        }
    }
    for (int32_t i = 0; i < depth; i++) best[i] = node_op[stack_node[i]];
    *best_len = depth;
    *blocked = -1;
    result = WGL_OK;
out:
    stats[0] = steps;
    stats[1] = cache_ok == 0 ? (int64_t)cache.rows : 0;
    free(nxt);
    free(prv);
    free(node_op);
    free(match);
    free(ret_node);
    free(bit);
    free(is_tail);
    free(stack_node);
    free(stack_state);
    free(stack_lo);
    free(stack_hi);
    free(zob);
    free(body);
    free(tail);
    if (cache_ok == 0) cache_free(&cache);
    return result;
}
