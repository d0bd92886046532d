"""docker: nodes are containers on a user-defined network with its own subnet (docker SDK).

Kill and pause go through the engine (SIGKILL; the freezer cgroup). Cuts and loss
are iptables rules run inside the receiving container (started with NET_ADMIN),
in our own chains (`nemesis.iptables`); a container's network namespace dies with
it, so the rules of a node are put back whenever it starts. Containers and the
network carry the label splitbrain.run=<run id> (for `nemesis.sweep`).

The node's argv is the container's command; its data dir is /data inside it
(a host dir under the work dir, so it survives restarts). Python nodes must use
`NodeAddresses.python` (the image's interpreter); an argv that starts with the
suite's own sys.executable gets it substituted, since that path does not exist in
the image. Images are built locally (no registry needed, `nemesis.images`): a
Debian bookworm root made with debootstrap, cached by tag; `image=None` (the
default) builds or reuses the reference KV node image (tagged by a content hash).

Options: image (tag), volumes ({host_path: container_path[:ro]}), python (the
interpreter in the image, default python3), clock_control (preload libfaketime:
each container mounts its host dir <workdir>/<node>/clock at /nemesis, where the
control file is rewritten atomically).

Container logs are saved to <workdir>/<node>/node.log at teardown, before the
containers go.
"""
from __future__ import annotations

import hashlib
import os
import sys
from typing import Sequence

from .. import clock, images, iptables
from ..types import Addr, ExecResult, NodeAddresses, NodeSpec
from .host import BackendError, new_run_id

CLIENT_PORT = 8000
PEER_PORT = 9000
CLOCK_DIR = "/nemesis"
IMAGE_LIBFAKETIME = "/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1"  # Debian's path, in the image (see nemesis.clock)


