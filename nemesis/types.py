"""The seam between the suite and a backend: node specs, allocated addresses, capabilities."""
from __future__ import annotations

import dataclasses
import re
import sys
from typing import Callable, Mapping, Protocol, Sequence, runtime_checkable


@dataclasses.dataclass(frozen=True, order=True)
class Addr:
    host: str
    port: int

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"


@dataclasses.dataclass(frozen=True)
class NodeAddresses:
    """What a backend allocated for one node, handed to the suite's argv builder.

    `client` and `peer` are where the node must listen (and what it advertises);
    the suite reaches `client` directly. `dial[j]` is the address THIS node must
    dial to reach node j's peer port (itself included); on the local backend it is
    a proxy owned by the nemesis, elsewhere it equals `cluster[j]`. `cluster` is
    every node's own peer address and `clients` every node's client address: the
    one global view that systems like etcd need for --initial-cluster. `python` is
    the interpreter a Python node must be started with where it runs.
    """

    id: str
    host: str
    client: Addr
    peer: Addr
    dial: Mapping[str, Addr]
    cluster: Mapping[str, Addr]
    clients: Mapping[str, Addr]
    data_dir: str
    log_path: str = ""
    # the Python interpreter where the node runs: a container's differs from the suite's
    python: str = sys.executable

    def dial_list(self) -> str:
        """`id=host:port,...` in node order, the shape `python -m reference_kv --peers` takes."""
        return ",".join(f"{k}={v}" for k, v in self.dial.items())


ArgvBuilder = Callable[[NodeAddresses], Sequence[str]]

_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def check_env_names(env: Mapping[str, str]) -> None:
    """Every key is a variable name: backends that start nodes through a shell (ssh) put it there."""
    for key in env:
        if not isinstance(key, str) or not _ENV_NAME.fullmatch(key):
            raise ValueError(f"env key {key!r} is not a variable name (letters, digits and _, not starting "
                             f"with a digit)")


@dataclasses.dataclass(frozen=True)
class NodeSpec:
    """One node of the system under test, independent of where it runs.

    `argv(addresses)` returns the command line; it is called again before every
    start, so it must be pure. `env` is added to the backend's environment.
    `data_dir` is a path relative to the backend's per-node directory unless
    absolute (the backend creates it). `client_port`/`peer_port` pin ports (0 =
    the backend chooses; backends that give each node its own IP use fixed
    defaults there).
    """

    id: str
    argv: ArgvBuilder
    env: Mapping[str, str] = dataclasses.field(default_factory=dict)
    data_dir: str = "data"
    client_port: int = 0
    peer_port: int = 0


@dataclasses.dataclass
class ExecResult:
    returncode: int
    stdout: str
    stderr: str


class Backend(Protocol):
    """Every backend: owns the nodes of one cluster and its own resources."""

    name: str
    run_id: str

    def setup(self, specs: Sequence[NodeSpec]) -> dict[str, NodeAddresses]: ...
    def nodes(self) -> list[str]: ...
    def addresses(self, node: str) -> NodeAddresses: ...
    def start(self, node: str) -> None: ...
    def stop(self, node: str, timeout: float = 10.0) -> None: ...
    def is_running(self, node: str) -> bool: ...
    def exec(self, node: str, argv: Sequence[str], timeout: float = 30.0) -> ExecResult: ...
    def collect_logs(self, dest_dir: str) -> list[str]: ...
    def teardown(self) -> None: ...


# Capabilities: a fault is offered only where isinstance(backend, Capability).


@runtime_checkable
class Killable(Protocol):
    def kill(self, node: str) -> None: ...


@runtime_checkable
class Pausable(Protocol):
    def pause(self, node: str) -> None: ...
    def resume(self, node: str) -> None: ...


@runtime_checkable
class Partitionable(Protocol):
    """cut(src, dst) drops traffic from src to dst only; restore undoes it."""

    def cut(self, src: str, dst: str) -> None: ...
    def restore(self, src: str, dst: str) -> None: ...
    def restore_all(self) -> None: ...


@runtime_checkable
class Lossy(Protocol):
    def set_loss(self, src: str, dst: str, probability: float) -> None: ...


@runtime_checkable
class Delayable(Protocol):
    def set_delay(self, src: str, dst: str, seconds: float) -> None: ...


@runtime_checkable
class Throttleable(Protocol):
    def set_rate(self, src: str, dst: str, kbit: int | None) -> None: ...


@runtime_checkable
class ClockControl(Protocol):
    """Faked clock per node: offset in seconds and rate (1.0 = real speed)."""

    def set_clock(self, node: str, offset: float, rate: float = 1.0) -> None: ...


@runtime_checkable
class PowerLoss(Protocol):
    """Drop every write to the node's data dir that was not fsynced (node must be down)."""

    def drop_unsynced(self, node: str) -> None: ...


@runtime_checkable
class TornWrites(Protocol):
    """Keep a random prefix of each file's unsynced writes, the rest lost (node must be down)."""

    def tear_unsynced(self, node: str, seed: int) -> dict: ...


@runtime_checkable
class Corruptible(Protocol):
    """Flip one bit of, or truncate ("bitflip" | "truncate"), one file of the node's data dir whose name
    matches a pattern (node must be down)."""

    def corrupt(self, node: str, mode: str, pattern: str, seed: int) -> dict: ...


@runtime_checkable
class Wipeable(Protocol):
    """Delete everything in the node's data dir (node must be down): a disk replaced, a volume lost."""

    def wipe(self, node: str) -> None: ...


@runtime_checkable
class DiskFull(Protocol):
    def fill_disk(self, node: str) -> None: ...
    def free_disk(self, node: str) -> None: ...


@runtime_checkable
class LinkReset(Protocol):
    """Heal of every link-level fault (cuts, loss, delay, rates) in one call."""

    def reset_links(self) -> None: ...


CAPABILITIES = (Killable, Pausable, Partitionable, Lossy, Delayable, Throttleable,
                ClockControl, PowerLoss, TornWrites, Corruptible, Wipeable, DiskFull)
# What a fault needs of the links between nodes (not of the nodes).
LINK_CAPABILITIES = (Partitionable, Lossy, Delayable, Throttleable)
# Capabilities that exist only if the nodes start with them: the backend option that gives each
# (libfaketime preloaded; the data dir on the nemesis FUSE filesystem; on a 64 MiB tmpfs).
ENABLED_BY = {ClockControl: {"clock_control": True}, PowerLoss: {"power_loss": True},
              TornWrites: {"power_loss": True}, Corruptible: {"power_loss": True}, DiskFull: {"disk_mb": 64}}


def enabling_options(capabilities) -> dict:
    """The backend options that give these capabilities (those that need one)."""
    out: dict = {}
    for c in CAPABILITIES:
        if c in capabilities:
            out.update(ENABLED_BY.get(c, {}))
    return out


def capabilities(backend: object) -> list[str]:
    return [c.__name__ for c in CAPABILITIES if isinstance(backend, c)]
