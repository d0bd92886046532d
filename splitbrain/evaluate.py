"""From a run directory's recorded files to its verdict, summary and report.

Used at the end of every run and by `splitbrain report`, so the two can never
disagree: the report of a run is, by construction, what its files say.
"""
from __future__ import annotations

import pathlib
import time

from splitbrain import analysis, report, rundir
from splitbrain.errors import UsageError

KV_FS = frozenset({"get", "put", "append"})


def model_for(h: analysis.History) -> str:
    return "kv" if any(o.f in KV_FS for o in h.ops) else "cas-register"


def check_linearizability(run: pathlib.Path, events, model: str, timeout: float | None, progress=None) -> dict:
    """The checker's verdict on `events` (the run's history as read) as summary fields; a checker
    that throws yields unknown."""
    import checker

    started = time.monotonic()
    try:
        result = checker.check(events, model=model, timeout=timeout, progress=progress)
    except checker.HistoryError as e:  # the history does not fit the model: unusable input, as `check` says
        raise UsageError(str(e)) from None
    except Exception as e:  # noqa: BLE001 - a checker failure must never read as a pass
        return {"valid": "unknown", "error": f"{type(e).__name__}: {e}", "model": model,
                "seconds": round(time.monotonic() - started, 3)}
    from checker.report import witnesses

    out = {"valid": result.valid, "model": model, "partitions": len(result.partitions),
           "ops": result.ops, "seconds": round(result.seconds, 3),
           "failing": [_describe_failure(result, p) for p in result.failures],
           "unknown_partitions": [str(p.key) for p in result.unknown]}
    try:  # the checker's shrunk witnesses, each with its one sentence: what stdout and the report name
        out["witnesses"] = witnesses(result)
    except Exception as e:  # noqa: BLE001 - the verdict stands without them
        out["witnesses_error"] = f"{type(e).__name__}: {e}"
    try:
        checker.write_html(result, run / rundir.LINEARIZABILITY)
    except Exception as e:  # noqa: BLE001 - the verdict stands without its picture
        out["html_error"] = f"{type(e).__name__}: {e}"
    return out


def _describe_failure(result, part) -> dict:
    from checker.core import describe_op

    blocked = None if part.blocked is None else describe_op(result.model, part, part.blocked)
    return {"key": part.key, "linearizable_prefix": len(part.linearization), "ops": len(part.ops),
            "cannot_place": blocked}


def _recorded_model(run: pathlib.Path, config: dict) -> str | None:
    from checker.models import MODELS

    model = config.get("model")
    if model is not None and (type(model) is not str or model not in MODELS):
        raise UsageError(f"{run / rundir.CONFIG}: model must be one of {', '.join(MODELS)} (got {model!r})")
    return model


def _recorded(run: pathlib.Path, config: dict, field: str):
    """A RunConfig field as the run's config.json recorded it (None when absent), of its kind."""
    from splitbrain.config import RunConfig

    if config.get(field) is None:
        return None
    try:
        return RunConfig.kind(field).check(config[field])
    except ValueError as e:
        raise UsageError(f"{run / rundir.CONFIG}: {field} {e}") from None


def evaluate(run: pathlib.Path, *, model: str | None = None, timeout: float | None = None,
             progress=None) -> dict:
    from checker.history import HistoryError, pair_file

    config = rundir.load_config(run)
    try:
        # read once, a block at a time, straight into operations: the checker and the analysis take this pairing
        events = pair_file(run / rundir.HISTORY)
        h = analysis.from_pairing(events)
        samples = analysis.read_status_samples(run / rundir.STATUS)
    except HistoryError as e:
        raise UsageError(str(e)) from None
    model = model or _recorded_model(run, config) or model_for(h)
    lin = check_linearizability(run, events, model, timeout, progress)
    nodes = _recorded(run, config, "nodes") or (len(samples[0]["nodes"]) if samples else 0) or 1
    load = analysis.read_load_events(run / rundir.LOAD_EVENTS)
    summary = analysis.summarize(h, samples, nodes, lin, load, configured_s=_recorded(run, config, "time"))
    # facts only the live run knew (e.g. regions), added: never over what the files say (the verdict)
    for k, v in rundir.load_json_object(run / "extra-summary.json").items():
        summary.setdefault(k, v)
    summary["run"] = run.name
    rundir.write_json(run / rundir.SUMMARY, summary)
    (run / rundir.REPORT).write_text(report.render(run, h, summary, config))
    return summary
