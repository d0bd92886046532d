"""Streaming a checkpoint directory to a follower in chunks, resumable.

The checkpoint's files are sent as one logical byte stream (their
concatenation, in manifest order). Protocol over the peer transport, which
only sends on dialled connections, so replies travel on the receiver's own
connection back:

    sender -> OFFER [from, index, manifest]       receiver -> ACK [from, index, offset, done]
    sender -> CHUNK [from, index, offset, bytes]   receiver -> ACK ...

The receiver appends to `incoming/<index>.part` and keeps it across broken
transfers (and restarts): an OFFER for the same index and manifest is
answered with the offset it already has, and the sender resumes there. When
the stream is complete the receiver splits it into `incoming/<index>/`, syncs
it and acks with done=True; only then does the sender deliver the Raft SNAP
message, whose Ready makes the node install that directory.

Every field of a frame comes from the network, so the receiver checks each
before it touches the disk: an index is a non-negative integer, a manifest is
a bounded list of plain file names that the sender's checkpoint can contain
(`names`), and every path it builds resolves inside `incoming`. A frame that
fails is refused (logged, not acknowledged); paths are never built from it.
"""
from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
from pathlib import Path

log = logging.getLogger("reference_kv.snapshot")

OFFER, CHUNK, ACK = 1, 2, 3
CHUNK_SIZE = 1 << 20
ACK_TIMEOUT = 3.0
MAX_FILES = 100_000
MAX_INDEX = (1 << 63) - 1
MAX_SNAPSHOT_BYTES = 1 << 40
# The largest frame of each kind: a chunk and its header, a manifest of MAX_FILES names.
FRAME_LIMITS = {OFFER: 16 << 20, CHUNK: CHUNK_SIZE + (64 << 10), ACK: 1 << 10}


class RefusedFrame(ValueError):
    """A snapshot frame whose fields are not what a peer's checkpoint can send."""


def _count(v, what: str, limit: int = MAX_INDEX) -> int:
    if type(v) is not int or not 0 <= v <= limit:
        raise RefusedFrame(f"{what} {v!r:.60} is not an integer in [0, {limit}]")
    return v


def check_manifest(manifest, names) -> list[list]:
    """-> the manifest as [[name, size], ...]; RefusedFrame unless every name is a plain file name `names` accepts."""
    if not isinstance(manifest, list) or len(manifest) > MAX_FILES:
        raise RefusedFrame(f"manifest is not a list of at most {MAX_FILES} files")
    out, seen, total = [], set(), 0
    for item in manifest:
        if not isinstance(item, (list, tuple)) or len(item) != 2:
            raise RefusedFrame("manifest entry is not [name, size]")
        name, size = item
        if (not isinstance(name, str) or name in seen or "/" in name or "\\" in name or "\0" in name
                or name in (".", "..") or os.path.isabs(name) or not names(name)):
            raise RefusedFrame(f"file name {name!r:.80} is not one a checkpoint holds")
        total += _count(size, f"size of {name}", MAX_SNAPSHOT_BYTES)
        seen.add(name)
        out.append([name, size])
    if total > MAX_SNAPSHOT_BYTES:
        raise RefusedFrame(f"snapshot of {total} bytes is over {MAX_SNAPSHOT_BYTES}")
    return out


def inside(root: Path, path: Path) -> Path:
    """`path`, if it resolves inside `root`; RefusedFrame otherwise."""
    resolved = path.resolve()
    if not resolved.is_relative_to(root.resolve()):
        raise RefusedFrame(f"{path} resolves outside {root}")
    return path


def manifest_of(directory: Path) -> list[list]:
    files = sorted(p for p in directory.rglob("*") if p.is_file())
    return [[str(p.relative_to(directory)), p.stat().st_size] for p in files]


def _read_stream(directory: Path, manifest, offset: int, size: int) -> bytes:
    out, pos = [], 0
    for name, length in manifest:
        if offset < pos + length and size > 0:
            start = offset - pos if offset > pos else 0
            with open(directory / name, "rb") as f:
                f.seek(start)
                data = f.read(min(size, length - start))
            out.append(data)
            size -= len(data)
            offset += len(data)
        pos += length
    return b"".join(out)


