"""splitbrain: a Jepsen-style verification and benchmark suite."""

__version__ = "0.1.0"
