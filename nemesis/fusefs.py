"""A FUSE filesystem that loses every write not yet fsynced, on command (power loss), or tears them, or
corrupts a file.

Run as its own process: `python -m nemesis.fusefs BACKING MOUNTPOINT --control SOCK`.
File data written through the mount stays in memory, per file, until that file is
fsynced; then the whole file goes to BACKING and is fsynced there. "drop" on the
control socket forgets every unsynced buffer, so the files read back as they were
at their last fsync (a file created and never synced reads back empty). Metadata
(create, rename, unlink, mkdir) passes through at once: this models lost data,
not lost directory entries. Attribute and entry caches are off so the kernel never
serves pre-drop sizes; the node must be killed before a drop (the backend checks).
"torn SEED" keeps a random prefix of each file's unsynced bytes instead (a cut in the
middle of the write-back); "corrupt {mode, pattern, seed}" flips one bit of, or
truncates, one file whose name matches the pattern (Jepsen's bitflip and truncate).
"""
from __future__ import annotations

import argparse
import errno
import fnmatch
import json
import os
import random
import socket
import subprocess
import sys
import threading
import time

from . import mounts

STAT_KEYS = ("st_atime", "st_ctime", "st_gid", "st_mode", "st_mtime", "st_nlink", "st_size", "st_uid")


