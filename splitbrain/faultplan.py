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


def packages(names, ctx, *, allow_link_faults: bool = True, why_no_links: str = ""):
    chosen, refused = [], []
    for p in resolve(names):
        missing = p.missing(ctx)
        if not allow_link_faults and p.acts_on_links:
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
    """Options the backend must be created with, because nodes start with them: those that
    enable the capabilities the chosen packages require. Only those the backend accepts: a
    fault whose option is missing is then refused by `packages` with the capability it
    lacks, not the whole run."""
    from nemesis.types import enabling_options

    opts = enabling_options({c for p in resolve(names) for c in p.requires})
    return opts if accepted is None else {k: v for k, v in opts.items() if k in accepted}
