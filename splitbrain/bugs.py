"""The catalogue of planted consensus bugs, each with the campaign that finds it.

Like etcd's robustness suite keeps one reproduction per historical bug, each
entry here names a bug planted behind `--unsafe-bug NAME` in the reference KV
(one marked branch of the safe code path: `node.UNSAFE_BUGS`, `Raft._bug`) and
a campaign: a small value (RunConfig overrides, attempts, a time budget) that
`splitbrain hunt NAME` runs until the checker reports a violation. The same
campaign on the safe KV (`--safe`) and on etcd is the control: it must stay valid.
"""
from __future__ import annotations

import dataclasses
import time
from types import MappingProxyType
from typing import Callable, Mapping

from splitbrain.errors import UsageError


@dataclasses.dataclass(frozen=True)
class Campaign:
    overrides: Mapping  # RunConfig fields merged over the defaults
    attempts: int = 5  # each attempt a new seed
    budget: float = 120.0  # seconds of wall time for the whole hunt

    def as_dict(self) -> dict:
        return {"overrides": dict(self.overrides), "attempts": self.attempts, "budget": self.budget}


@dataclasses.dataclass(frozen=True)
class Bug:
    name: str
    description: str
    campaign: Campaign
    seen_in: str = ""  # the real bug this reproduces

    def as_dict(self) -> dict:
        return {"name": self.name, "description": self.description, "campaign": self.campaign.as_dict(),
                "seen_in": self.seen_in}


def _campaign(attempts: int = 5, budget: float = 120.0, **overrides) -> Campaign:
    base = {"time": 15.0, "quiet": 2.0, "nemesis_interval": 3.0, "fault_duration": 2.0, "workload": "register"}
    return Campaign(MappingProxyType({**base, **overrides}), attempts, budget)


CATALOGUE: tuple[Bug, ...] = (
    Bug("stale-read",
        "reads are answered from the local state of whichever node is asked, without ReadIndex",
        _campaign(read_mode="follower", nemesis=("partition-one", "partition-leader")),
        "etcd before 2.3 (Jepsen 2014): reads served by any member without a quorum round"),
    Bug("lease-no-drift-guard",
        "lease reads trust a lease as long as the election timeout, with no bound for clock drift",
        # The leader's clock at half its followers' speed while it is cut off: the safe lease (4 of 10 ticks)
        # still ends before a new leader can be elected; a lease of the whole election timeout does not.
        # Every clock runs at half speed meanwhile, so that gap lasts long enough in real time for a write to
        # the new leader and a read from the old one (a quarter speed measured no better: fewer, longer
        # faults per attempt). Readers stay on the deposed leader while writers find the new one
        # (workloads/failover.py).
        _campaign(workload="failover", read_mode="lease", nemesis=("clock-slow-leader",), nemesis_interval=1.0,
                  fault_duration=1.2, keys=3, concurrency=30),
        "leases without drift bounds (Raft thesis 6.4.1; etcd's lease ReadIndex caveat)"),
    Bug("lease-ignores-pause",
        "a leader stopped longer than its lease resumes with the missed ticks dropped and keeps serving lease reads",
        # Reads queued on the stopped leader are answered the moment it resumes, after writes to the new leader.
        _campaign(workload="failover", read_mode="lease", nemesis=("pause-isolated-leader",), nemesis_interval=1.5,
                  fault_duration=1.0, keys=3, concurrency=30),
        "the safe KV before commit 28afffa; leases and process pauses (Jepsen: Elasticsearch, etcd 2014 GC pauses)"),
    Bug("no-checkquorum",
        "the leader never steps down without a quorum and serves lease reads while it believes it leads",
        # Readers stay with the node that last answered them (workloads/failover.py), so they keep asking the
        # cut-off leader while writers find the new one: every partition that elects a new leader shows it.
        # Short and lighter: every partition shows it, and a history with many stale reads is slow to check.
        _campaign(time=10.0, workload="failover", read_mode="lease", nemesis=("partition-leader",), keys=3,
                  concurrency=20),
        "etcd lease-based ReadIndex without --strict-reconfig/CheckQuorum"),
    Bug("readindex-before-term-commit",
        "a new leader answers ReadIndex before it has committed an entry of its own term",
        # The next leader is elected behind on commits and cannot commit at once (nemesis/faults/slow_leader.py),
        # which holds its delays until the nodes report that leader's commit index caught up; follower reads
        # wait at every node, so some are queued at it when it is elected.
        _campaign(read_mode="follower", nemesis=("kill-leader-commit-lag",), nemesis_interval=1.2,
                  fault_duration=0.6, keys=3, concurrency=30),
        "etcd-io/raft ReadIndex before the first commit of the term (Raft thesis 6.4 step 1)"),
    Bug("no-fsync",
        "log entries and votes are acknowledged before they are fsynced",
        _campaign(nemesis=("power-loss-all",), nemesis_interval=4.0, fault_duration=1.0),
        "ALICE / 'Redundancy does not imply fault tolerance' (FAST '17): lost acknowledged writes"),
    Bug("retry-duplicate",
        "the server ignores request ids, so a client's retry of a write it sent before applies it twice",
        # A graceful transfer finishes every proposal first; only a crash leaves a write in doubt.
        # Appends of unique tokens: a write applied twice reads back with its token twice.
        _campaign(workload="append", nemesis=("kill-leader",), nemesis_interval=1.5, fault_duration=0.5, keys=2,
                  concurrency=30),
        "etcd 3.5.5 client retries of non-idempotent requests (Jepsen 2022)"),
    Bug("vote-not-persisted",
        "a vote is sent before, and without, being persisted: after a crash a node may vote twice in a term",
        # The voter is killed between its vote and the winner's first entry; the cut-off old leader then
        # campaigns in that same term (nemesis/faults/election_crash.py): two leaders in one term.
        _campaign(nemesis=("kill-voter",), nemesis_interval=2.5, fault_duration=1.8),
        "LogCabin/Raft votedFor durability (Raft paper figure 2, 'persistent state')"),
    Bug("snapshot-lost-entries",
        "installing a snapshot drops the log entries after the snapshot index, even those it already had",
        # The leader snapshots every few seconds; a follower whose acknowledgements lag crashes right after
        # one and is sent it although it holds it (nemesis/faults/snapshot_race.py); its commit index goes back.
        # Each fault waits for the leader's next snapshot. The load is paced so that snapshots come ~4 s apart
        # on a quiet machine as on a loaded one: the crashed follower must be back (up to 2 s under load)
        # before the leader takes the next, and a saturated machine that misses heartbeats elects anew.
        _campaign(time=25.0, nemesis=("kill-follower-after-snapshot",), snapshot_every=400, rate=150.0,
                  nemesis_interval=2.0, fault_duration=0.5),
        "etcd-io/raft restore discarding a matching log suffix"),
)
BY_NAME: dict[str, Bug] = {b.name: b for b in CATALOGUE}


