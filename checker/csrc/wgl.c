/* See wgl.h. The history is a doubly linked list of call and return entries
 * (index 0 is the head sentinel, 2n+1 the tail sentinel); linearizing an op
 * lifts its call and return out of the list, backtracking puts them back.
 * The cache remembers every (linearized set, state) pair already explored:
 * an open-addressing table over an arena of [state, bitset words...] rows,
 * with the bitset's hash kept incrementally (XOR of one random word per op). */
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
    size_t words;      /* bitset words per row */
    uint64_t *arena;   /* rows of 1 + words uint64 */
    size_t rows, arena_cap;
    uint32_t *slots;   /* row index + 1, 0 = empty */
    uint64_t *hashes;  /* hash of the row in the same slot */
    size_t cap;        /* power of two */
} cache_t;

static int cache_init(cache_t *c, size_t words) {
    c->words = words;
    c->rows = 0;
    c->arena_cap = 1024;
    c->cap = 2048;
    c->arena = malloc(c->arena_cap * (1 + words) * sizeof(uint64_t));
    c->slots = calloc(c->cap, sizeof(uint32_t));
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
    uint32_t *ns = calloc(ncap, sizeof(uint32_t));
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

/* 1 if (bits, state) was new and is now stored, 0 if already present, -1 out of memory. */
static int cache_insert(cache_t *c, const uint64_t *bits, int64_t state, uint64_t h) {
    size_t mask = c->cap - 1, w = c->words, i = h & mask;
    while (c->slots[i]) {
        if (c->hashes[i] == h) {
            const uint64_t *row = c->arena + (size_t)(c->slots[i] - 1) * (1 + w);
            if ((int64_t)row[0] == state && memcmp(row + 1, bits, w * sizeof(uint64_t)) == 0)
                return 0;
        }
        i = (i + 1) & mask;
    }
    if (c->rows >= 0xfffffffeU) return -1;
    if (c->rows == c->arena_cap) {
        size_t ncap = c->arena_cap * 2;
        uint64_t *na = realloc(c->arena, ncap * (1 + w) * sizeof(uint64_t));
        if (!na) return -1;
        c->arena = na;
        c->arena_cap = ncap;
    }
    uint64_t *row = c->arena + c->rows * (1 + w);
    row[0] = (uint64_t)state;
    memcpy(row + 1, bits, w * sizeof(uint64_t));
    c->slots[i] = (uint32_t)(++c->rows);
    c->hashes[i] = h;
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

int wgl_check(int n, const int32_t *kind, const int64_t *a, const int64_t *b,
              const int32_t *entries, int64_t init_state,
              const int64_t *tr_off, const int64_t *tr_from, const int64_t *tr_to,
              int64_t dead_state, double time_limit,
              int32_t *best, int32_t *best_len, int32_t *blocked, int64_t *stats) {
    *best_len = 0;
    *blocked = -1;
    stats[0] = stats[1] = 0;
    if (n < 0) return WGL_BADARG;
    if (n == 0) return WGL_OK;

    const int32_t nodes = 2 * n + 2, HEAD = 0, TAIL = 2 * n + 1;
    size_t words = ((size_t)n + 63) / 64;
    int32_t *nxt = malloc(sizeof(int32_t) * nodes);
    int32_t *prv = malloc(sizeof(int32_t) * nodes);
    int32_t *node_op = malloc(sizeof(int32_t) * nodes);
    int32_t *match = malloc(sizeof(int32_t) * nodes); /* call -> its return node; -1 for returns */
    int32_t *ret_node = malloc(sizeof(int32_t) * n);
    int32_t *stack_node = malloc(sizeof(int32_t) * n);
    int64_t *stack_state = malloc(sizeof(int64_t) * n);
    uint64_t *zob = malloc(sizeof(uint64_t) * n);
    uint64_t *bits = calloc(words, sizeof(uint64_t));
    cache_t cache;
    int cache_ok = cache_init(&cache, words);
    int result = WGL_BADARG;
    if (!nxt || !prv || !node_op || !match || !ret_node || !stack_node || !stack_state || !zob ||
        !bits || cache_ok < 0) {
        result = WGL_NOMEM;
        goto out;
    }

    /* Returns are linked to their calls from the back, so a call finds its return. */
    for (int i = 0; i < n; i++) ret_node[i] = -1;
    for (int32_t k = 2 * n - 1; k >= 0; k--) {
        int32_t e = entries[k], node = k + 1;
        if (e >= 0) {
            if (e >= n || ret_node[e] < 0) goto out; /* call without a later return */
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
    for (int32_t i = 0; i < nodes; i++) {
        nxt[i] = i + 1 < nodes ? i + 1 : TAIL;
        prv[i] = i > 0 ? i - 1 : HEAD;
    }
    for (int i = 0; i < n; i++) zob[i] = mix64((uint64_t)i * 0x632be59bd9b4e019ULL + 1);

    double deadline = time_limit > 0 ? now_seconds() + time_limit : 0;
    int64_t state = init_state, steps = 0;
    uint64_t zh = 0;
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
            bits[op >> 6] |= 1ULL << (op & 63);
            zh ^= zob[op];
            int fresh = cache_insert(&cache, bits, ns, zh ^ mix64((uint64_t)ns));
            if (fresh < 0) {
                result = WGL_NOMEM;
                goto out;
            }
            if (fresh) {
                stack_node[depth] = e;
                stack_state[depth] = state;
                depth++;
                state = ns;
                int32_t m = match[e];
                nxt[prv[e]] = nxt[e];
                prv[nxt[e]] = prv[e];
                nxt[prv[m]] = nxt[m];
                prv[nxt[m]] = prv[m];
                e = nxt[HEAD];
            } else {
                bits[op >> 6] &= ~(1ULL << (op & 63));
                zh ^= zob[op];
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
            int32_t op = node_op[e], m = match[e];
            bits[op >> 6] &= ~(1ULL << (op & 63));
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
    free(stack_node);
    free(stack_state);
    free(zob);
    free(bits);
    cache_free(&cache);
    return result;
}