class DockerBackend:
    name = "docker"
    max_nodes = 250  # one /24 network per run, .254 the gateway

    def __init__(self, workdir, run_id=None, *, image: str | None = None, volumes: dict | None = None,
                 python: str = "python3", clock_control: bool = False):
        self.client = images.engine()
        self.workdir = os.path.abspath(workdir)
        self.run_id = run_id or new_run_id()
        self.image = image
        self.volumes = dict(volumes or {})
        self.python = python
        self.clock_control = clock_control
        if clock_control:
            self.set_clock = self._set_clock
        h = hashlib.sha256(self.run_id.encode()).digest()
        self.subnet = f"10.{150 + h[0] % 50}.{h[1]}"
        self.network = None
        self.specs: dict[str, NodeSpec] = {}
        self.addrs: dict[str, NodeAddresses] = {}
        self.ips: dict[str, str] = {}
        self.containers: dict = {}
        self.cuts: set[tuple[str, str]] = set()
        self.losses: dict[str, dict[str, float]] = {}

    def nodes(self) -> list[str]:
        return list(self.specs)

    def addresses(self, node: str) -> NodeAddresses:
        return self.addrs[node]

    def _argv(self, spec: NodeSpec, a: NodeAddresses) -> list[str]:
        argv = [str(x) for x in spec.argv(a)]
        if argv and argv[0] == sys.executable:
            argv[0] = self.python
        return argv

    def _clock_file(self, node: str) -> str:
        return os.path.join(self.workdir, node, "clock", "faketime.rc")

    def _set_clock(self, node: str, offset: float, rate: float = 1.0) -> None:
        clock.write_control(self._clock_file(node), offset, rate)

    def setup(self, specs: Sequence[NodeSpec]) -> dict[str, NodeAddresses]:
        import docker
        os.makedirs(self.workdir, exist_ok=True)
        if self.image is None:
            self.image = images.ensure_node_image()
            self.python = images.PYTHON
        labels = {"splitbrain.run": self.run_id}
        ipam = docker.types.IPAMConfig(pool_configs=[docker.types.IPAMPool(
            subnet=f"{self.subnet}.0/24", gateway=f"{self.subnet}.254")])
        self.network = self.client.networks.create(f"{self.run_id}-net", driver="bridge", ipam=ipam,
                                                   labels=labels)
        for i, s in enumerate(specs):
            self.specs[s.id] = s
            self.ips[s.id] = f"{self.subnet}.{i + 1}"
        clients = {s.id: Addr(self.ips[s.id], s.client_port or CLIENT_PORT) for s in specs}
        peers = {s.id: Addr(self.ips[s.id], s.peer_port or PEER_PORT) for s in specs}
        for s in specs:
            data = s.data_dir if os.path.isabs(s.data_dir) else "/data"
            a = NodeAddresses(id=s.id, host=self.ips[s.id], client=clients[s.id], peer=peers[s.id],
                              dial=dict(peers), cluster=dict(peers), clients=dict(clients), data_dir=data,
                              log_path=os.path.join(self.workdir, s.id, "node.log"), python=self.python)
            self.addrs[s.id] = a
            endpoint = self.client.api.create_endpoint_config(ipv4_address=self.ips[s.id])
            # the data dir is a host directory, so it survives kill/restart and can be inspected
            host_data = os.path.join(self.workdir, s.id, "data")
            os.makedirs(host_data, exist_ok=True)
            binds = [f"{k}:{v}" for k, v in self.volumes.items()] + [f"{host_data}:{data}"]
            env = dict(s.env)
            if self.clock_control:
                # a directory, not the file: the control file is replaced by rename
                os.makedirs(os.path.dirname(self._clock_file(s.id)), exist_ok=True)
                self._set_clock(s.id, 0.0)
                binds.append(f"{os.path.dirname(self._clock_file(s.id))}:{CLOCK_DIR}")
                env.update(clock.environment(IMAGE_LIBFAKETIME, f"{CLOCK_DIR}/faketime.rc"))
            host_cfg = self.client.api.create_host_config(cap_add=["NET_ADMIN"], binds=binds)
            cid = self.client.api.create_container(
                self.image, command=self._argv(s, a), name=f"{self.run_id}-{s.id}",
                hostname=s.id, environment=env, labels=labels, host_config=host_cfg,
                networking_config=self.client.api.create_networking_config({self.network.name: endpoint}))
            self.containers[s.id] = self.client.containers.get(cid["Id"])
        return dict(self.addrs)

    # -- processes --------------------------------------------------------------------------

    def _c(self, node: str):
        c = self.containers[node]
        c.reload()
        return c

    def is_running(self, node: str) -> bool:
        return self._c(node).status in ("running", "paused")

    def start(self, node: str) -> None:
        c = self._c(node)
        if c.status == "paused":
            c.unpause()
        elif c.status != "running":
            c.start()
            self._reapply_rules(node)

    def stop(self, node: str, timeout: float = 10.0) -> None:
        c = self._c(node)
        if c.status == "paused":
            c.unpause()
        c.stop(timeout=int(timeout))

    def kill(self, node: str) -> None:
        c = self._c(node)
        if c.status in ("running", "paused"):
            c.kill("SIGKILL")
            c.wait(timeout=30)

    def pause(self, node: str) -> None:
        if self._c(node).status == "running":
            self.containers[node].pause()

    def resume(self, node: str) -> None:
        if self._c(node).status == "paused":
            self.containers[node].unpause()

    def exec(self, node: str, argv: Sequence[str], timeout: float = 30.0) -> ExecResult:
        r = self._c(node).exec_run([str(a) for a in argv], demux=True)
        out, err = r.output if r.output else (b"", b"")
        return ExecResult(r.exit_code, (out or b"").decode(), (err or b"").decode())

    def _sh(self, node: str, cmds: list[list[str]], tolerate: tuple[int, ...] = ()) -> None:
        r = self.exec(node, ["sh", "-c", iptables.shell(cmds, tolerate)])
        if r.returncode != 0:
            raise BackendError(f"{node}: {r.stderr.strip() or r.stdout.strip()}")

    def collect_logs(self, dest_dir: str) -> list[str]:
        out = []
        for node, c in self.containers.items():
            d = os.path.join(dest_dir, node)
            os.makedirs(d, exist_ok=True)
            path = os.path.join(d, "node.log")
            with open(path, "wb") as f:
                f.write(c.logs())
            out.append(path)
        return out

    # -- links ------------------------------------------------------------------------------

    def _reapply_rules(self, node: str) -> None:
        cmds = iptables.init_chains()
        cmds += [iptables.cut(self.ips[s]) for s, d in sorted(self.cuts) if d == node]
        cmds += iptables.loss_rules(self.losses.get(node, {}))
        self._sh(node, cmds)

    def _check(self, src: str, dst: str) -> None:
        if src == dst or src not in self.specs or dst not in self.specs:
            raise ValueError(f"no link {src}->{dst}")

    def _apply(self, dst: str, cmds: list[list[str]]) -> None:
        # a node that is down gets its rules when it starts again
        if self._c(dst).status == "running":
            self._sh(dst, cmds)

    def cut(self, src: str, dst: str) -> None:
        self._check(src, dst)
        if (src, dst) not in self.cuts:
            self.cuts.add((src, dst))
            self._apply(dst, [iptables.cut(self.ips[src])])

    def restore(self, src: str, dst: str) -> None:
        self._check(src, dst)
        if (src, dst) in self.cuts:
            self.cuts.discard((src, dst))
            self._apply(dst, [iptables.uncut(self.ips[src])])

    def restore_all(self) -> None:
        self.cuts.clear()
        for n in self.specs:
            self._apply(n, [iptables.flush(iptables.CUT)])

    def set_loss(self, src: str, dst: str, probability: float) -> None:
        self._check(src, dst)
        if not 0.0 <= probability <= 1.0:
            raise ValueError(f"loss probability must be in [0, 1], got {probability}")
        self.losses.setdefault(dst, {})[self.ips[src]] = probability
        self._apply(dst, iptables.loss_rules(self.losses[dst]))

    def reset_links(self) -> None:
        self.restore_all()
        self.losses.clear()
        for n in self.specs:
            self._apply(n, [iptables.flush(iptables.LOSS)])

    def teardown(self) -> None:
        errors = []
        try:
            self.collect_logs(self.workdir)  # the engine's logs go with the containers
        except Exception as e:
            errors.append(f"saving logs: {e}")
        def remove(c):
            try:
                c.remove(force=True)
            except Exception as e:
                errors.append(str(e))

        # on vfs a removal deletes a whole root filesystem copy: do them side by side
        from concurrent.futures import ThreadPoolExecutor
        with ThreadPoolExecutor(max(1, len(self.containers))) as pool:
            list(pool.map(remove, self.containers.values()))
        self.containers.clear()
        if self.network is not None:
            try:
                self.network.remove()
            except Exception as e:
                errors.append(str(e))
            self.network = None
        self.client.close()
        if errors:
            raise BackendError("teardown: " + "; ".join(errors))
