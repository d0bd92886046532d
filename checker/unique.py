"""Unique-value histories decided without the exponential search.

When every write of a partition writes a value no other operation writes, a
read names the one write it saw, and linearizability becomes a question about
the order of *zones*: the stretch of the linearization in which one value is
the register's state (Gibbons & Korach, "Testing shared memories", 1997; the
version orders Elle infers from list-append reads; Lee & Mathur's
decrease-and-conquer for unambiguous histories).

cas-register (read / write / cas / delete, status ok / fail / info):

- A value's *cluster* is its writer and the reads that returned it. In any
  linearization the cluster sits inside the value's zone, so the zone must
  start at a point B in [L, A] (L: the writer's call, A: the earliest return in
  the cluster) and the next zone may start no earlier than b (the latest call
  in the cluster). For a fixed order of zones, consecutive starts B_i obey
  B_{i+1} >= max(B_i, L_{i+1}, b_i) and B_{i+1} <= A_{i+1}; checking them in one
  pass checks every real-time constraint between clusters.
- A successful cas(e, n), and an indeterminate one whose value someone saw,
  glues zone n right after zone e; two such from one e, a cycle, or a cas from
  a value nobody wrote cannot happen. Glued chains are *segments*.
- With no failed cas, sorting segments by (min(a, b), b) (a: earliest return,
  b: latest call over the segment; the initial value first) is without loss
  of generality: any valid order becomes this one by adjacent swaps that keep
  it valid. So one pass decides.
- A failed cas(e) (comparison failed) needs a point of its own interval
  outside e's zone: e's zone starts at or after its call (B_e >= c), or the
  next zone starts by its return (B_next <= r). The first is free when e's
  writer was called after the cas was; otherwise it bounds the next start:
  B_next <= E_e(B_e) = min r over e's failed cas with c > B_e, a step function
  that grows with B_e. The forward pass carries the feasible interval of B.
  An indeterminate write nobody saw may end a zone early (a *filler*).
  Failed cas can make another order than the sorted one necessary, so a
  history the sorted pass cannot place them in gets an exact depth-first
  search over segment orders (branching only at segment ends, with a memo of
  failed states); dropping every failed cas is a relaxation, so a history that
  fails without them fails, with no search. That search is exponential in the
  worst case (how hard failed cas make the problem in general is open here);
  it runs under a step, time and memory budget, past which the partition goes
  to the general search. On generated and recorded histories it branches
  rarely (about 1 in 300 histories rich in such cas backtracks at all).

kv append: with unique appended tokens every read spells a prefix of the one
order of appends, so the zone order is given and one pass decides.

Every "linearizable" comes with a linearization that `certify` replays through
the model and checks against real time; a "not linearizable" names the two
operations whose times contradict each other (or the impossible operation).
A result of None means the procedure does not apply or gave up: the caller
runs the general search.
"""
from __future__ import annotations

import heapq
import math
import time
from dataclasses import dataclass, field

INF = math.inf
NINF = -math.inf
_NONE = object()  # "no value": the register's own values include None (absent)


class GaveUp(Exception):
    """The search budget (steps, time or memory) ran out."""


@dataclass
class Outcome:
    valid: bool
    order: list = field(default_factory=list)  # a linearization (op indices) or the placed prefix
    blocked: int | None = None  # the op that cannot be placed
    conflict: int | None = None  # the op whose times forbid it (None: impossible on its own)
    reason: str = ""  # a short tag: stale, lost, before-write, phantom, double-cas, ...
    method: str = "unique-values"


# ---------------------------------------------------------------- cas-register

_READ, _WRITE, _CAS = 0, 1, 2