def fsync_dir(path: Path) -> None:
    """Make a rename or a new file in `path` survive a power loss."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _split(part: Path, manifest, target: Path) -> None:
    tmp = inside(target.parent, target.with_name(target.name + ".tmp"))
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    with open(part, "rb") as src:
        for name, length in manifest:
            dst = inside(tmp, tmp / name)
            with open(dst, "wb") as out:
                remaining = length
                while remaining:
                    data = src.read(min(remaining, CHUNK_SIZE))
                    if not data:
                        raise IOError(f"snapshot stream ended early in {name}")
                    out.write(data)
                    remaining -= len(data)
                out.flush()
                os.fsync(out.fileno())
    shutil.rmtree(target, ignore_errors=True)
    tmp.rename(target)
    fsync_dir(target.parent)


class SnapshotTransfer:
    """send(to, kind, payload) is the transport; the node routes kinds OFFER/CHUNK/ACK here.

    names(file_name) -> bool says which files the sender's checkpoint can hold.
    """

    def __init__(self, node_id: int, incoming: Path, send, names, run=None):
        self.id = node_id
        self._run = run or asyncio.to_thread  # where file work runs (a SimRunner in a simulation)
        self.incoming = incoming
        self._send = send
        self._names = names
        self.frames_refused = 0
        self._acks: dict[int, asyncio.Queue] = {}  # peer -> acks from it
        self._recv_lock = asyncio.Lock()
        self.bytes_sent = 0
        self.bytes_received = 0

    # --- sender ----------------------------------------------------------------
    async def stream(self, to: int, index: int, directory: Path) -> bool:
        """Stream `directory` (the checkpoint at `index`) to `to`; True once it holds all of it."""
        q = self._acks[to] = asyncio.Queue()
        manifest = await self._run(manifest_of, directory)
        total = sum(n for _, n in manifest)
        try:
            self._send(to, OFFER, [self.id, index, manifest])
            offset, done = await self._ack(q, index)
            while not done:
                if offset >= total:
                    offset, done = await self._ack(q, index)
                    continue
                data = await self._run(_read_stream, directory, manifest, offset, CHUNK_SIZE)
                self._send(to, CHUNK, [self.id, index, offset, data])
                self.bytes_sent += len(data)
                offset, done = await self._ack(q, index)
            return True
        except (asyncio.TimeoutError, OSError) as e:
            log.warning("snapshot %d to node %d interrupted: %s", index, to, e)
            return False
        finally:
            if self._acks.get(to) is q:
                del self._acks[to]

    @staticmethod
    async def _ack(q: asyncio.Queue, index: int):
        while True:
            idx, offset, done = await asyncio.wait_for(q.get(), ACK_TIMEOUT)
            if idx == index:
                return offset, done

    # --- receiver ----------------------------------------------------------------
    def on_frame(self, kind: int, payload) -> None:
        try:
            frame = self._check(kind, payload)
        except RefusedFrame as e:
            self.frames_refused += 1
            log.warning("snapshot frame of kind %r refused: %s", kind, e)
            return
        if kind == ACK:
            frm, index, offset, done = frame
            q = self._acks.get(frm)
            if q is not None:
                q.put_nowait((index, offset, done))
            return
        asyncio.get_running_loop().create_task(self._receive(kind, frame))

    def _check(self, kind, payload) -> list:
        """The frame's fields, each of the type and range it must have; RefusedFrame otherwise."""
        shape = {OFFER: 3, CHUNK: 4, ACK: 4}.get(kind) if type(kind) is int else None
        if shape is None or not isinstance(payload, (list, tuple)) or len(payload) != shape:
            raise RefusedFrame(f"not a snapshot frame of {shape} fields")
        frm, index = _count(payload[0], "sender"), _count(payload[1], "index")
        if kind == OFFER:
            return [frm, index, check_manifest(payload[2], self._names)]
        offset = _count(payload[2], "offset", MAX_SNAPSHOT_BYTES)
        if kind == CHUNK:
            if not isinstance(payload[3], bytes) or len(payload[3]) > CHUNK_SIZE:
                raise RefusedFrame("chunk data is not bytes of at most one chunk size")
        elif type(payload[3]) is not bool:
            raise RefusedFrame("ack's done flag is not a boolean")
        return [frm, index, offset, payload[3]]

    async def _receive(self, kind: int, payload) -> None:
        async with self._recv_lock:  # chunks of one stream are written in order
            try:
                if kind == OFFER:
                    frm, index, manifest = payload
                    offset, done = await self._run(self._offer, index, manifest)
                else:
                    frm, index, offset, data = payload
                    offset, done = await self._run(self._chunk, index, offset, data)
                    self.bytes_received += len(data)
            except RefusedFrame as e:
                self.frames_refused += 1
                log.warning("snapshot frame refused: %s", e)
                return
            except (OSError, ValueError) as e:
                log.error("receiving snapshot: %s", e)
                return
            self._send(frm, ACK, [self.id, index, offset, done])

    def _paths(self, index: int):
        index = _count(index, "index")
        return tuple(inside(self.incoming, self.incoming / name)
                     for name in (f"{index}.part", f"{index}.manifest", str(index)))

    def _offer(self, index: int, manifest) -> tuple[int, bool]:
        self.incoming.mkdir(parents=True, exist_ok=True)
        part, mpath, final = self._paths(index)
        if final.is_dir() and mpath.exists() and json.loads(mpath.read_text()) == manifest:
            return sum(n for _, n in manifest), True
        if not mpath.exists() or json.loads(mpath.read_text()) != manifest:
            # A different snapshot: forget older partial transfers.
            for p in self.incoming.iterdir():
                if p.is_dir():
                    shutil.rmtree(p, ignore_errors=True)
                else:
                    p.unlink(missing_ok=True)
            mpath.write_text(json.dumps(manifest))
            part.write_bytes(b"")
        return part.stat().st_size if part.exists() else 0, False

    def _chunk(self, index: int, offset: int, data: bytes) -> tuple[int, bool]:
        part, mpath, final = self._paths(index)
        if not mpath.exists():
            return 0, False
        manifest = check_manifest(json.loads(mpath.read_text()), self._names)
        total = sum(n for _, n in manifest)
        have = part.stat().st_size if part.exists() else 0
        if offset == have:
            with open(part, "ab") as f:
                f.write(data)
            have += len(data)
        if have >= total:
            _split(part, manifest, final)
            part.unlink(missing_ok=True)
            return total, True
        return have, False

    def ready_dir(self, index: int) -> Path | None:
        final = self._paths(index)[2]
        return final if final.is_dir() else None

    def clear(self) -> None:
        shutil.rmtree(self.incoming, ignore_errors=True)
