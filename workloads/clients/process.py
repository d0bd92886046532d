"""A client in any language: a command the suite starts once per load user, speaking JSON
lines on its stdin and stdout (the protocol is written out for users in
docs/testing-your-system.md, "A client in any language").

    {"protocol": "process", "command": ["node", "{here}/client.js"], "env": {...}}

The suite writes one request per line and waits for the one reply with the same `id`,
at most `timeout` seconds (the run's per-operation timeout, also told to the client in
`init` so it can give up first). Replies:

    {"id": 7, "type": "ok", "value": V}          done; V is a read's value (null: absent)
    {"id": 7, "type": "mismatch"}                a cas whose comparison did not match: nothing written
    {"id": 7, "type": "fail", "error": "..."}    definitely not applied
    {"id": 7, "type": "info", "error": "..."}    may or may not have been applied
    optional on any reply: "node": which node served it

No reply in time is `info` (the request is out); a reply arriving after that is
discarded by its id. A process that exits is started again, at most once a second, for
the next operation (its operation in flight is `info`); one that does not start is a
definite failure (nothing was sent). Pipes are read with select, so the client works
under gevent (Locust's users) and in a plain process (the final read) alike.
"""
from __future__ import annotations

import json
import os
import select
import subprocess
import time
from typing import Any

from workloads.errors import DefiniteError, IndeterminateError

RESTART_EVERY_S = 1.0  # a client that keeps dying is not restarted in a tight loop
REPLY_TYPES = ("ok", "mismatch", "fail", "info")


class ProtocolError(Exception):
    """The process wrote something that is not a reply of the protocol."""


OPTIONS = ("command", "env", "start_timeout", "stderr", "cwd")


