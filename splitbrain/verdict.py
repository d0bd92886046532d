"""What a run's evidence adds up to: one verdict, the reasons for it, and what else a reader
must know (pure; from the summary's numbers).

stdout, summary.json and report.html all print what `compose` returns, so they cannot
disagree; the linearizability part is the checker's own verdict, which linearizability.html
shows. The words:

- `NOT LINEARIZABLE`: the checker found a violation (and only then);
- `UNSAFE`: the history is linearizable (or undecided) but the nodes broke leader safety:
  two leaders in one term, or a commit index that went back. Checked only when the
  leader probe gives terms;
- `unknown`: the checker could not decide, or the whole load died before its end (the run
  did not test what it was asked to);
- `no operations`: nothing was recorded, which proves nothing;
- `linearizable`.

Warnings change no verdict but are printed beside it: load users that died, successful
operations that stopped, operation kinds that never recovered, a probe without terms.
"""
from __future__ import annotations

LINEARIZABLE, NOT_LINEARIZABLE, UNSAFE, UNKNOWN, EMPTY = (
    "linearizable", "NOT LINEARIZABLE", "UNSAFE", "unknown", "no operations")
VALID_OF = {LINEARIZABLE: True, NOT_LINEARIZABLE: False, UNSAFE: False, UNKNOWN: "unknown", EMPTY: "empty"}


def seconds(t, t0) -> str:
    """A time as seconds since the run's start, the way every reader shows it."""
    return "?" if t is None or t0 is None else f"{(t - t0) / 1e9:.2f} s"


def _nodes(ids) -> str:
    ids = [str(i) for i in ids]
    return ids[0] if len(ids) == 1 else ", ".join(ids[:-1]) + " and " + ids[-1]


def _error(e) -> str:
    text = str(e or "an unknown error")
    return text if len(text) <= 200 else text[:199] + "…"


def compose(s: dict) -> dict:
    """{"valid", "verdict", "reasons", "warnings"} of a summary; each reason and warning is
    {"kind", "text"} with one sentence a reader can act on."""
    t0 = s.get("t0")
    lin = s.get("linearizable") or {}
    checked = lin.get("valid", "unknown")
    reasons: list[dict] = []
    warnings: list[dict] = []

    if checked is False:
        failing = lin.get("failing") or []
        witnesses = lin.get("witnesses") or []
        first = (f"key {witnesses[0]['key']}: {witnesses[0]['sentence']}" if witnesses
                 else f"key {failing[0]['key']}" if failing else "see linearizability.html")
        reasons.append({"kind": "not-linearizable",
                        "text": f"{len(failing)} key{'s' * (len(failing) != 1)} not linearizable; {first}"})
    elif checked == "unknown":
        why = lin.get("error") or (f"the checker could not decide {len(lin.get('unknown_partitions') or [])} "
                                   f"key(s) within its time limit" if lin else "the history was not checked")
        reasons.append({"kind": "unchecked", "text": why})

    for x in s.get("leaders_per_term") or []:
        seen = x.get("seen") or {}
        who = [f"node {n} ({seconds(seen[n][0], t0)} to {seconds(seen[n][1], t0)})" if seen.get(n) else f"node {n}"
               for n in x["leaders"]]
        reasons.append({"kind": "two-leaders", "term": x["term"], "nodes": x["leaders"],
                        "text": f"{len(x['leaders'])} leaders in term {x['term']}: {_nodes(who)}"})
    for r in s.get("commit_regressions") or []:
        reasons.append({"kind": "commit-regression", "nodes": [r["node"]], "time": r["time"],
                        "text": f"node {r['node']}'s commit index went back from {r['from']} to {r['to']} "
                                f"at {seconds(r['time'], t0)}"})

    load = s.get("load") or {}
    died = load.get("died") or []
    users = load.get("users")
    if died:
        first = min(died, key=lambda d: d.get("time") or 0)
        how_many = f"all {users}" if users and len(died) >= users else f"{len(died)} of {users or '?'}"
        text = (f"{how_many} load users died, the first at {seconds(first.get('time'), t0)}: "
                f"{_error(first.get('error'))}")
        whole = bool(users) and len(died) >= users
        (reasons if whole else warnings).append({"kind": "load-died", "text": text, "time": first.get("time"),
                                                 "users": len(died)})
    stopped = load.get("ok_stopped_at")
    if stopped is not None and not (users and len(died) >= users):
        warnings.append({"kind": "ok-stopped", "time": stopped,
                         "text": f"successful operations stopped at {seconds(stopped, t0)} and never came back "
                                 f"before the end of the load"})
    never = [f for f, a in (s.get("availability") or {}).items() if a.get("never_recovered")]
    if never:
        warnings.append({"kind": "never-recovered", "kinds": never,
                         "text": f"never recovered: {', '.join(never)} (unavailable to the end of the load)"})
    if s.get("probe_terms") is False:
        warnings.append({"kind": "no-terms",
                         "text": "the leader probe gives no term: an election is a change of the agreed leader, "
                                 "and two leaders in one term cannot be checked"})
    fr = s.get("final_read") or {}
    if fr.get("note"):
        warnings.append({"kind": "final-read", "text": fr["note"]})
    if s.get("history_torn_lines"):
        warnings.append({"kind": "torn", "text": s.get("history_torn_line")  # names the file, line and text
                         or "the history's torn last line (a run killed mid-write) was dropped"})

    kinds = {r["kind"] for r in reasons}
    if checked is False:
        word = NOT_LINEARIZABLE
    elif kinds & {"two-leaders", "commit-regression"}:
        word = UNSAFE
    elif checked == "empty":
        word = EMPTY
    elif checked == "unknown" or "load-died" in kinds:
        word = UNKNOWN
    else:
        word = LINEARIZABLE
    return {"valid": VALID_OF[word], "verdict": word, "reasons": reasons, "warnings": warnings}


def headline(s: dict) -> str:
    """`UNSAFE: 2 leaders in term 4: ... (the history is linearizable)`: the verdict line."""
    word = s.get("verdict") or {True: LINEARIZABLE, False: NOT_LINEARIZABLE}.get(s.get("valid"), UNKNOWN)
    reasons = s.get("reasons") or []
    text = word + (": " + "; ".join(r["text"] for r in reasons[:3]) if reasons else "")
    if len(reasons) > 3:
        text += f"; and {len(reasons) - 3} more"
    checked = (s.get("linearizable") or {}).get("valid")
    if word in (UNSAFE, UNKNOWN) and checked in (True, False):
        text += f" (the history is {'linearizable' if checked else 'NOT linearizable'})"
    return text