def get(name: str) -> Bug:
    try:
        return BY_NAME[name]
    except KeyError:
        raise UsageError(f"unknown bug {name!r} (known: {', '.join(BY_NAME)}; see `splitbrain bugs`)") from None


# --- running a campaign ------------------------------------------------------------------------

SYSTEM_KNOBS = ("read_mode", "unsafe_bug", "snapshot_every")


def _uses_link_faults(names) -> bool:
    from splitbrain.faultplan import resolve

    return any(p.acts_on_links for p in resolve(names))


def run_config(bug: Bug, *, seed: int, out: str, system: str = "reference-kv", safe: bool = False,
               backend: str | None = None):
    """The RunConfig of one attempt of bug's campaign."""
    from splitbrain.config import RunConfig

    fields = dict(bug.campaign.overrides)
    if not safe:
        fields["unsafe_bug"] = bug.name
    if system != "reference-kv":
        # Another system has none of the reference KV's knobs: the campaign's faults and load only.
        for knob in SYSTEM_KNOBS:
            fields.pop(knob, None)
        if backend is None and _uses_link_faults(fields.get("nemesis", ())):
            backend = "netns"  # its peers cannot sit behind the local backend's per-link proxies
    fields.update(system=system, seed=seed, out=out, nemesis=tuple(fields.get("nemesis", ())))
    if backend:
        fields["backend"] = backend
    return RunConfig.from_dict(fields).validate()


@dataclasses.dataclass
class Attempt:
    seed: int
    valid: object  # True / False / "unknown"
    seconds: float
    run_dir: str


@dataclasses.dataclass
class HuntResult:
    bug: str
    found: bool
    attempts: list[Attempt]
    seconds: float  # wall time until detection (or until giving up)

    def as_dict(self) -> dict:
        return {"bug": self.bug, "found": self.found, "seconds": round(self.seconds, 2),
                "attempts": [dataclasses.asdict(a) for a in self.attempts]}


def hunt(bug: Bug, *, seed: int = 0, attempts: int | None = None, budget: float | None = None,
         out: str = "results", system: str = "reference-kv", safe: bool = False, backend: str | None = None,
         on_attempt: Callable[[Attempt], None] | None = None) -> HuntResult:
    """Run bug's campaign, a new seed per attempt, until a violation or the attempts or budget run out."""
    from splitbrain.campaign import run_campaign

    attempts = attempts or bug.campaign.attempts
    budget = budget or bug.campaign.budget
    started = time.monotonic()
    done: list[Attempt] = []
    for i in range(attempts):
        if i and time.monotonic() - started >= budget:
            break
        cfg = run_config(bug, seed=seed + i, out=out, system=system, safe=safe, backend=backend)
        t0 = time.monotonic()
        run, summary, interrupted = run_campaign(cfg)
        a = Attempt(seed + i, summary.get("valid"), round(time.monotonic() - t0, 2), str(run))
        done.append(a)
        if on_attempt:
            on_attempt(a)
        if interrupted:
            from splitbrain.errors import Interrupted

            raise Interrupted(interrupted)
        if a.valid is False:
            return HuntResult(bug.name, True, done, time.monotonic() - started)
    return HuntResult(bug.name, False, done, time.monotonic() - started)
