"""The life of one KV server process, shared by `python -m reference_kv` and
`python -m reference_kv.regions`: start, serve until SIGTERM/SIGINT, stop;
bad input or an unopenable data dir is one line on stderr, never a traceback."""
from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from pathlib import Path

log = logging.getLogger("reference_kv")


def event_loop_factory(kind: str = "auto"):
    """-> loop_factory for asyncio.Runner: uvloop ("auto" when installed), or None for asyncio's own.

    The node spends most of its CPU in the event loop and its socket writes,
    which uvloop does in C. "auto" keeps asyncio under libfaketime (the clock
    nemesis): its scaling of sleeps and epoll timeouts is proven with
    asyncio's loop only.
    """
    if kind == "asyncio" or (kind == "auto" and "FAKETIME_TIMESTAMP_FILE" in os.environ):
        return None
    try:
        import uvloop
    except ImportError:
        if kind == "uvloop":
            raise
        return None
    return uvloop.new_event_loop


def exit_now(what: str, exc: BaseException | None = None) -> None:
    """The replica no longer matches what is on disk: exit (status 70) so a restart replays from it.

    The default `fatal` of the node and the store; a simulation passes its own."""
    log.error("fatal error %s; exiting", what, exc_info=exc)
    os._exit(70)


async def or_exit(awaitable, fatal=exit_now):
    """Await a Ready's handling; if it fails, `fatal(what, exception)`."""
    try:
        return await awaitable
    except asyncio.CancelledError:
        raise
    except Exception as e:
        fatal("handling Ready", e)


async def wait_for_signal() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()


async def _failure(running: asyncio.Future) -> BaseException:
    """Completes only if `running` fails: -> its exception."""
    try:
        await running
    except Exception as e:
        return e
    await asyncio.Event().wait()


async def serve(prog: str, what: str, backend, server, started: str) -> int:
    """Start backend (a node or a store) and its HTTP server; run until signalled; stop both."""
    try:
        await backend.start()
        await server.start()
    except OSError as e:
        print(f"{prog}: error: cannot start {what}: {e}", file=sys.stderr)
        return 1
    except ValueError as e:
        print(f"{prog}: error: {e}", file=sys.stderr)
        return 2
    log.info("%s", started)
    # The backend may still learn it must not run (a member that lost its data, see identity.py).
    signalled = asyncio.ensure_future(wait_for_signal())
    failed = asyncio.ensure_future(_failure(backend.running))
    await asyncio.wait([signalled, failed], return_when=asyncio.FIRST_COMPLETED)
    refused = failed.result() if failed.done() else None
    signalled.cancel()
    failed.cancel()
    await server.close()
    await backend.stop()
    if refused:
        print(f"{prog}: error: {refused}", file=sys.stderr)
        return 2
    return 0


def run(prog: str, label: str, args, serve_args) -> int:
    """Check the data dir, set up logging and the event loop, run serve_args(args) to its exit status."""
    data_dir = Path(args.data_dir)
    if data_dir.exists() and not data_dir.is_dir():
        print(f"{prog}: error: --data-dir {data_dir} is not a directory", file=sys.stderr)
        return 2
    logging.basicConfig(level=args.log_level, stream=sys.stderr,
                        format=f"%(asctime)s {label}{args.id} %(levelname)s %(name)s: %(message)s")
    try:
        with asyncio.Runner(loop_factory=event_loop_factory(args.event_loop)) as runner:
            return runner.run(serve_args(args))
    except KeyboardInterrupt:
        return 0
    except Exception as e:  # corrupt data dir and the like: one line, no traceback
        log.debug("fatal", exc_info=True)
        print(f"{prog}: error: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
