"""From the user's `--nemesis LIST` to the fault packages a schedule runs.

A name is either a fault family (`partition`, `kill`, `pause`, `clock`, ...:
every package that family offers and the backend can run) or an exact package
name (`partition-leader`, `kill-all`). Both are asked of the packages
themselves (`nemesis.faults.catalogue`). A fault the backend cannot do is
refused with the reason, never silently dropped.
"""
from __future__ import annotations

from splitbrain.errors import UsageError


def resolve(names) -> list:
    """--nemesis names -> packages, in catalogue order within a family; UsageError for an unknown name."""
    from nemesis import faults

    catalogue = faults.catalogue()
    out = []
    for name in names:
        members = [p for p in catalogue if p.name == name] or [p for p in catalogue if name in p.groups]
        if not members:
            known = sorted({p.name for p in catalogue} | {g for p in catalogue for g in p.groups})
            raise UsageError(f"unknown fault {name!r} (known: {', '.join(known)})")
        out += members
    return out


# What a fault may need, in the words of what a user can do about it: of the suite and the
# system (nemesis.faults.NEEDS, given by the system's probe and admin actions) and of the
# backend (nemesis.types.CAPABILITIES).
NEED_WORDS = {
    "leader": "a system that names its leader (a [leader] probe in a system file)",
    "status": "a system the suite can probe",
    "remove_member": "a system whose membership the suite can change (the reference KV on a backend that can "
                     "kill and wipe nodes, or [membership] remove and add commands in a system file)",
    "add_member": "a system whose membership the suite can change (the reference KV on a backend that can "
                  "kill and wipe nodes, or [membership] remove and add commands in a system file)",
    "transfer_leader": "a system whose leadership the suite can move (a [leader] transfer command in a "
                       "system file)",
}
CAPABILITY_WORDS = {
    "Killable": "a backend that can kill nodes", "Pausable": "a backend that can pause nodes",
    "Partitionable": "a backend that can cut links", "Lossy": "a backend that can drop packets",
    "Delayable": "a backend that can delay packets", "Throttleable": "a backend that can throttle links",
    "ClockControl": "a backend that can set node clocks (libfaketime)",
    "PowerLoss": "a backend that can cut power (FUSE: root and /dev/fuse)",
    "DiskFull": "a backend that can fill disks (tmpfs: root)",
    "TornWrites": "a backend that can tear unsynced writes (FUSE: root and /dev/fuse)",
    "Corruptible": "a backend that can corrupt files (FUSE: root and /dev/fuse)",
    "Wipeable": "a backend that can delete a node's data directory",
}


def why_not(missing: list[str]) -> list[str]:
    """A package's missing needs and capabilities (FaultPackage.missing), as a user reads them, once each."""
    out: list[str] = []
    for m in missing:
        words = NEED_WORDS.get(m) or CAPABILITY_WORDS.get(m) or m
        if words not in out:
            out.append(words)
    return out


def packages(names, ctx, *, allow_link_faults: bool = True, why_no_links: str = "", strict: bool = True,
             why_no_clock: str | None = None):
    """The packages `names` picks that this backend and system can run, and for each it cannot run
    (name, why not: what it needs, in words); UsageError when a name asked for explicitly, or every
    package of the names, cannot run (unless not `strict`: explore offers every fault and takes
    what runs). why_no_clock: why the system's clocks are out of libfaketime's reach, if they are.
    Needs no running node: ask it before anything starts."""
    chosen, refused = [], []
    for p in resolve(names):
        missing = why_not(p.missing(ctx))
        if not allow_link_faults and p.acts_on_links:
            missing = missing + [why_no_links or "links the backend can cut"]
        if why_no_clock and any(c.__name__ == "ClockControl" for c in p.requires):
            missing = missing + [f"a system whose clocks libfaketime reaches ({why_no_clock})"]
        (refused if missing else chosen).append((p, missing))
    usable = [p for p, _ in chosen]
    if not strict:
        return usable, [(p.name, m) for p, m in refused]
    if names and not usable:
        p, missing = refused[0]
        raise UsageError(f"fault {p.name!r} cannot run here: needs {', '.join(missing)}")
    # A family gives what is possible; an explicitly named package must run.
    for p, missing in refused:
        if p.name in names:
            raise UsageError(f"fault {p.name!r} cannot run here: needs {', '.join(missing)}")
    return usable, [(p.name, m) for p, m in refused]


def help_text() -> str:
    """Every fault family and its packages, from the registry, for `run --help`."""
    from nemesis import faults

    families: dict[str, list[str]] = {}
    for p in faults.catalogue():
        for g in p.groups or (p.name,):
            families.setdefault(g, []).append(p.name)
    return "; ".join(f"{g}: {', '.join(ns)}" if ns != [g] else g for g, ns in families.items())


def backend_options(names, accepted: set[str] | None = None) -> dict:
    """Options the backend must be created with, because nodes start with them: those that
    enable the capabilities the chosen packages require. Only those the backend accepts: a
    fault whose option is missing is then refused by `packages` with the capability it
    lacks, not the whole run."""
    from nemesis.types import enabling_options

    opts = enabling_options({c for p in resolve(names) for c in p.requires})
    return opts if accepted is None else {k: v for k, v in opts.items() if k in accepted}
