"""Disk faults: the power-loss FUSE filesystem and a full disk, alone and through a backend."""
from __future__ import annotations

import errno
import os
import random
import shutil

import pytest

from nemesis import faults
from nemesis.backends.host import BackendError
from nemesis.backends.local import LocalBackend
from nemesis.faults.base import Context
from nemesis.fusefs import FuseMount
from nemesis_helpers import http_json, run_id, standin_specs, wait_until
from system_parts import require

pytestmark = [pytest.mark.integration, pytest.mark.root]
require("fuse")


@pytest.fixture
def mount(tmp_path):
    backing, mnt = tmp_path / "backing", tmp_path / "mnt"
    backing.mkdir()
    mnt.mkdir()
    m = FuseMount(str(backing), str(mnt), tmp_path / "ctl.sock")
    try:
        yield m, backing, mnt
    finally:
        m.close()
    assert not m.mounted()


def write(path, data: bytes, sync: bool, mode="wb"):
    with open(path, mode) as f:
        f.write(data)
        f.flush()
        if sync:
            os.fsync(f.fileno())


def test_power_loss_drops_unsynced_and_keeps_synced(mount):
    m, backing, mnt = mount
    write(mnt / "synced", b"durable", sync=True)
    write(mnt / "unsynced", b"volatile", sync=False)
    write(mnt / "mixed", b"first;", sync=True)
    write(mnt / "mixed", b"second", sync=False, mode="ab")
    os.makedirs(mnt / "sub")
    write(mnt / "sub" / "renamed.tmp", b"moved", sync=False)
    os.rename(mnt / "sub" / "renamed.tmp", mnt / "sub" / "renamed")
    # before the power loss everything reads back as written
    assert (mnt / "unsynced").read_bytes() == b"volatile"
    assert (mnt / "mixed").read_bytes() == b"first;second"
    assert (mnt / "sub" / "renamed").read_bytes() == b"moved"
    assert (backing / "synced").read_bytes() == b"durable"
    assert m.drop() == 3
    assert (mnt / "synced").read_bytes() == b"durable"
    assert (mnt / "unsynced").read_bytes() == b""
    assert os.stat(mnt / "unsynced").st_size == 0
    assert (mnt / "mixed").read_bytes() == b"first;"
    assert (mnt / "sub" / "renamed").read_bytes() == b""
    os.unlink(mnt / "mixed")
    assert not (backing / "mixed").exists()


def test_a_torn_power_loss_keeps_a_prefix_of_each_files_unsynced_bytes(mount):
    m, backing, mnt = mount
    write(mnt / "log", b"synced;", sync=True)
    write(mnt / "log", b"appended-and-never-synced", sync=False, mode="ab")
    write(mnt / "fresh", b"0123456789", sync=False)
    write(mnt / "clean", b"durable", sync=True)
    open(mnt / "opened", "ab").close()  # opened for writing, nothing written
    torn = m.torn(seed=5)
    assert set(torn) == {"/log", "/fresh"}
    synced, kept, size = torn["/log"]
    assert (synced, size) == (7, 32) and 7 <= kept <= 32
    assert (mnt / "log").read_bytes() == b"synced;appended-and-never-synced"[:kept]
    assert (mnt / "fresh").read_bytes() == b"0123456789"[:torn["/fresh"][1]]
    assert (mnt / "clean").read_bytes() == b"durable"
    assert m.torn(seed=5) == {}  # nothing left unsynced
    # the same seed tears the same way
    write(mnt / "again", b"x" * 100, sync=False)
    kept = m.torn(seed=9)["/again"][1]
    write(mnt / "again2", b"x" * 100, sync=False)
    assert m.torn(seed=9)["/again2"][1] == kept


def test_a_bitflip_and_a_truncation_damage_one_matching_file_as_readers_see_it(mount):
    m, backing, mnt = mount
    os.makedirs(mnt / "db")
    write(mnt / "db" / "000001.log", b"A" * 64, sync=True)
    write(mnt / "db" / "000001.log", b"B" * 64, sync=False, mode="ab")  # unsynced bytes are damaged too
    write(mnt / "db" / "MANIFEST", b"M" * 10, sync=True)
    done = m.corrupt("bitflip", "*.log", seed=3)
    assert done["file"] == "/db/000001.log" and done["mode"] == "bitflip"
    data = (mnt / "db" / "000001.log").read_bytes()
    assert len(data) == 128 and data[done["offset"]] == (b"A" * 64 + b"B" * 64)[done["offset"]] ^ (1 << done["bit"])
    assert sum(a != b for a, b in zip(data, b"A" * 64 + b"B" * 64)) == 1
    assert (backing / "db" / "000001.log").read_bytes() == data  # on the disk, not only in the page cache
    assert (mnt / "db" / "MANIFEST").read_bytes() == b"M" * 10
    done = m.corrupt("truncate", "MANIFEST", seed=1)
    assert done["file"] == "/db/MANIFEST" and done["to"] < done["from"] == 10
    assert (mnt / "db" / "MANIFEST").read_bytes() == b"M" * done["to"]
    assert m.corrupt("bitflip", "*.sst", seed=1)["file"] is None
    with pytest.raises(RuntimeError, match="unknown corruption"):
        m.corrupt("shred", "*", seed=1)


