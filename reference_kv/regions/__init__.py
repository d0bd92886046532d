"""Multi-Raft: the key space cut into Regions, each its own Raft group, on one store per node.

Layout (see layout.py): one Pebble instance per node holds every Region
replica's log, hard state, applied index and sessions under a per-Region
prefix; user data stays under the single-group node's global data prefix, so
a Region owns a range of it and a split moves no data.

Region 0 is the meta group: a Raft group on every node whose state is the
Region directory (descriptors and leader hints) and the next free Region id.
Data Regions start at id 1, which covers the whole key space at bootstrap.

`python -m reference_kv.regions` runs one store (same flags as
`python -m reference_kv`, plus `--region-split-size`).
"""
