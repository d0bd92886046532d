"""Prometheus metrics of a node or store process, through prometheus_client.

The node and the Region store keep their own counters (plain attributes,
cheap on the hot path) and describe them as metric families when scraped:
`metric_families()` yields what `gauge`, `counter`, `labelled` and
`histogram` build. Each process has one registry (`Exposition`) holding that
collector and prometheus_client's process, platform and GC collectors; the
library does the types, labels, escaping and the text format. Every name
starts with PREFIX and stays as documented in the README, so dashboards keep
working.
"""
from __future__ import annotations

from prometheus_client import CollectorRegistry, GCCollector, PlatformCollector, ProcessCollector, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

PREFIX = "reference_kv_"
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def gauge(name: str, help_: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(PREFIX + name, help_, value=value)


def counter(name: str, help_: str, value: float) -> CounterMetricFamily:
    """`name` ends in _total, as the exposition shows it."""
    return CounterMetricFamily(PREFIX + name, help_, value=value)


def labelled(name: str, help_: str, label: str, values: dict) -> CounterMetricFamily:
    """A counter with one label: {label value: count}."""
    family = CounterMetricFamily(PREFIX + name, help_, labels=[label])
    for key, n in sorted(values.items()):
        family.add_metric([str(key)], n)
    return family


def histogram(name: str, help_: str, bounds, counts, total: float) -> HistogramMetricFamily:
    """bounds: upper bounds; counts: observations per bucket (not cumulative), the last one past every bound."""
    buckets, cum = [], 0
    for le, n in zip(list(bounds) + ["+Inf"], counts):
        cum += n
        buckets.append((str(le), cum))
    return HistogramMetricFamily(PREFIX + name, help_, buckets=buckets, sum_value=total)


class _Source:
    def __init__(self, source):
        self.source = source

    def collect(self):
        return list(self.source.metric_families())


class Exposition:
    """The process's registry: `source.metric_families()` plus the process's own collectors."""

    def __init__(self, source):
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(_Source(source))
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        GCCollector(registry=self.registry)

    def __call__(self) -> tuple[bytes, str]:
        return generate_latest(self.registry), CONTENT_TYPE