class PowerLossFS:
    use_ns = True

    def __init__(self, backing: str):
        self.root = os.path.realpath(backing)
        self.dirty: dict[str, bytearray] = {}
        # Not `self.lock`: mfusepy takes any attribute named like a FUSE operation as its
        # handler, and a `lock` handler replaces the kernel's own POSIX locks (Pebble's LOCK file).
        self._mutex = threading.RLock()
        self.synced_files = 0
        self.dropped_files = 0

    def _real(self, path: str) -> str:
        return os.path.join(self.root, path.lstrip("/"))

    def _oserror(self, e: OSError):
        from mfusepy import FuseOSError
        return FuseOSError(e.errno or errno.EIO)

    def _load(self, path: str) -> bytearray:
        buf = self.dirty.get(path)
        if buf is None:
            with open(self._real(path), "rb") as f:
                buf = self.dirty[path] = bytearray(f.read())
        return buf

    # -- control ----------------------------------------------------------------------------

    def drop(self) -> int:
        with self._mutex:
            n = len(self.dirty)
            self.dirty.clear()
            self.dropped_files += n
            return n

    def torn(self, seed: int) -> dict[str, list[int]]:
        """A power cut in the middle of writing back: each unsynced file keeps its synced bytes with a random
        prefix of what was written since in place (an append keeps part of what it appended, as LazyFS's
        torn writes). -> path: [synced size, bytes kept, unsynced size]."""
        rng = random.Random(seed)
        out = {}
        with self._mutex:
            for path in sorted(self.dirty):
                buf = self.dirty.pop(path)
                try:
                    with open(self._real(path), "rb") as f:
                        synced = f.read()
                except OSError:
                    continue  # unlinked meanwhile
                if buf == synced:
                    continue  # opened for writing, nothing written: nothing to tear
                same = next((i for i, (a, b) in enumerate(zip(synced, buf)) if a != b), min(len(synced), len(buf)))
                keep = rng.randint(same, len(buf)) if len(buf) > same else len(buf)
                self._write_back(path, bytes(buf[:keep]) + synced[keep:])
                out[path] = [len(synced), keep, len(buf)]
            self.dropped_files += len(out)
        return out

    def corrupt(self, mode: str, pattern: str, seed: int) -> dict:
        """Flip one bit of, or truncate, one non-empty file whose name matches `pattern` (fnmatch), chosen at
        random among them, as a reader sees it (its unsynced bytes included). -> what was done."""
        rng = random.Random(seed)
        with self._mutex:
            files = []
            for d, _, names in os.walk(self.root):
                for name in sorted(names):
                    path = "/" + os.path.relpath(os.path.join(d, name), self.root)
                    if fnmatch.fnmatch(name, pattern) and self._size(path) > 0:
                        files.append(path)
            if not files:
                return {"file": None, "pattern": pattern}
            path = rng.choice(sorted(files))
            buf = self._load(path)
            if mode == "bitflip":
                at, bit = rng.randrange(len(buf)), rng.randrange(8)
                buf[at] ^= 1 << bit
                done = {"offset": at, "bit": bit}
            elif mode == "truncate":
                size = len(buf)
                del buf[rng.randrange(size):]
                done = {"from": size, "to": len(buf)}
            else:
                raise ValueError(f"unknown corruption {mode!r}")
            # on the disk as it is: what the next reader reads, whether or not it was synced
            self._write_back(path, bytes(buf))
            self.dirty.pop(path, None)
            return {"file": path, "mode": mode, **done}

    def _size(self, path: str) -> int:
        if path in self.dirty:
            return len(self.dirty[path])
        try:
            return os.path.getsize(self._real(path))
        except OSError:
            return 0

    def _write_back(self, path: str, data: bytes) -> None:
        fd = os.open(self._real(path), os.O_WRONLY | os.O_TRUNC)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)

    # -- metadata ---------------------------------------------------------------------------

    def getattr(self, path, fh=None):
        with self._mutex:
            try:
                st = os.lstat(self._real(path))
            except OSError as e:
                raise self._oserror(e)
            attrs = {k: getattr(st, k) for k in STAT_KEYS}
            for k in ("st_atime", "st_ctime", "st_mtime"):
                attrs[k] = getattr(st, k + "_ns")
            if path in self.dirty:
                attrs["st_size"] = len(self.dirty[path])
            return attrs

    def readdir(self, path, fh):
        return [".", ".."] + os.listdir(self._real(path))

    def statfs(self, path):
        st = os.statvfs(self._real(path))
        return {k: getattr(st, k) for k in ("f_bavail", "f_bfree", "f_blocks", "f_bsize", "f_favail",
                                            "f_ffree", "f_files", "f_flag", "f_frsize", "f_namemax")}

    def _wrap(self, fn, *args):
        with self._mutex:
            try:
                return fn(*args)
            except OSError as e:
                raise self._oserror(e)

    def mkdir(self, path, mode):
        return self._wrap(os.mkdir, self._real(path), mode)

    def rmdir(self, path):
        return self._wrap(os.rmdir, self._real(path))

    def chmod(self, path, mode):
        return self._wrap(os.chmod, self._real(path), mode)

    def chown(self, path, uid, gid):
        return self._wrap(os.chown, self._real(path), uid, gid)

    def utimens(self, path, times=None):
        return self._wrap(lambda: os.utime(self._real(path), ns=times) if times else os.utime(self._real(path)))

    def unlink(self, path):
        with self._mutex:
            self.dirty.pop(path, None)
            return self._wrap(os.unlink, self._real(path))

    def rename(self, old, new):
        with self._mutex:
            self._wrap(os.rename, self._real(old), self._real(new))
            self.dirty.pop(new, None)
            for key in [k for k in self.dirty if k == old or k.startswith(old.rstrip("/") + "/")]:
                self.dirty[new + key[len(old):]] = self.dirty.pop(key)
            return 0

    def link(self, target, source):
        return self._wrap(os.link, self._real(source), self._real(target))

    def symlink(self, target, source):
        return self._wrap(os.symlink, source, self._real(target))

    def readlink(self, path):
        return self._wrap(os.readlink, self._real(path))

    # -- data -------------------------------------------------------------------------------

    def create(self, path, mode, fi=None):
        with self._mutex:
            fd = self._wrap(os.open, self._real(path), os.O_CREAT | os.O_WRONLY | os.O_TRUNC, mode)
            os.close(fd)
            self.dirty[path] = bytearray()
            return 0

    def open(self, path, flags):
        with self._mutex:
            if not os.path.exists(self._real(path)):
                raise self._oserror(OSError(errno.ENOENT, path))
            if flags & os.O_TRUNC:
                self.dirty[path] = bytearray()
            return 0

    def read(self, path, size, offset, fh):
        with self._mutex:
            if path in self.dirty:
                return bytes(self.dirty[path][offset:offset + size])
            try:
                with open(self._real(path), "rb") as f:
                    f.seek(offset)
                    return f.read(size)
            except OSError as e:
                raise self._oserror(e)

    def write(self, path, data, offset, fh):
        with self._mutex:
            try:
                buf = self._load(path)
            except OSError as e:
                raise self._oserror(e)
            if offset > len(buf):
                buf.extend(b"\0" * (offset - len(buf)))
            buf[offset:offset + len(data)] = data
            return len(data)

    def truncate(self, path, length, fh=None):
        with self._mutex:
            try:
                buf = self._load(path)
            except OSError as e:
                raise self._oserror(e)
            if length < len(buf):
                del buf[length:]
            else:
                buf.extend(b"\0" * (length - len(buf)))
            return 0

    def fsync(self, path, datasync, fh):
        with self._mutex:
            buf = self.dirty.pop(path, None)
            if buf is None:
                return 0
            try:
                self._write_back(path, buf)
            except OSError as e:
                self.dirty[path] = buf
                raise self._oserror(e)
            self.synced_files += 1
            return 0

    def fsyncdir(self, path, datasync, fh):
        return 0

    def flush(self, path, fh):
        return 0

    def release(self, path, fh):
        return 0


