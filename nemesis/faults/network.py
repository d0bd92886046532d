"""Link faults short of a cut: packet loss and slow links, on every link touching the targets."""
from __future__ import annotations

from ..types import Delayable, Lossy, Throttleable
from .base import Context, FaultPackage, resolve


def _links(ctx: Context, nodes):
    for a in nodes:
        for b in ctx.nodes:
            if a != b:
                yield a, b
                if b not in nodes:
                    yield b, a


def _link_fault(name: str, family: str, colour: str, start_f: str, stop_f: str, capability: type, setter: str,
                field: str, on, off, targets: str) -> FaultPackage:
    """A package that sets one link property on every link touching the targets
    (`backend.<setter>(a, b, on)`) and puts it back (`off`) at stop."""

    def start(ctx: Context):
        nodes = resolve(targets, ctx)
        links = sorted(set(_links(ctx, nodes)))
        for a, b in links:
            getattr(ctx.backend, setter)(a, b, on)
        ctx.links_touched = True
        return {"nodes": nodes, field: on, "links": [f"{a}->{b}" for a, b in links]}

    def stop(ctx: Context, value):
        for link in value["links"]:
            a, b = link.split("->")
            getattr(ctx.backend, setter)(a, b, off)
        return {"nodes": value["nodes"]}

    return FaultPackage(name, family, colour, start_f, stop_f, start, stop, (capability,))


def loss(probability: float = 0.2, targets: str = "one") -> FaultPackage:
    return _link_fault("packet-loss", "loss", "#ffd166", "start-loss", "stop-loss", Lossy, "set_loss",
                       "probability", probability, 0.0, targets)


def delay(seconds: float = 0.05, targets: str = "one") -> FaultPackage:
    return _link_fault("slow-link", "slow", "#b5e48c", "start-slow", "stop-slow", Delayable, "set_delay", "delay",
                       seconds, 0.0, targets)


def throttle(kbit: int = 256, targets: str = "one") -> FaultPackage:
    return _link_fault("bandwidth", "bandwidth", "#76c893", "start-bandwidth", "stop-bandwidth", Throttleable,
                       "set_rate", "kbit", kbit, None, targets)


def packages() -> list[FaultPackage]:
    return [loss(), delay(), throttle()]
