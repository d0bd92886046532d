"""The single-partition search in pure Python: the reference for custom models
and for differential tests of the compiled one (checker/csrc/wgl.c), which it
mirrors step for step: the same entry list, lift/unlift, cache and the same
bookkeeping of the longest linearizable prefix.
"""
from __future__ import annotations

import time

OK, ILLEGAL, TIMEOUT = 1, 0, -1


def search(model, inputs, outputs, entries, time_limit=None, max_bytes=None):
    """entries: call i as i, return of i as -(i+1), in time order.
    Returns (result, best_prefix_op_ids, blocked_op_or_None, steps, cache_size)."""
    n = len(inputs)
    if n == 0:
        return OK, [], None, 0, 0
    step = model.step
    key = model.hash or (lambda s: s)
    equal = model.equal
    tail = 2 * n + 1
    nxt = list(range(1, 2 * n + 2)) + [tail]
    prv = [0] + list(range(0, 2 * n + 1))
    node_op = [0] * (2 * n + 2)
    match = [-1] * (2 * n + 2)
    ret_node = [-1] * n
    for k in range(2 * n - 1, -1, -1):
        e, node = entries[k], k + 1
        if e >= 0:
            node_op[node], match[node] = e, ret_node[e]
        else:
            node_op[node] = ~e
            ret_node[~e] = node
    deadline = time.monotonic() + time_limit if time_limit else None
    seen = set()  # (bitset, key(state)), or with `equal`: (bitset, key) -> [states]
    buckets: dict = {}
    state = model.init()
    bits = 0
    stack: list[tuple[int, object]] = []
    best, blocked = [], None
    steps = 0
    e = nxt[0]
    while nxt[0] != tail:
        steps += 1
        if not steps & 0x3FF:
            if deadline is not None and time.monotonic() > deadline:
                return TIMEOUT, best, blocked, steps, len(seen) + len(buckets)
            # An estimate (a cache entry: a tuple, an int of n bits, a set slot):
            # enough to stop well before the machine does.
            if max_bytes and (len(seen) + len(buckets)) * (160 + n // 8) > max_bytes:
                raise MemoryError("memory limit reached (the search's cache would outgrow --max-memory)")
        m = match[e]
        if m >= 0:
            op = node_op[e]
            ok, ns = step(state, inputs[op], outputs[op])
            if not ok:
                e = nxt[e]
                continue
            nbits = bits | (1 << op)
            if equal is None:
                k = (nbits, key(ns))
                fresh = k not in seen
                if fresh:
                    seen.add(k)
            else:
                bucket = buckets.setdefault((nbits, key(ns)), [])
                fresh = not any(equal(ns, s) for s in bucket)
                if fresh:
                    bucket.append(ns)
            if fresh:
                stack.append((e, state))
                state, bits = ns, nbits
                nxt[prv[e]] = nxt[e]
                prv[nxt[e]] = prv[e]
                nxt[prv[m]] = nxt[m]
                prv[nxt[m]] = prv[m]
                e = nxt[0]
            else:
                e = nxt[e]
        else:
            if len(stack) > len(best) or blocked is None:
                best = [node_op[x] for x, _ in stack]
                blocked = node_op[e]
            if not stack:
                return ILLEGAL, best, blocked, steps, len(seen) + len(buckets)
            e, state = stack.pop()
            op, m = node_op[e], match[e]
            bits &= ~(1 << op)
            nxt[prv[m]] = m
            prv[nxt[m]] = m
            nxt[prv[e]] = e
            prv[nxt[e]] = e
            e = nxt[e]
    return OK, [node_op[x] for x, _ in stack], None, steps, len(seen) + len(buckets)