def test_power_loss_package_on_the_local_backend(tmp_path):
    rid = run_id()
    # deep enough that <node dir>/fuse.sock would exceed the 108-byte AF_UNIX limit
    workdir = tmp_path / ("d" * 70) / rid
    assert len(str(workdir / "n1" / "fuse.sock")) > 108
    b = LocalBackend(workdir, rid, power_loss=True)
    try:
        b.setup(standin_specs(3))
        for n in b.nodes():
            b.start(n)
        for n in b.nodes():
            marker = os.path.join(b.addresses(n).data_dir, "started")
            wait_until(lambda: os.path.exists(marker) and open(marker).read(), what=f"{n} wrote its marker")
        pkg = faults.get("power-loss-one")
        ctx = Context(b, rng=random.Random(0))
        value = pkg.start(ctx)
        node = value["nodes"][0]
        marker = os.path.join(b.addresses(node).data_dir, "started")
        assert not b.is_running(node)
        assert open(marker).read() == ""  # never fsynced by the stand-in, so gone
        pkg.stop(ctx, value)
        wait_until(lambda: http_json(b.addresses(node).client), what=f"{node} restarted")
        with pytest.raises(RuntimeError, match="kill the node first"):
            b.drop_unsynced("n1" if node != "n1" else "n2")
    finally:
        b.teardown()
    assert not any(rid in line for line in open("/proc/mounts"))


def test_disk_full_package(tmp_path):
    rid = run_id()
    b = LocalBackend(tmp_path / rid, rid, disk_mb=4)
    try:
        b.setup(standin_specs(3))
        ctx = Context(b, rng=random.Random(0))
        pkg = faults.get("disk-full")
        value = pkg.start(ctx)
        data = b.addresses(value["nodes"][0]).data_dir
        with pytest.raises(OSError) as e:
            write(os.path.join(data, "more"), b"x" * 65536, sync=True)
        assert e.value.errno == errno.ENOSPC
        pkg.stop(ctx, value)
        write(os.path.join(data, "more"), b"x" * 65536, sync=True)
    finally:
        b.teardown()
    assert not any(rid in line for line in open("/proc/mounts"))


def test_a_mountpoint_with_a_space_mounts(tmp_path):
    """/proc/mounts writes a space as \\040: the mount was there but reported as not mounted."""
    base = tmp_path / "with space"
    backing, mnt = base / "backing", base / "mnt point"
    backing.mkdir(parents=True)
    mnt.mkdir()
    m = FuseMount(str(backing), str(mnt), tmp_path / "ctl.sock", timeout=5)
    try:
        assert m.mounted()
        write(mnt / "f", b"x", sync=False)
        assert m.drop() == 1 and (mnt / "f").read_bytes() == b""
    finally:
        m.close()
    assert not m.mounted() and not any("with\\040space" in line for line in open("/proc/mounts"))


def test_teardown_unmounts_every_node_when_fusermount3_is_missing(tmp_path, monkeypatch):
    """Root mounts FUSE without fusermount3; its absence at teardown made the first close raise
    and left every other mount (and the tmpfs ones) in place."""
    rid = run_id()
    b = LocalBackend(tmp_path / rid, rid, power_loss=True, disk_mb=4)
    try:
        b.setup(standin_specs(3))
        assert sum(rid in line for line in open("/proc/mounts")) == 6  # a tmpfs and a FUSE mount per node
        bin_dir = tmp_path / "bin"
        bin_dir.mkdir()
        os.symlink(shutil.which("umount"), bin_dir / "umount")
        monkeypatch.setenv("PATH", str(bin_dir))
        b.teardown()
    finally:
        monkeypatch.undo()
        from nemesis.sweep import sweep
        sweep(rid)
    assert not any(rid in line for line in open("/proc/mounts"))


def test_teardown_goes_on_past_a_mount_it_cannot_remove_and_names_it(tmp_path, monkeypatch):
    rid = run_id()
    b = LocalBackend(tmp_path / rid, rid, power_loss=True)
    try:
        b.setup(standin_specs(3))
        monkeypatch.setenv("PATH", str(tmp_path / "nothing"))  # neither fusermount3 nor umount
        with pytest.raises(BackendError) as e:
            b.teardown()
        for n in b.nodes():
            assert f"{n}: FUSE" in str(e.value)  # each mount tried, each failure named
    finally:
        monkeypatch.undo()
        from nemesis.sweep import sweep
        sweep(rid)
    assert not any(rid in line for line in open("/proc/mounts"))