def register(ops, inputs, outputs, init=None, deadline=None, max_bytes=None, budget=None):
    """Decide one cas-register partition, or None when its writes are not unique."""
    n = len(ops)
    writer = {}  # value -> op index of its (ok or info) writer
    reads = {}  # value -> [op index] of ok reads
    cas_from = {}  # expected value -> [op index] of ok / info cas
    failed = []  # op indices of cas whose comparison failed
    for i in range(n):
        inp, out = inputs[i], outputs[i]
        f = inp[0]
        if f == "read":
            reads.setdefault(out[1], []).append(i)
            continue
        st = out[0]
        if f == "cas" and st == "fail":
            failed.append(i)
            continue
        v = inp[1] if f == "write" else inp[2]
        if v == init or v in writer:
            return None  # not unique: the general search decides
        writer[v] = i
        if f == "cas":
            cas_from.setdefault(inp[1], []).append(i)
    return _Register(ops, inputs, outputs, init, writer, reads, cas_from, failed, deadline, max_bytes,
                     budget).decide()


class _Register:
    def __init__(self, ops, inputs, outputs, init, writer, reads, cas_from, failed, deadline, max_bytes, budget):
        self.ops, self.inputs, self.outputs, self.init = ops, inputs, outputs, init
        self.writer, self.reads, self.cas_from, self.failed = writer, reads, cas_from, failed
        self.deadline, self.max_bytes = deadline, max_bytes
        self.budget = budget if budget is not None else 50 * len(ops) + 200_000
        self.call = [op.call for op in ops]
        self.ret = [op.ret for op in ops]

    # -- structure -------------------------------------------------------------

    def status(self, i):
        return self.outputs[i][0]

    def decide(self):
        ops, init, writer = self.ops, self.init, self.writer
        # Values whose zone must exist: read, expected by a cas that happened,
        # or written by an op that happened; an indeterminate cas whose value
        # must exist needs its expected value to exist first.
        needed = set()
        todo = [v for v in self.reads] + [self.inputs[i][1] for vs in self.cas_from.values() for i in vs
                                           if self.status(i) == "ok"]
        todo += [v for v, i in writer.items() if self.status(i) == "ok"]
        while todo:
            v = todo.pop()
            if v in needed or v == init:
                continue
            needed.add(v)
            w = writer.get(v)
            if w is None:
                who = self.reads.get(v) or [i for vs in self.cas_from.values() for i in vs
                                            if self.inputs[i][1] == v]
                return Outcome(False, [], who[0], None, "phantom")
            if self.inputs[w][0] == "cas":
                todo.append(self.inputs[w][1])
        self.needed = needed
        # Glue: the value that must follow each value.
        succ = {}
        for v in needed:
            w = writer[v]
            if self.inputs[w][0] == "cas":
                e = self.inputs[w][1]
                if e in succ:
                    return Outcome(False, [], w, writer[succ[e]], "double-cas")
                succ[e] = v
        self.succ = succ
        # Segments: chains from the initial value or a plain write.
        values = [init] + sorted(needed, key=lambda v: writer[v])
        heads = [init] + [v for v in values[1:] if self.inputs[writer[v]][0] != "cas"]
        seg_of, segs = {}, []
        for h in heads:
            chain, v = [], h
            while v is not _NONE:
                if v in seg_of:  # cannot happen for a chain from a head; keeps a bug from looping
                    break
                seg_of[v] = len(segs)
                chain.append(v)
                v = succ.get(v, _NONE)
            segs.append(chain)
        for v in needed:
            if v not in seg_of:  # a cas chain that never starts from a write: a cycle
                return Outcome(False, [], writer[v], None, "cycle")
        # Per value: L (writer's call), A (earliest return), b (latest call), and
        # which op gives A and b (for the report).
        L, A, b, A_op, b_op = {}, {}, {}, {}, {}
        call, ret, reads = self.call, self.ret, self.reads
        for v in values:
            w = writer.get(v) if v != init else None
            if w is not None:
                ai = bi = w
                a_t, b_t = ret[w], call[w]
            else:
                ai = bi = None
                a_t, b_t = INF, NINF
            for r in reads.get(v, ()):
                if ret[r] < a_t:
                    ai, a_t = r, ret[r]
                if call[r] > b_t:
                    bi, b_t = r, call[r]
            A[v], b[v], A_op[v], b_op[v] = a_t, b_t, ai, bi
            L[v] = call[w] if w is not None else NINF
            if L[v] > a_t:  # a read returned before its write was called
                return Outcome(False, [], ai, w, "before-write")
        self.L, self.A, self.b, self.A_op, self.b_op = L, A, b, A_op, b_op
        self.segs, self.seg_of = segs, seg_of
        # Segment keys: the order that is without loss of generality without failed cas.
        self.seg_a = [min(A[v] for v in s) for s in segs]
        self.seg_b = [max(b[v] for v in s) for s in segs]
        # Failed cas that matter: e has a possible writer called before the cas was.
        fcas = {}
        for i in self.failed:
            e = self.inputs[i][1]
            w = writer.get(e) if e != init else None
            if e != init and (w is None or self.call[i] <= self.call[w]):
                continue  # satisfied before e's writer takes effect (or e never does)
            fcas.setdefault(e, []).append(i)
        self.fcas = fcas
        # Relaxation without failed cas: a failure here is final.
        relaxed = self.sorted_pass(with_failed=False)
        if not relaxed.valid:
            return relaxed
        if not fcas:
            return self.finish(relaxed.order)
        try:
            # The sorted order, a filler wherever a failed cas needs one: usually enough,
            # and it keeps no choices. Only when it fails, the search with backtracking.
            first = self.sorted_pass(with_failed=True)
            found = first.order if first.valid else self.search()
        except GaveUp:
            return None
        if found is None:
            return Outcome(False, [], self.fail_op, self.fail_conflict, "failed-cas")
        return self.finish(found)

    # -- the forward pass --------------------------------------------------------

    def ends(self, v):
        """E_v as sorted [(c, suffix-min r)] over v's failed cas that matter."""
        if v not in self.fcas:
            return ()
        cache = self.__dict__.setdefault("_ends", {})
        if v not in cache:
            fs = sorted((self.call[i], self.ret[i]) for i in self.fcas.get(v, ()))
            out, m = [], INF
            for c, r in reversed(fs):
                m = min(m, r)
                out.append((c, m))
            out.reverse()
            cache[v] = out
        return cache[v]

    def E(self, v, x):
        """The latest start of the zone after v's, if v's zone starts by x."""
        if v not in self.fcas:
            return INF
        es = self.ends(v)
        if not es:
            return INF
        lo, hi = 0, len(es)
        while lo < hi:  # first failed cas called after x
            mid = (lo + hi) // 2
            if es[mid][0] > x:
                hi = mid
            else:
                lo = mid + 1
        return es[lo][1] if lo < len(es) else INF

    def step(self, j, lo, hi, k, Lk, Ak, with_failed=True):
        """The feasible start interval of k's zone right after j's, or None."""
        nlo = max(lo, Lk, self.b_of(j))
        nhi = min(Ak, self.E(j, hi)) if with_failed else Ak
        return (nlo, nhi) if nlo <= nhi else None

    def b_of(self, v):
        return self.b[v] if v in self.b else self.call[self.writer[v]]

    def sorted_pass(self, with_failed):
        """Segments in key order (the initial value first), one forward pass; with
        failed cas, the earliest unused filler wherever one must end a zone early."""
        init, segs, L, A = self.init, self.segs, self.L, self.A
        order = [0] + sorted(range(1, len(segs)), key=lambda s: (min(self.seg_a[s], self.seg_b[s]),
                                                                 self.seg_b[s], L[segs[s][0]]))
        fillers = self.fillers() if with_failed else []
        used = 0
        seq, j, lo, hi = [], init, NINF, NINF
        step = self.step
        for s in order:
            for v in segs[s]:
                if v == init:
                    seq.append((v, NINF, NINF))
                    continue
                nxt = step(j, lo, hi, v, L[v], A[v], with_failed)
                head = v == segs[s][0]  # nothing comes between glued values
                if nxt is None and head and with_failed and used < len(fillers) and step(j, lo, hi, v, L[v], A[v], False):
                    f = ("filler", used)
                    mid = step(j, lo, hi, f, fillers[used], INF)
                    if mid is not None:
                        used += 1
                        seq.append((f, mid[0], mid[1]))
                        j, lo, hi = f, mid[0], mid[1]
                        nxt = step(j, lo, hi, v, L[v], A[v])
                if nxt is None:
                    return self.blame(j, v, lo, seq)
                lo, hi = nxt
                j = v
                seq.append((v, lo, hi))
        if with_failed and self.E(j, hi) < INF:
            mid = step(j, lo, hi, ("filler", used), fillers[used], INF) if used < len(fillers) else None
            if mid is None:
                return Outcome(False, [], None, None, "failed-cas")
            seq.append((("filler", used), mid[0], mid[1]))
        return Outcome(True, seq)

    def fillers(self):
        """Calls of the indeterminate writes nobody saw and no failed cas names:
        interchangeable but for their call, so the earliest unused one is the one
        to try (also registers their b for the pass)."""
        if not hasattr(self, "_fillers"):
            named = self.fcas
            self._fillers = sorted(self.call[w] for v, w in self.writer.items()
                                   if v not in self.needed and v not in named and self.inputs[w][0] == "write"
                                   and self.status(w) == "info")
            for k, Lf in enumerate(self._fillers):
                self.b[("filler", k)] = Lf
        return self._fillers

    def blame(self, j, v, lo, seq):
        """Why v's zone cannot start after j's: the op that returned too early and
        the op called after it that had to come first."""
        early = self.A_op[v]
        # Which earlier constraint set the lower bound: the latest call so far.
        late, late_t = None, NINF
        for u, _, _ in seq:
            bi = self.b_op.get(u)
            if bi is not None and self.call[bi] > late_t:
                late, late_t = bi, self.call[bi]
        w = self.writer.get(v)
        if w is not None and self.call[w] > late_t:
            late, late_t = w, self.call[w]
        if early is None or late is None:
            early, late = (w, late) if w is not None else (late, None)
        placed = [self.writer[u] for u, _, _ in seq if u != self.init and u in self.writer]
        # The op called after `early` returned, though its zone must come first.
        return Outcome(False, placed, late, early, "order")

    # -- the search when failed cas constrain the order -----------------------------

    def search(self, greedy=False):
        """Depth-first over segment orders, branching at segment ends; the first
        path is the sorted one. Returns the zone sequence or None."""
        init, segs = self.init, self.segs
        n_segs = len(segs)
        key = lambda s: (min(self.seg_a[s], self.seg_b[s]), self.seg_b[s], self.L[segs[s][0]])
        by_release = sorted(range(1, n_segs), key=lambda s: self.L[segs[s][0]])
        by_A = sorted(range(1, n_segs), key=lambda s: self.seg_a[s])
        pos_release = {s: k for k, s in enumerate(by_release)}
        pos_A = {s: k for k, s in enumerate(by_A)}
        # Indeterminate writes nobody saw and no failed cas names: interchangeable
        # but for their call, so the earliest unused one is the one to try.
        named = set(self.fcas)
        fillers = self.fillers()
        # Other optional writers: an indeterminate write a failed cas names, and an
        # indeterminate cas nobody needs (it may end its expected value's zone).
        optional = [v for v, w in self.writer.items() if v not in self.needed and v in named
                    and self.inputs[w][0] == "write"]
        opt_cas = {}
        for v, w in self.writer.items():
            if v not in self.needed and self.inputs[w][0] == "cas":
                opt_cas.setdefault(self.inputs[w][1], []).append(v)
        for v in optional + [u for us in opt_cas.values() for u in us]:
            self.L[v] = self.call[self.writer[v]]
            self.A.setdefault(v, INF)
            self.b.setdefault(v, self.L[v])
        placed = [False] * n_segs
        placed[0] = True
        ptr = {"R": 0, "A": 0}  # first possibly unplaced index in by_release / by_A
        failed_states = set()
        self.fail_op = self.fail_conflict = None
        deepest = [-1]

        def first_unplaced(order, which):
            k = ptr[which]
            while k < len(order) and placed[order[k]]:
                k += 1
            ptr[which] = k
            return k

        def walk(seq, cur, vals):
            for v in vals:
                nxt = self.step(cur[0], cur[1], cur[2], v, self.L[v], self.A[v])
                if nxt is None:
                    if len(seq) >= deepest[0]:
                        deepest[0] = len(seq)
                        self.fail_op, self.fail_conflict = self.A_op.get(v), self.writer.get(v)
                    return None
                cur = (v, nxt[0], nxt[1])
                seq.append(cur)
            return cur

        seq = [(init, NINF, NINF)]
        if walk(seq, seq[0], segs[0][1:]) is None:
            return None
        # A frame: (seq length, segment placed or None, used fillers, used optionals,
        #           saved pointers, state key, candidate iterator)
        stack = []
        used_f, used_opt = 0, frozenset()
        steps = 0

        def expand():
            """Push a frame for the state at the top of `seq`; False if it is dead."""
            nonlocal steps
            steps += 1
            if steps > self.budget or (self.deadline is not None and not steps % 256
                                       and time.monotonic() > self.deadline):
                raise GaveUp
            if self.max_bytes and len(failed_states) * 600 > self.max_bytes:
                raise GaveUp
            j, lo, hi = seq[-1]
            ka = first_unplaced(by_A, "A")
            mA = self.seg_a[by_A[ka]] if ka < len(by_A) else INF
            if mA < lo:
                return False
            kr = first_unplaced(by_release, "R")
            e_hi = self.E(j, hi)
            U = min(e_hi, mA)
            window = []
            for k in range(kr, len(by_release)):
                s = by_release[k]
                if self.L[segs[s][0]] > U:
                    break
                if not placed[s]:
                    window.append(s)
            state = (j, lo, hi, used_f, used_opt, tuple(window))
            if state in failed_states:
                return False
            window.sort(key=key)
            cands = []
            for s in window:
                cands.append(("seg", s))
                if len(cands) == 1:
                    cands.append(("filler", None))
            if not cands:
                cands.append(("filler", None))
            cands += [("opt", v) for v in optional if v not in used_opt and self.L[v] <= U]
            if j not in self.succ:
                cands += [("opt", v) for v in opt_cas.get(j, ()) if v not in used_opt]
            stack.append([len(seq), None, used_f, used_opt, dict(ptr), state, iter(cands)])
            return True

        def done():
            j, lo, hi = seq[-1]
            return first_unplaced(by_A, "A") >= len(by_A) and self.E(j, hi) == INF

        if done():
            return seq
        if not expand():
            return None
        while stack:
            frame = stack[-1]
            length, seg, f_used, o_used, saved, state, it = frame
            # Undo whatever the previous child of this frame did.
            del seq[length:]
            if seg is not None:
                placed[seg] = False
                frame[1] = None
            ptr.update(saved)
            used_f, used_opt = f_used, o_used
            choice = next(it, None)
            if choice is None:
                failed_states.add(state)
                stack.pop()
                continue
            kind, arg = choice
            j, lo, hi = seq[-1]
            if kind == "seg":
                if walk(seq, seq[-1], segs[arg]) is None:
                    continue
                placed[arg] = True
                frame[1] = arg
            elif kind == "filler":
                if used_f >= len(fillers):
                    continue
                nxt = self.step(j, lo, hi, ("filler", used_f), fillers[used_f], INF)
                if nxt is None:
                    continue
                seq.append((("filler", used_f), nxt[0], nxt[1]))
                used_f += 1
            else:
                nxt = self.step(j, lo, hi, arg, self.L[arg], self.A[arg])
                if nxt is None:
                    continue
                seq.append((arg, nxt[0], nxt[1]))
                used_opt = used_opt | {arg}
            if done():
                return seq
            if expand() and greedy:
                del stack[-2]  # committed: no way back to this choice
        return None

    # -- the linearization and its certificate -------------------------------------

    def finish(self, seq):
        """Concrete zone starts, then every op at a point; sorted, certified."""
        # Backwards: each start as late as its successor allows.
        starts = [None] * len(seq)
        nxt = INF
        for k in range(len(seq) - 1, -1, -1):
            v, lo, hi = seq[k]
            starts[k] = min(hi, nxt) if k else NINF
            nxt = starts[k]
        idx = {}
        for k, (v, _, _) in enumerate(seq):
            idx[v] = k
        filler_ops = sorted((w for v, w in self.writer.items() if v not in self.needed and v not in self.fcas
                             and self.inputs[w][0] == "write" and self.status(w) == "info"),
                            key=lambda w: self.call[w])
        # Per zone: (time, rank, op), rank 0 the writer (first at its time).
        zones = [[] for _ in seq]
        for k in range(1, len(seq)):
            v = seq[k][0]
            w = filler_ops[v[1]] if isinstance(v, tuple) else self.writer[v]
            zones[k].append((starts[k], 0, w))
        call, ret = self.call, self.ret
        for v, rs in self.reads.items():
            k = idx.get(v)
            if k is None:
                return None
            z, t0 = zones[k], starts[k]
            for r in rs:
                z.append((call[r] if call[r] > t0 else t0, 1, r))
        import bisect

        zone_starts = starts
        for i in self.failed:
            e, c, r = self.inputs[i][1], call[i], ret[i]
            ke = idx.get(e)
            if ke is None:  # e never current: anywhere in its interval
                k, q = bisect.bisect_right(zone_starts, c) - 1, c
            elif starts[ke] >= c and ke > 0:  # before e's zone
                k, q = min(bisect.bisect_right(zone_starts, c) - 1, ke - 1), c
            elif ke + 1 < len(seq) and starts[ke + 1] <= r:  # after it
                q = max(c, starts[ke + 1])
                k = max(bisect.bisect_right(zone_starts, q) - 1, ke + 1)
            else:
                return None  # cannot happen for a sequence the pass accepted; certify says so
            zones[max(k, 0)].append((q, 1, i))
        order = []
        for z in zones:
            z.sort()
            order.extend(p[2] for p in z)
        if not certify_register(self.ops, self.inputs, self.outputs, self.init, order):
            return None
        return Outcome(True, order)