def serve_control(fs: PowerLossFS, path: str) -> None:
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    if os.path.exists(path):
        os.unlink(path)
    srv.bind(path)
    srv.listen(4)

    def loop():
        while True:
            conn, _ = srv.accept()
            with conn:
                req = conn.makefile("rb").readline().strip()
                cmd, _, arg = req.partition(b" ")
                if req == b"drop":
                    resp = {"ok": True, "dropped": fs.drop()}
                elif cmd == b"torn":
                    resp = {"ok": True, "torn": fs.torn(int(arg))}
                elif cmd == b"corrupt":  # corrupt {"mode": "bitflip"|"truncate", "pattern": "*.log", "seed": 1}
                    try:
                        resp = {"ok": True, **fs.corrupt(**json.loads(arg))}
                    except (ValueError, TypeError) as e:
                        resp = {"ok": False, "error": str(e)}
                elif req == b"stats":
                    resp = {"ok": True, "dirty": sorted(fs.dirty), "synced": fs.synced_files}
                else:
                    resp = {"ok": True}
                conn.sendall(json.dumps(resp).encode() + b"\n")

    threading.Thread(target=loop, daemon=True).start()


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m nemesis.fusefs")
    p.add_argument("backing")
    p.add_argument("mountpoint")
    p.add_argument("--control", required=True)
    a = p.parse_args()
    from mfusepy import FUSE
    fs = PowerLossFS(a.backing)
    serve_control(fs, a.control)
    FUSE(fs, a.mountpoint, foreground=True, attr_timeout=0, entry_timeout=0, negative_timeout=0,
         fsname="splitbrain-powerloss")


class FuseMount:
    """Owns one mount: starts the filesystem process and tells it to drop."""

    def __init__(self, backing: str, mountpoint: str, control: str | os.PathLike, *, env: dict | None = None,
                 python: str = sys.executable, log: str | os.PathLike | None = None, timeout: float = 10.0):
        self.mountpoint = os.path.realpath(mountpoint)
        self.control = str(control)
        logf = open(log, "ab") if log else subprocess.DEVNULL
        try:
            self.proc = subprocess.Popen([python, "-m", "nemesis.fusefs", backing, mountpoint, "--control",
                                          self.control], env=dict(os.environ, **(env or {})),
                                         stdin=subprocess.DEVNULL, stdout=logf, stderr=logf,
                                         start_new_session=True)
        finally:
            if log:
                logf.close()
        end = time.monotonic() + timeout
        while not self.mounted():
            if self.proc.poll() is not None or time.monotonic() > end:
                self.close()
                raise RuntimeError(f"FUSE filesystem did not mount at {mountpoint} (needs /dev/fuse and root)")
            time.sleep(0.02)

    def mounted(self) -> bool:
        return any(m.point == self.mountpoint and "fuse" in m.fstype for m in mounts.table())

    def call(self, cmd: str) -> dict:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(10)
            s.connect(self.control)
            s.sendall(cmd.encode() + b"\n")
            return json.loads(s.makefile("rb").readline())

    def drop(self) -> int:
        return self.call("drop")["dropped"]

    def torn(self, seed: int) -> dict:
        return self.call(f"torn {int(seed)}")["torn"]

    def corrupt(self, mode: str, pattern: str, seed: int) -> dict:
        resp = self.call("corrupt " + json.dumps({"mode": mode, "pattern": pattern, "seed": int(seed)}))
        if not resp.get("ok"):
            raise RuntimeError(f"corrupt: {resp.get('error')}")
        return {k: v for k, v in resp.items() if k != "ok"}

    def close(self) -> None:
        """Unmount and end the filesystem process; RuntimeError when the mount is still there."""
        tried = []
        # fusermount3 may be absent where root mounted without it: umount is the fallback
        for argv in (["fusermount3", "-u", "-z", self.mountpoint], ["umount", "-l", self.mountpoint]):
            if not self.mounted():
                break
            try:
                r = subprocess.run(argv, capture_output=True, text=True, timeout=30)
                tried.append(f"{argv[0]}: {r.stderr.strip() or r.returncode}")
            except (OSError, subprocess.SubprocessError) as e:
                tried.append(f"{argv[0]}: {e}")
        still = self.mounted()
        if still:
            self.proc.kill()  # it serves the mount as long as the mount is there: waiting gains nothing
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        if still:
            raise RuntimeError(f"still mounted at {self.mountpoint} ({'; '.join(tried)})")


if __name__ == "__main__":
    main()
