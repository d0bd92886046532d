"""iptables/tc command lines shared by the netns, docker and ssh backends.

Every rule lives in two chains of our own, jumped to from INPUT, so healing is a
flush and nothing else in the namespace is touched:
SPLITBRAIN-CUT holds `-s SRC -j DROP` (dst drops src's packets: a one-way cut),
SPLITBRAIN-LOSS holds `-s SRC -m statistic --mode random --probability P -j DROP`.
Bandwidth is an htb class per destination on the sender's egress (no netem in this
kernel, so there is no delay here: delay needs the local backend's proxies).
"""
from __future__ import annotations

CUT = "SPLITBRAIN-CUT"
LOSS = "SPLITBRAIN-LOSS"


def run_chains(run_id: str) -> tuple[str, str]:
    """(cut, loss) chain names of one run, for hosts shared by several runs (ssh)."""
    return f"SB-CUT-{run_id}"[:28], f"SB-LOSS-{run_id}"[:28]


def init_chains(cut_chain: str = CUT, loss_chain: str = LOSS) -> list[list[str]]:
    out = []
    for chain in (cut_chain, loss_chain):
        out += [["iptables", "-w", "-N", chain], ["iptables", "-w", "-I", "INPUT", "-j", chain]]
    return out


def remove_chains(cut_chain: str = CUT, loss_chain: str = LOSS) -> list[list[str]]:
    """Undo init_chains (each step may fail when already gone: run them tolerantly)."""
    out = []
    for chain in (cut_chain, loss_chain):
        out += [["iptables", "-w", "-D", "INPUT", "-j", chain], ["iptables", "-w", "-F", chain],
                ["iptables", "-w", "-X", chain]]
    return out


def cut(src_ip: str, chain: str = CUT) -> list[str]:
    return ["iptables", "-w", "-A", chain, "-s", src_ip, "-j", "DROP"]


def uncut(src_ip: str, chain: str = CUT) -> list[str]:
    return ["iptables", "-w", "-D", chain, "-s", src_ip, "-j", "DROP"]


def flush(chain: str) -> list[str]:
    return ["iptables", "-w", "-F", chain]


def loss_rules(losses: dict[str, float], chain: str = LOSS) -> list[list[str]]:
    """The whole LOSS chain for one receiving node: {src_ip: probability}."""
    out = [flush(chain)]
    for ip, p in sorted(losses.items()):
        if p > 0:
            out.append(["iptables", "-w", "-A", chain, "-s", ip, "-m", "statistic", "--mode", "random",
                        "--probability", f"{p:.4f}", "-j", "DROP"])
    return out


def rate_rules(dev: str, rates: dict[str, int]) -> list[list[str]]:
    """The whole egress qdisc for one sending node: {dst_ip: kbit}. Empty = no shaping."""
    out = [["tc", "qdisc", "del", "dev", dev, "root"]]  # may fail when absent; callers ignore that one
    if not rates:
        return out
    out.append(["tc", "qdisc", "add", "dev", dev, "root", "handle", "1:", "htb", "default", "1", "r2q", "1000"])
    out.append(["tc", "class", "add", "dev", dev, "parent", "1:", "classid", "1:1", "htb", "rate", "10gbit"])
    for i, (ip, kbit) in enumerate(sorted(rates.items()), start=10):
        out.append(["tc", "class", "add", "dev", dev, "parent", "1:", "classid", f"1:{i}", "htb",
                    "rate", f"{kbit}kbit", "ceil", f"{kbit}kbit"])
        out.append(["tc", "filter", "add", "dev", dev, "parent", "1:", "protocol", "ip", "prio", "1", "u32",
                    "match", "ip", "dst", f"{ip}/32", "flowid", f"1:{i}"])
    return out


def shell(cmds: list[list[str]], tolerate: tuple[int, ...] = ()) -> str:
    """One `sh -c` script (for exec over docker or ssh) that stops at the first failure,
    except for the commands at indexes in `tolerate` (e.g. deleting what may be absent)."""
    import shlex
    return " && ".join(shlex.join(c) + (" 2>/dev/null || true" if i in tolerate else "")
                       for i, c in enumerate(cmds))
