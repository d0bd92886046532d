"""Clock faults through the backend's ClockControl (libfaketime): skew, bump, strobe, rate."""
from __future__ import annotations

from ..types import ClockControl
from .base import Context, FaultPackage, keep_running, resolve, stop_running

COLOUR = "#cdb4db"


def _reset(ctx: Context, nodes) -> None:
    for n in nodes:
        ctx.backend.set_clock(n, 0.0, 1.0)
        ctx.clocks_touched.discard(n)


def _fixed_offsets(name: str, start_f: str, draw, targets: str) -> FaultPackage:
    """Each target's clock set to its own fixed offset `draw(ctx)`, reset at stop."""
    def start(ctx: Context):
        offsets = {n: draw(ctx) for n in resolve(targets, ctx)}
        for n, off in offsets.items():
            ctx.backend.set_clock(n, off, 1.0)
            ctx.clocks_touched.add(n)
        return {"offsets": offsets}

    def stop(ctx: Context, value):
        _reset(ctx, value["offsets"])
        return {"nodes": sorted(value["offsets"])}

    return FaultPackage(name, "clock", COLOUR, start_f, "reset-clock", start, stop, (ClockControl,))


def skew(max_seconds: float = 0.5, targets: str = "all") -> FaultPackage:
    """Every target gets its own fixed offset in [-max, +max]."""
    return _fixed_offsets("clock-skew", "start-clock-skew",
                          lambda ctx: round(ctx.rng.uniform(-max_seconds, max_seconds), 3), targets)


def bump(seconds: float = 60.0, targets: str = "one") -> FaultPackage:
    """A sudden jump forward or back by `seconds`."""
    return _fixed_offsets("clock-bump", "bump-clock", lambda ctx: seconds * ctx.rng.choice((-1, 1)), targets)


def rate(factor: float = 2.0, targets: str = "one") -> FaultPackage:
    """The clock runs fast (factor > 1) or slow (< 1): timers fire early or late."""
    def start(ctx: Context):
        nodes = resolve(targets, ctx)
        for n in nodes:
            ctx.backend.set_clock(n, 0.0, factor)
            ctx.clocks_touched.add(n)
        return {"nodes": nodes, "rate": factor}

    def stop(ctx: Context, value):
        _reset(ctx, value["nodes"])
        return {"nodes": value["nodes"]}

    return FaultPackage("clock-rate", "clock", COLOUR, "start-clock-rate", "reset-clock", start, stop, (ClockControl,))


def strobe(delta: float = 0.2, period: float = 0.05, targets: str = "one") -> FaultPackage:
    """The clock flips between +delta and 0 every `period` seconds until stopped."""
    def start(ctx: Context):
        nodes = resolve(targets, ctx)

        def flip(done):
            up = False
            while not done.wait(period):
                up = not up
                for n in nodes:
                    ctx.backend.set_clock(n, delta if up else 0.0, 1.0)

        for n in nodes:
            ctx.clocks_touched.add(n)
        return {"nodes": nodes, "delta": delta, "period": period, "strobe": keep_running(ctx, "clock-strobe", flip)}

    def stop(ctx: Context, value):
        stop_running(ctx, value["strobe"])
        _reset(ctx, value["nodes"])
        return {"nodes": value["nodes"]}

    return FaultPackage("clock-strobe", "clock", COLOUR, "start-clock-strobe", "reset-clock", start, stop,
                        (ClockControl,))


def packages() -> list[FaultPackage]:
    return [skew(), bump(), rate(), strobe()]
