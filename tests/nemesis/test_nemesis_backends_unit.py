"""Backend construction without resources: option names, ssh host strings, socket paths."""
from __future__ import annotations

import pytest

from nemesis import backends
from nemesis.backends.ssh import parse_hosts
from nemesis.sockdir import SocketDir

pytestmark = pytest.mark.unit


def test_options_follow_kw_up_to_the_host_backend():
    assert {"cut_mode", "clock_control", "power_loss", "disk_mb"} <= backends.option_names(
        backends.backend_class("local"))
    assert {"hosts", "key_file", "known_hosts", "remote_dir"} <= backends.option_names(
        backends.backend_class("ssh"))
    assert "power_loss" not in backends.option_names(backends.backend_class("docker"))


@pytest.mark.parametrize("name,opts", [("docker", {"power_loss": True}), ("ssh", {"hostz": "x"}),
                                       ("local", {"cutmode": "stall"})])
def test_an_unknown_option_is_one_clear_error(tmp_path, name, opts):
    with pytest.raises(ValueError, match=f"the {name} backend has no option {next(iter(opts))}"):
        backends.create(name, tmp_path, **opts)


def test_unknown_backend():
    with pytest.raises(ValueError, match="unknown backend 'vm'"):
        backends.create("vm", "/nonexistent")


def test_ssh_host_strings():
    a, b = parse_hosts("root@10.0.0.1:2222, bob@h")
    assert (a.user, a.host, a.port) == ("root", "10.0.0.1", 2222)
    assert (b.user, b.host, b.port) == ("bob", "h", 22)
    assert parse_hosts(["u@[fe80::1]:22"])[0].host == "fe80::1"
    for bad in ("10.0.0.1", "root@", "root@h:x", "root@h:70000", ""):
        with pytest.raises(ValueError):
            parse_hosts(bad)


def test_ssh_needs_its_key_files(tmp_path):
    with pytest.raises(ValueError, match="key_file"):
        backends.create("ssh", tmp_path, hosts="root@h", key_file=str(tmp_path / "nope"),
                        known_hosts=str(tmp_path / "nope"))


def test_socket_dir_is_short_private_and_removed(tmp_path):
    s = SocketDir("sbtest" + "x" * 10)
    path = s.socket("n1-fuse.sock")
    assert len(path.encode()) < 108
    import os
    assert oct(os.stat(s.path).st_mode & 0o777) == "0o700"
    d = s.path
    s.remove()
    assert not os.path.exists(d)


def test_mount_table_unescapes_the_kernels_octal_escapes(tmp_path):
    from nemesis import mounts

    p = tmp_path / "mounts"
    p.write_text("sbt1-disk /tmp/a\\040b\\011c\\134d tmpfs rw 0 0\n"
                 "splitbrain-powerloss /tmp/with\\040space/mnt fuse.splitbrain-powerloss rw 0 0\n")
    assert mounts.table(str(p)) == [("sbt1-disk", "/tmp/a b\tc\\d", "tmpfs"),
                                    ("splitbrain-powerloss", "/tmp/with space/mnt", "fuse.splitbrain-powerloss")]
    assert mounts.table(str(tmp_path / "absent")) == []
