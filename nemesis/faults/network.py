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


def loss(probability: float = 0.2, targets: str = "one") -> FaultPackage:
    def start(ctx: Context):
        nodes = resolve(targets, ctx)
        links = sorted(set(_links(ctx, nodes)))
        for a, b in links:
            ctx.backend.set_loss(a, b, probability)
        ctx.links_touched = True
        return {"nodes": nodes, "probability": probability, "links": [f"{a}->{b}" for a, b in links]}

    def stop(ctx: Context, value):
        for link in value["links"]:
            a, b = link.split("->")
            ctx.backend.set_loss(a, b, 0.0)
        return {"nodes": value["nodes"]}

    return FaultPackage("packet-loss", "start-loss", "stop-loss", start, stop, (Lossy,))


def delay(seconds: float = 0.05, targets: str = "one") -> FaultPackage:
    def start(ctx: Context):
        nodes = resolve(targets, ctx)
        links = sorted(set(_links(ctx, nodes)))
        for a, b in links:
            ctx.backend.set_delay(a, b, seconds)
        ctx.links_touched = True
        return {"nodes": nodes, "delay": seconds, "links": [f"{a}->{b}" for a, b in links]}

    def stop(ctx: Context, value):
        for link in value["links"]:
            a, b = link.split("->")
            ctx.backend.set_delay(a, b, 0.0)
        return {"nodes": value["nodes"]}

    return FaultPackage("slow-link", "start-slow", "stop-slow", start, stop, (Delayable,))


def throttle(kbit: int = 256, targets: str = "one") -> FaultPackage:
    def start(ctx: Context):
        nodes = resolve(targets, ctx)
        links = sorted(set(_links(ctx, nodes)))
        for a, b in links:
            ctx.backend.set_rate(a, b, kbit)
        ctx.links_touched = True
        return {"nodes": nodes, "kbit": kbit, "links": [f"{a}->{b}" for a, b in links]}

    def stop(ctx: Context, value):
        for link in value["links"]:
            a, b = link.split("->")
            ctx.backend.set_rate(a, b, None)
        return {"nodes": value["nodes"]}

    return FaultPackage("bandwidth", "start-bandwidth", "stop-bandwidth", start, stop, (Throttleable,))


PACKAGES = [loss(), delay(), throttle()]
