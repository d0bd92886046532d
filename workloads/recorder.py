"""Every operation becomes an invoke event and a completion event in the history.

The completion type says what the client really knows:
- `ok`: it took effect and the result is known (a read's value, a cas that matched);
- `fail`: it definitely did not take effect: a refused connection, an explicit
  rejection (`error` says which), or a cas whose comparison did not match (no
  `error`: the checker verifies that mismatch against the model);
- `info`: unknown (timeout, connection lost after sending, an unexpected client
  exception, a gevent Timeout that escaped the client, the caller torn down
  mid-request); the operation may take effect at any later time, so the caller
  continues under a new process number (`Recorder.new_process`).
A read or get that ends unknown is recorded `fail`: it changes nothing, so
leaving it out is sound and spares the checker an open-ended operation.

Times are `time.monotonic_ns()`, which on Linux is one system-wide clock, so the
nemesis, in another process, stamps its events on the same axis. Each event is
one `os.write` of one complete line to a file opened with O_APPEND: a run killed
half way keeps every line it wrote, and the nemesis may append concurrently. The
time is read under an exclusive flock of the file (see HistoryFile.record), so
lines of all writers following that protocol are in time order.

Completed operations also fire Locust's request event (request_type = f, name =
workload/f, response time in ms), so Locust's statistics and CSVs count exactly
the completions in the history (all but those `abandoned` by a teardown);
`fail` with an error and `info` count as Locust failures, a cas mismatch does not.
`latency` on a completion is its time minus its invoke's time, in nanoseconds.
"""
from __future__ import annotations

import itertools
import logging
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any, Callable

from checker.appender import HistoryFile  # noqa: F401  (the protocol every history writer follows)
from workloads.clients.base import Client
from workloads.errors import ClientError, DefiniteError, IndeterminateError

log = logging.getLogger(__name__)


def _escaped_timeouts() -> tuple[type, ...]:
    try:
        from gevent import Timeout
    except ImportError:  # the final read runs outside gevent too; without gevent nothing raises its Timeout
        return ()
    return (Timeout,)


_ESCAPED_TIMEOUTS = _escaped_timeouts()

READ_ONLY = frozenset({"read", "get"})
OPERATIONS = frozenset({"read", "write", "cas", "delete", "get", "put", "append"})
# Process numbers of different Locust workers never meet: each worker owns a block.
PROCESS_BLOCK = 1_000_000


@dataclass(frozen=True)
class Completion:
    type: str  # ok | fail | info
    value: Any
    error: str | None = None


class Recorder:
    """Runs operations on clients and records them; one per load-generating process."""

    def __init__(self, history: HistoryFile | None, workload: str, request_event: Any = None,
                 worker_index: int = 0, clock: Callable[[], int] = time.monotonic_ns) -> None:
        self.history = history
        self.workload = workload
        self.request_event = request_event
        self.clock = clock
        self._processes = itertools.count(worker_index * PROCESS_BLOCK)
        self.counts: Counter[str] = Counter()
        self._escaped = 0

    def new_process(self) -> int:
        return next(self._processes)

    def _write(self, event: dict, since: int | None = None) -> int:
        """Stamps and writes event; returns its time."""
        self.counts[event["type"]] += 1
        if self.history is not None:
            return self.history.record(event, self.clock, since)
        _stamp(event, self.clock, since)
        return event["time"]

    def perform(self, client: Client, process: int, f: str, key: str, value: Any = None) -> Completion:
        if f not in OPERATIONS:
            raise ValueError(f"unknown operation {f!r}")
        start = self._write({"process": process, "type": "invoke", "f": f, "key": key, "value": value})
        exception: Exception | None = None
        abandoned: BaseException | None = None
        try:
            result = _dispatch(client, f, key, value)
            if f == "cas" and not result:
                outcome = Completion("fail", value)
            else:
                outcome = Completion("ok", result if f in READ_ONLY else value)
        except DefiniteError as e:
            outcome, exception = Completion("fail", value, e.kind), e
        except IndeterminateError as e:
            outcome, exception = Completion("fail" if f in READ_ONLY else "info", value, e.kind), e
        except Exception as e:  # a client bug: we cannot know whether the request went out
            log.exception("%s %s on %r raised unexpectedly; recording it as unknown", self.workload, f, key)
            outcome, exception = Completion("fail" if f in READ_ONLY else "info", value, repr(e)), e
        except _ESCAPED_TIMEOUTS as e:
            # gevent's Timeout is a BaseException: a client's own timer that it forgot to catch. The
            # request may be out; the user goes on (uncaught, it would kill the user).
            if not self._escaped:
                log.warning("%s: a %s escaped the client; recorded as unknown (clients should raise "
                            "IndeterminateError: see docs/testing-your-system.md)", self.workload, type(e).__name__)
            self._escaped += 1
            outcome = Completion("fail" if f in READ_ONLY else "info", value, f"escaped {type(e).__name__}: {e}")
            exception = IndeterminateError("timeout", str(e))
        except BaseException as e:
            # The caller is being torn down mid-request (Locust kills a user whose stop raced with
            # its wake-up; Ctrl-C): the request may be out, so say so, then let the teardown go on.
            outcome, abandoned = Completion("fail" if f in READ_ONLY else "info", value, "abandoned"), e
        event = {"process": process, "type": outcome.type, "f": f, "key": key, "value": outcome.value}
        if outcome.error is not None:
            event["error"] = outcome.error
        node = getattr(client, "node", None)
        if node is not None:
            event["node"] = node
        end = self._write(event, since=start)
        if self.request_event is not None and abandoned is None:  # Locust counts completed operations only
            self.request_event.fire(
                request_type=f, name=f"{self.workload}/{f}", response_time=(end - start) / 1e6,
                response_length=0, exception=exception if outcome.error is not None else None,
                context={"process": process, "type": outcome.type, "key": key})
        if abandoned is not None:
            raise abandoned
        return outcome


def _stamp(event: dict, clock: Callable[[], int], since: int | None) -> None:
    event["time"] = clock()
    if since is not None:
        event["latency"] = event["time"] - since


def _dispatch(client: Client, f: str, key: str, value: Any) -> Any:
    if f in READ_ONLY:
        return getattr(client, f)(key)
    if f == "delete":
        return client.delete(key)
    if f == "cas":
        expected, new = value
        return client.cas(key, expected, new)
    return getattr(client, f)(key, value)


__all__ = ["ClientError", "Completion", "HistoryFile", "Recorder", "READ_ONLY"]
