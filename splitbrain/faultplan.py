"""From the user's `--nemesis LIST` to the fault packages a schedule runs.

A name is either a fault family (`partition`, `kill`, `pause`, `clock`, ...:
every package of that family the backend can run) or an exact package name
(`partition-leader`, `kill-all`, see `nemesis.faults.BY_NAME`). A fault the
backend cannot do is refused with the reason, never silently dropped.
"""
from __future__ import annotations

from splitbrain.errors import UsageError

FAMILIES = {
    "partition": ("partition-halves", "partition-random-halves", "partition-one", "partition-leader",
                  "partition-majorities-ring", "partition-bridge", "partition-one-way"),
    "kill": ("kill-one", "kill-minority", "kill-leader"),
    "pause": ("pause-one", "pause-minority", "pause-leader"),
    "clock": ("clock-skew", "clock-bump", "clock-rate", "clock-strobe"),
    "loss": ("packet-loss",),
    "slow": ("slow-link",),
    "bandwidth": ("bandwidth",),
    "disk": ("power-loss-one", "disk-full"),
    "power-loss": ("power-loss-one", "power-loss-all"),
    "membership": ("membership",),
    "transfer": ("leader-transfer",),
}
LINK_FAULTS = frozenset({"Partitionable", "Lossy", "Delayable", "Throttleable"})


def packages(names, ctx, *, allow_link_faults: bool = True, why_no_links: str = ""):
    from nemesis import faults

    chosen, refused = [], []
    for name in names:
        if name in FAMILIES:
            members = [faults.BY_NAME[n] for n in FAMILIES[name]]
        elif name in faults.BY_NAME:
            members = [faults.BY_NAME[name]]
        else:
            known = sorted(set(FAMILIES) | set(faults.BY_NAME))
            raise UsageError(f"unknown fault {name!r} (known: {', '.join(known)})")
        for p in members:
            missing = p.missing(ctx)
            if not allow_link_faults and LINK_FAULTS & {r.__name__ for r in p.requires}:
                missing = missing + [why_no_links or "links the backend can cut"]
            (refused if missing else chosen).append((p, missing))
    usable = [p for p, _ in chosen]
    if names and not usable:
        p, missing = refused[0]
        raise UsageError(f"fault {p.name!r} cannot run here: needs {', '.join(missing)}")
    # A family gives what is possible; an explicitly named package must run.
    for p, missing in refused:
        if p.name in names:
            raise UsageError(f"fault {p.name!r} cannot run here: needs {', '.join(missing)}")
    return usable, [(p.name, m) for p, m in refused]


def backend_options(names, accepted: set[str] | None = None) -> dict:
    """Options the backend must be created with, because nodes start with them.
    Only those the backend accepts: a fault whose option is missing is then
    refused by `packages` with the capability it lacks, not the whole run."""
    wanted = set()
    for name in names:
        wanted |= set(FAMILIES.get(name, (name,)))
    opts = {}
    if any(n.startswith("clock") for n in wanted):
        opts["clock_control"] = True
    if any(n.startswith("power-loss") for n in wanted):
        opts["power_loss"] = True
    if "disk-full" in wanted:
        opts["disk_mb"] = 64
    return opts if accepted is None else {k: v for k, v in opts.items() if k in accepted}
