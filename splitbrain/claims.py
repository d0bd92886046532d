"""The claims a Raft KV makes, each measured by ordinary runs of the suite.

A claim is a small value: what is claimed, how it is measured, and a function
from the runs' summaries to (measured text, holds: True | False | None). Every
number in the table comes from a run directory listed beside it, so anyone can
open the evidence or rerun it from its config.json.
"""
from __future__ import annotations

import dataclasses
import json
import pathlib
from typing import Callable

from splitbrain import analysis, rundir
from splitbrain.config import RunConfig


@dataclasses.dataclass(frozen=True)
class Claim:
    claim: str
    how: str
    runs: tuple[str, ...]  # names of the measurement runs it reads
    judge: Callable[[dict[str, "Measured"]], tuple[str, bool | None]]


@dataclasses.dataclass
class Measured:
    run: pathlib.Path
    summary: dict

    def status_rounds(self) -> list[dict]:
        return analysis.read_status_samples(self.run / rundir.STATUS)


def _fmt(v, unit="ms") -> str:
    return "–" if v is None else f"{v:.0f} {unit}"


def _elections(m):
    e = m["kill-leader"].summary["election_ms"]
    if not e["count"]:
        return "no election observed", None
    return f"mean {_fmt(e['mean'])}, p99 {_fmt(e['p99'])} over {e['count']} elections", e["mean"] < 200


def _recovery(m):
    r = m["kill-leader"].summary["recovery_ms"]
    if not r["count"]:
        return "no fault measured", None
    return f"p50 {_fmt(r['p50'])}, p99 {_fmt(r['p99'])}, max {_fmt(r['max'])} over {r['count']} faults", r["p99"] < 1000


def _read_p99(m, name):
    return m[name].summary["latency_by_f_ms"].get("read", {}).get("p99")


def _readindex(m):
    ri, log = _read_p99(m, "reads-readindex"), _read_p99(m, "reads-log")
    if ri is None or log is None:
        return "reads not measured", None
    return f"ReadIndex p99 {ri:.1f} ms vs log {log:.1f} ms (ratio {ri / log:.2f})", ri < log


def _snapshots(m):
    """Snapshot indexes seen in /status: each new one ~N entries after the last."""
    every = m["snapshots"].summary.get("snapshot_every") or 10000
    seen = sorted({s["snapshot_index"] for r in m["snapshots"].status_rounds() for s in r["nodes"].values()
                   if s and s.get("snapshot_index")})
    applied = max((s.get("applied") or 0 for r in m["snapshots"].status_rounds() for s in r["nodes"].values()
                   if s), default=0)
    if not seen:
        return f"no snapshot seen (applied reached {applied})", (None if applied < every else False)
    steps = [b - a for a, b in zip([0] + seen, seen)]
    ok = all(every <= d < every * 1.2 for d in steps) and applied - seen[-1] < every * 1.2
    return f"every {every} configured; snapshots at {', '.join(map(str, seen[:6]))}{' …' if len(seen) > 6 else ''} (applied {applied})", ok


def _linearizable(m):
    s = m["faults"].summary
    lin = s.get("linearizable") or {}
    faults = sorted({e["fault"] for e in s["nemesis"] if e.get("phase") == "start"})
    return f"valid={s['valid']} over {lin.get('ops')} ops; faults run: {', '.join(faults) or 'none'}", \
        (s["valid"] if s["valid"] in (True, False) else None)


CLAIMS = (
    Claim("leader election averages < 200 ms (3 nodes)",
          "SIGKILL of the leader again and again; election from status samples every 20 ms",
          ("kill-leader",), _elections),
    Claim("clients recover within 1 s after a fault",
          "fault start to the first ok write invoked after it (p99), same run", ("kill-leader",), _recovery),
    Claim("ReadIndex cuts read P99 against reads through the log",
          "`reads` workload at the same target rate, once per read mode, no faults",
          ("reads-readindex", "reads-log"), _readindex),
    Claim("a snapshot every 10000 entries",
          "write-heavy kv load; snapshot_index of every node sampled every 20 ms", ("snapshots",), _snapshots),
    Claim("linearizable under partition, kill, pause and clock faults",
          "register workload under a mixed nemesis, history checked", ("faults",), _linearizable),
)


def measurement_runs(base: RunConfig, quick: bool) -> dict[str, RunConfig]:
    t = 0.5 if quick else 1.0

    def cfg(**kw) -> RunConfig:
        return dataclasses.replace(base, **kw).validate()

    return {
        "kill-leader": cfg(workload="register", nemesis=("kill-leader",), time=40 * t, nemesis_interval=1.5,
                           fault_duration=1.0, quiet=2.0),
        "reads-readindex": cfg(workload="reads", nemesis=(), read_mode="readindex", time=20 * t, rate=300.0),
        "reads-log": cfg(workload="reads", nemesis=(), read_mode="log", time=20 * t, rate=300.0),
        "snapshots": cfg(workload="kv", nemesis=(), time=45 * t, concurrency=32,
                         snapshot_every=None if not quick else 2000),
        "faults": cfg(workload="register", nemesis=("partition", "kill", "pause", "clock"), time=60 * t,
                      nemesis_interval=3.0, fault_duration=2.0),
    }


def run_claims(base: RunConfig, quick: bool, say=print) -> tuple[pathlib.Path, list[dict]]:
    from splitbrain.campaign import run_campaign

    out = pathlib.Path(base.out)
    claims_dir = rundir.create(out, "claims")
    runs = measurement_runs(dataclasses.replace(base, out=str(claims_dir / "runs")), quick)
    measured: dict[str, Measured] = {}
    for i, (name, cfg) in enumerate(runs.items(), 1):
        say(f"[claims] measurement {i}/{len(runs)}: {name} ({cfg.time:.0f} s)")
        run, summary, interrupted = run_campaign(cfg)
        if interrupted:
            from splitbrain.errors import Interrupted

            raise Interrupted(interrupted)
        summary["snapshot_every"] = cfg.snapshot_every
        measured[name] = Measured(run, summary)
    rows = []
    for c in CLAIMS:
        text, holds = c.judge(measured)
        rows.append({"claim": c.claim, "how": c.how, "measured": text, "holds": holds,
                     "runs": [str(measured[r].run.relative_to(claims_dir)) for r in c.runs]})
    rundir.write_json(claims_dir / "claims.json", rows)
    (claims_dir / "claims.md").write_text(markdown(rows))
    rundir.point_latest(out, claims_dir)
    return claims_dir, rows


def markdown(rows: list[dict]) -> str:
    word = {True: "yes", False: "**no**", None: "not measured"}
    lines = ["| claim | how measured | measured | holds? |", "|---|---|---|---|"]
    lines += [f"| {r['claim']} | {r['how']} | {r['measured']} | {word[r['holds']]} |" for r in rows]
    return "\n".join(lines) + "\n"


def load(claims_dir: pathlib.Path) -> list[dict]:
    return json.loads((claims_dir / "claims.json").read_text())