def certify_register(ops, inputs, outputs, init, order) -> bool:
    """Is `order` a linearization: every op that happened is in it, each legal in
    sequence, none after an op that returned before it was called?"""
    n = len(ops)
    seen = [False] * n
    state = init
    latest_call = NINF
    for i in order:
        if seen[i]:
            return False
        seen[i] = True
        op = ops[i]
        if op.ret < latest_call:
            return False
        latest_call = max(latest_call, op.call)
        inp, out = inputs[i], outputs[i]
        f = inp[0]
        if f == "read":
            if state != out[1]:
                return False
        elif f == "write":
            state = inp[1]
        elif out[0] == "ok":
            if state != inp[1]:
                return False
            state = inp[2]
        elif out[0] == "fail":
            if state == inp[1]:
                return False
        elif state == inp[1]:
            state = inp[2]
    # Ops left out must be ones that may never have happened.
    return all(seen[i] or outputs[i][0] == "info" for i in range(n))


# ---------------------------------------------------------------- kv append


def append(ops, inputs, outputs, init="", deadline=None):
    """Decide one kv partition of gets and appends of unique, prefix-free
    tokens, or None when it has puts or tokens that could be read two ways."""
    n = len(ops)
    token_op = {}
    get_ops = []
    for i in range(n):
        f = inputs[i][0]
        if f == "get":
            get_ops.append(i)
        elif f == "append":
            v = inputs[i][1]
            if not v or v in token_op:
                return None
            token_op[v] = i
        else:
            return None  # put or delete: the general search
    toks = sorted(token_op)
    for a, c in zip(toks, toks[1:]):
        if c.startswith(a):
            return None  # one token a prefix of another: a read could parse two ways
    # The longest read spells the order of every append any read saw.
    longest = max((outputs[i][1] for i in get_ops), key=len, default=init)
    for i in get_ops:
        s = outputs[i][1]
        if not longest.startswith(s) or not s.startswith(init):
            # Two reads that no single order of appends explains.
            other = max(get_ops, key=lambda k: len(outputs[k][1]))
            return Outcome(False, [], i, other, "diverge")
    # Parse the longest read into tokens; boundaries -> position.
    pos_of_len = {len(init): 0}
    order_tokens = []
    at = len(init)
    by_first = {}
    for t in toks:
        by_first.setdefault(t[0], []).append(t)
    while at < len(longest):
        for t in by_first.get(longest[at], ()):
            if longest.startswith(t, at):
                break
        else:
            reader = max(get_ops, key=lambda k: len(outputs[k][1]))
            return Outcome(False, [], reader, None, "phantom-append")
        if order_tokens and t in seen_tokens:
            return Outcome(False, [], max(get_ops, key=lambda k: len(outputs[k][1])), token_op[t], "duplicate-append")
        if not order_tokens:
            seen_tokens = set()
        seen_tokens.add(t)
        order_tokens.append(t)
        at += len(t)
        pos_of_len[at] = len(order_tokens)
    M = len(order_tokens)
    clusters = [[] for _ in range(M + 1)]  # position -> reads
    for i in get_ops:
        k = pos_of_len.get(len(outputs[i][1]))
        if k is None:
            return Outcome(False, [], i, None, "phantom-append")
        clusters[k].append(i)
    writer_at = [None] + [token_op[t] for t in order_tokens]
    call = [op.call for op in ops]
    ret = [op.ret for op in ops]
    seen_set = set(order_tokens)
    unseen_ok = sorted((token_op[t] for t in toks if t not in seen_set and outputs[token_op[t]][0] == "ok"),
                       key=lambda i: ret[i])
    # One pass over the fixed order: zone k starts after every earlier call.
    order = []
    latest, latest_op = NINF, None
    for k in range(M + 1):
        group = ([writer_at[k]] if writer_at[k] is not None else []) + clusters[k]
        a_op = min(group, key=lambda i: ret[i]) if group else None
        if a_op is not None and ret[a_op] < latest:
            return Outcome(False, order, a_op, latest_op, "order")
        w = writer_at[k]
        if w is not None:
            order.append(w)
            if clusters[k] and min(ret[i] for i in clusters[k]) < call[w]:
                r = min(clusters[k], key=lambda i: ret[i])
                return Outcome(False, order, r, w, "before-write")
        order.extend(sorted(clusters[k], key=lambda i: (ret[i], call[i])))
        for i in group:
            if call[i] > latest:
                latest, latest_op = call[i], i
    for i in unseen_ok:
        if ret[i] < latest:
            return Outcome(False, order, i, latest_op, "lost-append")
        order.append(i)
    if not certify_append(ops, inputs, outputs, init, order):
        return None
    return Outcome(True, order)


def certify_append(ops, inputs, outputs, init, order) -> bool:
    n = len(ops)
    seen = [False] * n
    state, parts = init, [init]
    latest_call = NINF
    length = len(init)
    for i in order:
        if seen[i]:
            return False
        seen[i] = True
        if ops[i].ret < latest_call:
            return False
        latest_call = max(latest_call, ops[i].call)
        if inputs[i][0] == "get":
            s = outputs[i][1]
            if len(s) != length:
                return False
            state = "".join(parts)
            parts = [state]
            if s != state:
                return False
        else:
            parts.append(inputs[i][1])
            length += len(inputs[i][1])
    return all(seen[i] or outputs[i][0] == "info" for i in range(n))
