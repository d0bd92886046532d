"""Scenario files: a command, `----`, the output it must print, a blank line.

Commands drive a simulated `Network` (see `COMMANDS`); the output is a compact
text view of the cluster, so a behaviour change shows up as a readable diff.
Run with RAFT_REWRITE=1 to regenerate the expected outputs after an intended
change, then read the diff before committing it.
"""
from __future__ import annotations

import pathlib


from .sim import Network

TESTDATA = pathlib.Path(__file__).parent / "testdata"


def _role(r) -> str:
    return r.visible_role().name.lower()


class Scenario:
    def __init__(self) -> None:
        self.net: Network | None = None

    def run(self, line: str) -> str:
        name, *args = line.split()
        fn = getattr(self, "cmd_" + name.replace("-", "_"), None)
        if fn is None:
            raise ValueError(f"unknown scenario command {name!r}")
        out = fn(*args)
        return out if out is not None else "ok"

    # --- commands -----------------------------------------------------------
    def cmd_cluster(self, n: str, *opts: str) -> str:
        kw: dict = {}
        seed = 0
        for o in opts:
            k, v = o.split("=", 1)
            if k == "seed":
                seed = int(v)
            elif v in ("true", "false"):
                kw[k] = v == "true"
            elif v.isdigit():
                kw[k] = int(v)
            else:
                kw[k] = v
        self.net = Network(int(n), seed=seed, **kw)
        return self.cmd_status()

    def cmd_tick(self, n: str = "1") -> str:
        self.net.tick(int(n))
        return self.cmd_status()

    def cmd_campaign(self, i: str) -> str:
        self.net.campaign(int(i))
        return self.cmd_status()

    def cmd_elect(self) -> str:
        self.net.elect()
        return self.cmd_status()

    def cmd_isolate(self, i: str) -> None:
        self.net.isolate(int(i))

    def cmd_heal(self) -> None:
        self.net.heal()

    def cmd_drop(self, kind: str) -> None:
        """Drop every message of a type (e.g. APP) until `drop none`."""
        if kind == "none":
            self.net.filter = None
        else:
            self.net.filter = lambda m, k=kind: m.type.name == k

    def cmd_propose(self, i: str, data: str) -> str:
        try:
            idx = self.net.nodes[int(i)].rn.propose(data.encode())
        except Exception as e:  # the scenario records refusals as output
            return f"error: {type(e).__name__}: {e}"
        self.net.deliver()
        return f"index {idx}"

    def cmd_read(self, i: str, ctx: str) -> str:
        try:
            self.net.nodes[int(i)].rn.read_index(ctx.encode())
        except Exception as e:
            return f"error: {type(e).__name__}: {e}"
        self.net.deliver()
        return self.cmd_reads(i)

    def cmd_reads(self, i: str) -> str:
        rs = self.net.nodes[int(i)].read_states
        if not rs:
            return "no read states"
        return "\n".join(f"read {r.ctx.decode()} at index {r.index}" for r in rs)

    def cmd_status(self) -> str:
        lines = []
        for i, n in sorted(self.net.nodes.items()):
            r = n.rn.raft
            lines.append(f"{i}: {_role(r):<13} term={r.term} lead={r.lead} "
                         f"commit={r.log.committed} last={r.log.last_index()}")
        return "\n".join(lines)

    def cmd_log(self, i: str) -> str:
        r = self.net.nodes[int(i)].rn.raft
        return " ".join(f"{e.index}/{e.term}:{e.data.decode() or '-'}" for e in r.log.ents) or "empty"


def parse(text: str) -> list[tuple[str, str, str]]:
    """[(comment lines before it, command, expected output)]."""
    blocks = []
    lines = text.splitlines()
    comments: list[str] = []
    k = 0
    while k < len(lines):
        line = lines[k].strip()
        k += 1
        if not line:
            continue
        if line.startswith("#"):
            comments.append(line)
            continue
        if k >= len(lines) or lines[k].strip() != "----":
            raise ValueError(f"line {k}: command {line!r} must be followed by ----")
        k += 1
        out = []
        while k < len(lines) and lines[k].strip():
            out.append(lines[k].rstrip())
            k += 1
        blocks.append(("\n".join(comments), line, "\n".join(out)))
        comments = []
    return blocks


def render(blocks: list[tuple[str, str, str]]) -> str:
    return "".join((f"{c}\n" if c else "") + f"{cmd}\n----\n{out}\n\n" for c, cmd, out in blocks)


def run_file(path: pathlib.Path):
    """(expected blocks, actual blocks) of one scenario file."""
    want = parse(path.read_text())
    sc = Scenario()
    got = [(c, cmd, sc.run(cmd)) for c, cmd, _ in want]
    return want, got
