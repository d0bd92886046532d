"""The claim judges, on summaries with known numbers (no cluster needed)."""
import json
import pathlib

import pytest

from splitbrain import claims

pytestmark = pytest.mark.unit


def measured(tmp_path, **summary):
    run = tmp_path / "run"
    run.mkdir(exist_ok=True)
    return claims.Measured(run, summary)


def test_election_claim_holds_only_below_200ms_mean(tmp_path):
    fast = {"kill-leader": measured(tmp_path, election_ms={"count": 5, "mean": 150.0, "p99": 300.0})}
    slow = {"kill-leader": measured(tmp_path, election_ms={"count": 5, "mean": 250.0, "p99": 300.0})}
    none = {"kill-leader": measured(tmp_path, election_ms={"count": 0, "mean": None, "p99": None})}
    assert claims._elections(fast)[1] is True
    assert claims._elections(slow)[1] is False
    assert claims._elections(none)[1] is None


def test_readindex_claim_compares_read_p99(tmp_path):
    m = {"reads-readindex": measured(tmp_path, latency_by_f_ms={"read": {"p99": 10.0}}),
         "reads-log": measured(tmp_path, latency_by_f_ms={"read": {"p99": 40.0}})}
    text, holds = claims._readindex(m)
    assert holds is True and "0.25" in text
    m["reads-log"].summary["latency_by_f_ms"]["read"]["p99"] = 5.0
    assert claims._readindex(m)[1] is False


def test_snapshot_claim_reads_snapshot_indexes_from_status_rounds(tmp_path):
    m = measured(tmp_path, snapshot_every=100)
    rounds = [{"time": i, "nodes": {"1": {"snapshot_index": si, "applied": ap}}}
              for i, (si, ap) in enumerate([(0, 50), (100, 150), (100, 199), (201, 260)])]
    (m.run / "status.jsonl").write_text("\n".join(json.dumps(r) for r in rounds))
    text, holds = claims._snapshots({"snapshots": m})
    assert holds is True and "100, 201" in text
    rounds.append({"time": 9, "nodes": {"1": {"snapshot_index": 201, "applied": 900}}})  # stopped snapshotting
    (m.run / "status.jsonl").write_text("\n".join(json.dumps(r) for r in rounds))
    assert claims._snapshots({"snapshots": m})[1] is False


def test_markdown_table_has_a_row_per_claim():
    rows = [{"claim": c.claim, "how": c.how, "measured": "x", "holds": None} for c in claims.CLAIMS]
    md = claims.markdown(rows)
    assert md.count("\n") == len(rows) + 2 and "not measured" in md
