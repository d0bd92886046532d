"""Redis, alone or behind Sentinel, over RESP (`workloads.clients.resp`).

Values are stored as JSON text, so a register's ints and a kv's strings read
back as written. cas and append are Lua scripts (EVAL runs them atomically on
the primary); a script's comparison failure writes nothing.

Routing:
- with `sentinels`, the client asks them (starting at its own index, as users
  spread over endpoints) `SENTINEL get-master-addr-by-name <master>` and talks
  to the address the first one that answers names; it asks again every
  `refresh` seconds, after a lost connection and after a READONLY reply, as
  Sentinel-aware clients do on a +switch-master. A sentinel cut off with the
  old primary keeps naming it: that is how clients keep writing to a primary
  the others have already replaced.
- without, it talks to the endpoints in order, moving on when a node refuses
  the connection or answers READONLY (a replica).

Errors: an error reply is definite (Redis checks a command before running it,
and these scripts fail only before their write); connect failures are definite;
a timeout or dropped connection after sending is indeterminate.
"""
from __future__ import annotations

import time
from typing import Any

from workloads.clients.base import KVAliases, decode_value, encode_value
from workloads.clients.resp import ReplyError, RespConnection
from workloads.errors import DefiniteError

# ARGV: [1] "1" if a value is expected ("0": the key must be absent), [2] expected JSON, [3] new JSON.
CAS = """local v = redis.call('GET', KEYS[1])
if ARGV[1] == '0' then
  if v then return 0 end
elseif v ~= ARGV[2] then return 0 end
redis.call('SET', KEYS[1], ARGV[3])
return 1"""
# Values are JSON strings; appending decodes, concatenates and re-encodes in one step.
APPEND = """local v = redis.call('GET', KEYS[1])
local s = ''
if v then s = cjson.decode(v) end
if type(s) ~= 'string' then return redis.error_reply('WRONGTYPE append to a non-string value') end
redis.call('SET', KEYS[1], cjson.encode(s .. ARGV[1]))
return 1"""


class RedisClient(KVAliases):
    system = "redis"
    READ_MODES = ()  # every read goes to the primary

    @staticmethod
    def check_options(options: dict) -> None:
        """ValueError naming the first option of the wrong kind (`refresh: ...`)."""
        s = options.get("sentinels", [])
        if not (isinstance(s, str) or isinstance(s, (list, tuple)) and all(isinstance(x, str) for x in s)):
            raise ValueError("sentinels: expected the Sentinels' addresses, a string or a list of strings")
        if not isinstance(options.get("master", ""), str):
            raise ValueError("master: expected a string (the name the Sentinels monitor)")
        r = options.get("refresh", 1.0)
        if isinstance(r, bool) or not isinstance(r, (int, float)) or not 0 < r <= 3600:  # NaN is neither
            raise ValueError(f"refresh: expected seconds, more than 0 and at most 3600 (got {r!r})")

    def __init__(self, endpoints: list[str], timeout: float = 1.0, read_mode: str | None = None,
                 start: int = 0, sentinels: list[str] | str = (), master: str = "mymaster",
                 refresh: float = 1.0) -> None:
        if isinstance(sentinels, str):
            sentinels = [s for s in sentinels.split(",") if s.strip()]
        if not endpoints and not sentinels:
            raise ValueError("redis client needs endpoints or sentinels")
        self.timeout = timeout
        self.master = master
        self.refresh = float(refresh)
        self.start = start
        self._sentinels = [RespConnection(s, min(timeout, 0.5)) for s in sentinels]
        self._nodes = {e: RespConnection(e, timeout) for e in endpoints}
        self._order = list(endpoints)
        self._at = start % len(self._order) if self._order else 0
        self._primary: RespConnection | None = None
        self._resolved_at = -1e18
        self.node: str | None = None

    def close(self) -> None:
        for c in [*self._sentinels, *self._nodes.values()]:
            c.close()

    # -- routing ----------------------------------------------------------------------------

    def _conn(self, address: str) -> RespConnection:
        if address not in self._nodes:
            self._nodes[address] = RespConnection(address, self.timeout)
        return self._nodes[address]

    def _ask_sentinels(self) -> str:
        n = len(self._sentinels)
        last = "no sentinel answered"
        for i in range(n):
            s = self._sentinels[(self.start + i) % n]
            try:
                reply = s.call("SENTINEL", "get-master-addr-by-name", self.master)
            except (DefiniteError, ReplyError) as e:
                last = f"{s.address}: {e}"
                continue
            except Exception as e:  # noqa: BLE001 - an indeterminate sentinel answer is just no answer
                last = f"{s.address}: {e}"
                continue
            if isinstance(reply, list) and len(reply) == 2:
                return f"{reply[0].decode()}:{reply[1].decode()}"
            last = f"{s.address} does not know master {self.master!r}"
        # Nothing was sent to any data node: the operation definitely did not happen.
        raise DefiniteError("no-primary", last)

    def _target(self) -> RespConnection:
        if self._sentinels:
            now = time.monotonic()
            if self._primary is None or now - self._resolved_at >= self.refresh:
                self._primary = self._conn(self._ask_sentinels())
                self._resolved_at = now
            return self._primary
        return self._conn(self._order[self._at])

    def _forget(self) -> None:
        self._primary = None
        if self._order:
            self._at = (self._at + 1) % len(self._order)

    def _call(self, *args) -> Any:
        # Retried only where nothing was applied: a refused connection or a replica's READONLY.
        tries = 2 if self._sentinels else max(1, len(self._order))
        for attempt in range(tries):
            conn = self._target()
            try:
                reply = conn.call(*args)
            except DefiniteError as e:
                self._forget()
                if attempt + 1 < tries and e.kind in ("refused", "connect"):
                    continue
                raise
            except ReplyError as e:
                self.node = conn.address
                if e.code == "READONLY":
                    self._forget()
                    if attempt + 1 < tries:
                        continue
                raise DefiniteError(e.code.lower() or "error", str(e)) from None
            except Exception:
                self._forget()
                raise
            self.node = conn.address
            return reply
        raise AssertionError("unreachable")

    # -- operations -------------------------------------------------------------------------

    def read(self, key: str) -> Any:
        return decode_value(self._call("GET", key))

    def write(self, key: str, value: Any) -> None:
        self._call("SET", key, encode_value(value))

    def delete(self, key: str) -> None:
        self._call("DEL", key)

    def cas(self, key: str, expected: Any, new: Any) -> bool:
        present = "0" if expected is None else "1"
        return self._call("EVAL", CAS, 1, key, present, encode_value(expected), encode_value(new)) == 1

    def append(self, key: str, suffix: str) -> None:
        self._call("EVAL", APPEND, 1, key, suffix)
