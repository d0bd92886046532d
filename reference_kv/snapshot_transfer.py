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
"""
from __future__ import annotations

import asyncio
import logging
import os
import shutil
from pathlib import Path

log = logging.getLogger("reference_kv.snapshot")

OFFER, CHUNK, ACK = 1, 2, 3
CHUNK_SIZE = 1 << 20
ACK_TIMEOUT = 3.0


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


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _split(part: Path, manifest, target: Path) -> None:
    tmp = target.with_name(target.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    with open(part, "rb") as src:
        for name, length in manifest:
            dst = tmp / name
            dst.parent.mkdir(parents=True, exist_ok=True)
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
    _fsync_dir(target.parent)


class SnapshotTransfer:
    """send(kind, payload, to) is the transport; the node routes kinds OFFER/CHUNK/ACK here."""

    def __init__(self, node_id: int, incoming: Path, send):
        self.id = node_id
        self.incoming = incoming
        self._send = send
        self._acks: dict[int, asyncio.Queue] = {}  # peer -> acks from it
        self._recv_lock = asyncio.Lock()
        self.bytes_sent = 0
        self.bytes_received = 0

    # --- sender ----------------------------------------------------------------
    async def stream(self, to: int, index: int, directory: Path) -> bool:
        """Stream `directory` (the checkpoint at `index`) to `to`; True once it holds all of it."""
        q = self._acks[to] = asyncio.Queue()
        manifest = await asyncio.to_thread(manifest_of, directory)
        total = sum(n for _, n in manifest)
        try:
            self._send(to, OFFER, [self.id, index, manifest])
            offset, done = await self._ack(q, index)
            while not done:
                if offset >= total:
                    offset, done = await self._ack(q, index)
                    continue
                data = await asyncio.to_thread(_read_stream, directory, manifest, offset, CHUNK_SIZE)
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
        if kind == ACK:
            frm, index, offset, done = payload
            q = self._acks.get(frm)
            if q is not None:
                q.put_nowait((index, offset, done))
            return
        asyncio.get_running_loop().create_task(self._receive(kind, payload))

    async def _receive(self, kind: int, payload) -> None:
        async with self._recv_lock:  # chunks of one stream are written in order
            try:
                if kind == OFFER:
                    frm, index, manifest = payload
                    offset, done = await asyncio.to_thread(self._offer, index, manifest)
                else:
                    frm, index, offset, data = payload
                    offset, done = await asyncio.to_thread(self._chunk, index, offset, data)
                    self.bytes_received += len(data)
            except OSError as e:
                log.error("receiving snapshot: %s", e)
                return
            self._send(frm, ACK, [self.id, index, offset, done])

    def _paths(self, index: int):
        return (self.incoming / f"{index}.part", self.incoming / f"{index}.manifest",
                self.incoming / str(index))

    def _offer(self, index: int, manifest) -> tuple[int, bool]:
        import json
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
        import json
        part, mpath, final = self._paths(index)
        if not mpath.exists():
            return 0, False
        manifest = json.loads(mpath.read_text())
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
        final = self.incoming / str(index)
        return final if final.is_dir() else None

    def clear(self) -> None:
        shutil.rmtree(self.incoming, ignore_errors=True)
