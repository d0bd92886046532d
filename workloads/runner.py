"""Checked runs: one Locust process, in-process through Locust's library API.

`run_load(...)` starts the workload's users on a LocalRunner, stops after
`run_time` seconds or when `stop_event` is set, lets the users finish their
operation in flight (so the history has a completion for it), writes Locust's
CSVs and HTML report if asked, and returns a stats dict. Its own events (start,
stop, every user that died before the end) go to `events_path`
(workloads.loadevents) and to `on_event`.

Importing this module imports Locust, which gevent-patches the whole process:
call it from a process of its own (`python -m workloads.run` does exactly that).
"""
from __future__ import annotations

from locust import events as _global_events  # noqa: F401  (first: Locust patches sockets on import)

import csv
import os
import time
from typing import Any, Callable

import gevent
from locust.argument_parser import get_empty_argument_parser, setup_parser_arguments
from locust.env import Environment
from locust.event import Events
from locust import stats as locust_stats
from locust.html import get_html_report
from locust.stats import PERCENTILES_TO_REPORT, StatsCSVFileWriter, stats_history

from workloads import options as workload_options
from workloads import user_class
from workloads.loadevents import LoadEvents
from workloads.settings import Settings

PROGRESS_EVERY = 1.0


def run_load(system: str, endpoints: list[str], workload: str = "register", users: int = 5,
             spawn_rate: float | None = None, run_time: float = 10.0, rate: float = 0.0,
             keys: int | None = None, seed: int = 0, read_mode: str | None = None,
             history_path: str | None = None, csv_prefix: str | None = None, html_path: str | None = None,
             on_progress: Callable[[dict], Any] | None = None, stop_event: Any = None,
             value_size: int = 16, mix: str = "A", ops_per_key: int | None = None, timeout: float = 1.0,
             print_stats: bool = False, events_path: str | None = None,
             on_event: Callable[[dict], Any] | None = None) -> dict:
    """Runs one workload; raises ValueError (one clear line) on bad options."""
    settings = Settings(system=system, endpoints=tuple(endpoints), workload=workload, history=history_path,
                        keys=keys, ops_per_key=ops_per_key, seed=seed, read_mode=read_mode, rate=rate,
                        value_size=value_size, mix=mix, timeout=timeout)
    if not isinstance(users, int) or users < 1:
        raise ValueError("users must be at least 1")
    if run_time <= 0:
        raise ValueError("run time must be positive")
    spawn_rate = spawn_rate or float(users)
    if spawn_rate <= 0:
        raise ValueError("spawn rate must be positive")

    parser = get_empty_argument_parser(add_help=False, default_config_files=[])
    setup_parser_arguments(parser)
    workload_options.add_arguments(parser)
    parsed = parser.parse_args(["--headless", "-u", str(users), "-r", str(spawn_rate)])
    parsed.splitbrain_settings = settings

    env = Environment(user_classes=[user_class(workload)], events=Events(), parsed_options=parsed,
                      host=f"http://{settings.endpoints[0]}",
                      # Users stopping at the end finish the operation in flight, so it gets its completion.
                      stop_timeout=workload_options.stop_timeout(timeout))
    runner = env.create_local_runner()
    load_events = env.splitbrain_events = LoadEvents(events_path, on_event)
    background = [gevent.spawn(stats_history, runner)]
    csv_writer = None
    if csv_prefix:
        if os.path.dirname(csv_prefix):
            os.makedirs(os.path.dirname(csv_prefix), exist_ok=True)
        csv_writer = StatsCSVFileWriter(env, PERCENTILES_TO_REPORT, csv_prefix, full_history=True)
        background.append(gevent.spawn(csv_writer.stats_writer))

    started, cpu_started = time.monotonic(), time.process_time()
    load_events.write("start", users=users, run_time=run_time)
    runner.start(users, spawn_rate)
    next_progress = started + PROGRESS_EVERY
    stopped_early = False
    try:
        while True:
            now = time.monotonic()
            if now - started >= run_time:
                break
            if stop_event is not None and stop_event.is_set():
                stopped_early = True
                break
            if on_progress is not None and now >= next_progress:
                next_progress += PROGRESS_EVERY
                on_progress(progress(env, now - started))
            gevent.sleep(min(0.05, run_time - (now - started)))
    finally:
        load_events.stopping = True
        load_events.write("stop", stopped_early=stopped_early, died=load_events.died)
        runner.quit()
        load_events.close()
        elapsed = time.monotonic() - started
        cpu_seconds = time.process_time() - cpu_started
        for g in background:
            g.kill(block=False)
        if csv_writer is not None:
            final_csvs(csv_writer, csv_prefix)
        env.events.quit.fire(exit_code=0)  # closes the history
    if html_path:
        if os.path.dirname(html_path):
            os.makedirs(os.path.dirname(html_path), exist_ok=True)
        with open(html_path, "w", encoding="utf-8") as f:
            f.write(get_html_report(env, show_download_link=False))
    if print_stats:
        stats_tables(env.stats)
    return {**summary(env, elapsed, stopped_early), "cpu_seconds": cpu_seconds}


def stats_tables(stats) -> None:
    """Locust's own end-of-run tables, as its headless CLI prints them."""
    locust_stats.print_stats(stats, current=False)
    locust_stats.print_percentile_stats(stats)
    locust_stats.print_error_report(stats)


def final_csvs(writer: StatsCSVFileWriter, prefix: str) -> None:
    """Locust's CSV greenlet writes once a second; the files must end with the final numbers."""
    writer._stats_history_data_rows(writer.stats_history_csv_writer, time.time())
    writer.close_files()
    for suffix, write in (("_stats.csv", writer.requests_csv), ("_failures.csv", writer.failures_csv),
                          ("_exceptions.csv", writer.exceptions_csv)):
        with open(prefix + suffix, "w", newline="") as f:
            write(csv.writer(f))


def progress(env: Environment, elapsed: float) -> dict:
    total = env.stats.total
    return {"elapsed": round(elapsed, 3), "users": env.runner.user_count if env.runner else 0,
            "requests": total.num_requests, "failures": total.num_failures,
            "current_rps": round(total.current_rps, 1)}


def summary(env: Environment, elapsed: float, stopped_early: bool) -> dict:
    def entry(s) -> dict:
        return {"requests": s.num_requests, "failures": s.num_failures,
                "rps": s.num_requests / elapsed if elapsed else 0.0,
                "avg_ms": s.avg_response_time, "min_ms": s.min_response_time or 0.0,
                "max_ms": s.max_response_time,
                "p50_ms": s.get_response_time_percentile(0.5), "p95_ms": s.get_response_time_percentile(0.95),
                "p99_ms": s.get_response_time_percentile(0.99), "p999_ms": s.get_response_time_percentile(0.999)}

    context = getattr(env, "splitbrain", None)
    return {
        "elapsed": elapsed,
        "stopped_early": stopped_early,
        "total": entry(env.stats.total),
        "operations": {name: entry(s) for (name, _method), s in sorted(env.stats.entries.items())},
        "errors": {f"{e.method} {e.name}: {e.error}": e.occurrences for e in env.stats.errors.values()},
        "history": dict(context.recorder.counts) if context else {},
        "history_path": context.settings.history if context else None,
    }