class ProcessClient:
    system = "process"
    READ_MODES = ()

    @staticmethod
    def check_options(options: dict) -> None:
        """ValueError naming the first bad option (`command: ...`)."""
        unknown = sorted(set(options) - set(OPTIONS))
        if unknown:
            raise ValueError(f"{unknown[0]}: unknown key (expected one of {', '.join(OPTIONS)})")
        command = options.get("command")
        if not (isinstance(command, str) and command.strip()) and not (
                isinstance(command, list) and command and all(isinstance(c, str) for c in command)):
            raise ValueError("command: expected the client's command, a string or a list of strings")
        env = options.get("env", {})
        if not isinstance(env, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in env.items()):
            raise ValueError("env: expected a table of strings")
        t = options.get("start_timeout", 10.0)
        if isinstance(t, bool) or not isinstance(t, (int, float)) or not 0 < t < 3600:
            raise ValueError("start_timeout: expected seconds, more than 0")
        for key in ("stderr", "cwd"):
            if key in options and not isinstance(options[key], str):
                raise ValueError(f"{key}: expected a path")

    def __init__(self, endpoints: list[str], timeout: float = 1.0, read_mode: str | None = None, start: int = 0,
                 command: list[str] | str = (), env: dict | None = None, start_timeout: float = 10.0,
                 stderr: str | None = None, cwd: str | None = None) -> None:
        import shlex

        argv = shlex.split(command) if isinstance(command, str) else [str(c) for c in command]
        if not argv:
            raise ValueError("the process client needs a command")
        self.argv, self.env, self.cwd = argv, {str(k): str(v) for k, v in (env or {}).items()}, cwd
        self.endpoints, self.timeout, self.read_mode, self.user = list(endpoints), float(timeout), read_mode, start
        self.start_timeout = float(start_timeout)
        self.stderr_path = stderr.replace("{user}", str(start)) if stderr else None
        self.node: str | None = None
        self._proc: subprocess.Popen | None = None
        self._buf = b""
        self._ids = 0
        self._started_at = -RESTART_EVERY_S

    # -- the process ------------------------------------------------------------------------------

    def _spawn(self) -> None:
        wait = self._started_at + RESTART_EVERY_S - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        self._started_at = time.monotonic()
        err = subprocess.DEVNULL
        if self.stderr_path:
            os.makedirs(os.path.dirname(self.stderr_path) or ".", exist_ok=True)
            err = open(self.stderr_path, "ab")
        try:
            self._proc = subprocess.Popen(self.argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err,
                                          env={**os.environ, **self.env}, cwd=self.cwd, start_new_session=True)
        except OSError as e:
            raise DefiniteError("client did not start", f"{self.argv[0]}: {e.strerror or e}") from None
        finally:
            if err is not subprocess.DEVNULL:
                err.close()
        self._buf = b""
        try:
            self._send({"type": "init", "endpoints": self.endpoints, "start": self.user,
                        "read_mode": self.read_mode, "timeout": self.timeout})
            reply = self._receive(None, self.start_timeout)
        except (OSError, ProtocolError, TimeoutError) as e:
            self.close()
            raise DefiniteError("client did not start", f"{self.argv[0]}: {e}") from None
        if reply.get("type") != "init_ok":
            self.close()
            raise DefiniteError("client did not start", f"{self.argv[0]} answered {reply!r} to init")

    def _send(self, msg: dict) -> None:
        data = (json.dumps(msg, separators=(",", ":")) + "\n").encode()
        fd = self._proc.stdin.fileno()
        while data:
            data = data[os.write(fd, data):]

    def _receive(self, want_id, seconds: float) -> dict:
        """The next reply (with id `want_id`, when given), or TimeoutError; EOF is OSError."""
        deadline = time.monotonic() + seconds
        fd = self._proc.stdout.fileno()
        while True:
            while b"\n" in self._buf:
                line, self._buf = self._buf.split(b"\n", 1)
                if not line.strip():
                    continue
                try:
                    msg = json.loads(line)
                except ValueError:
                    raise ProtocolError(f"not a JSON line: {line[:200]!r}") from None
                if not isinstance(msg, dict):
                    raise ProtocolError(f"not a JSON object: {line[:200]!r}")
                if want_id is None or msg.get("id") == want_id:
                    return msg
                # a reply to an operation the suite already gave up on: its outcome was recorded unknown
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no reply within {seconds:g} s")
            ready, _, _ = select.select([fd], [], [], left)
            if ready:
                chunk = os.read(fd, 65536)
                if not chunk:
                    raise OSError("the client process exited")
                self._buf += chunk

    # -- operations -----------------------------------------------------------------------------------

    def _call(self, f: str, key: str, **fields) -> dict:
        if self._proc is None or self._proc.poll() is not None:
            self.close()
            self._spawn()
        self._ids += 1
        msg = {"type": "op", "id": self._ids, "f": f, "key": key, **fields}
        try:
            self._send(msg)
        except OSError as e:  # the request never reached the process
            self.close()
            raise DefiniteError("client process gone", str(e)) from None
        try:
            reply = self._receive(self._ids, self.timeout)
        except TimeoutError as e:
            raise IndeterminateError("timeout", f"the client process: {e}") from None
        except OSError as e:
            self.close()
            raise IndeterminateError("client process exited", str(e)) from None
        except ProtocolError as e:
            self.close()
            raise IndeterminateError("client protocol", str(e)) from None
        kind = reply.get("type")
        if kind not in REPLY_TYPES:
            raise IndeterminateError("client protocol", f"reply type {kind!r} is not one of {', '.join(REPLY_TYPES)}")
        if reply.get("node") is not None:
            self.node = str(reply["node"])
        if kind == "fail":
            raise DefiniteError(str(reply.get("error") or "fail"), str(reply.get("detail") or ""))
        if kind == "info":
            raise IndeterminateError(str(reply.get("error") or "info"), str(reply.get("detail") or ""))
        if kind == "mismatch" and f != "cas":
            raise IndeterminateError("client protocol", f"a mismatch reply to {f}")
        return reply

    def read(self, key: str) -> Any:
        return self._call("read", key).get("value")

    def get(self, key: str) -> Any:
        return self._call("get", key).get("value")

    def write(self, key: str, value: Any) -> None:
        self._call("write", key, value=value)

    def put(self, key: str, value: Any) -> None:
        self._call("put", key, value=value)

    def append(self, key: str, suffix: str) -> None:
        self._call("append", key, value=suffix)

    def delete(self, key: str) -> None:
        self._call("delete", key)

    def cas(self, key: str, expected: Any, new: Any) -> bool:
        return self._call("cas", key, expected=expected, new=new)["type"] == "ok"

    def close(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        for pipe in (proc.stdin, proc.stdout):
            try:
                pipe.close()
            except OSError:
                pass
        try:
            proc.wait(1.0)  # stdin closed: a client ends at EOF
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
