"""What a benchmark ran on, printed by every bench so its ratios can be read in context."""
from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path

from nemesis import mounts


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _mem_gib() -> float:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / (1 << 20)
    except OSError:
        pass
    return 0.0


def _fs_type(path: Path) -> str:
    best, kind = "", "unknown"
    for dev, mnt, fstype in mounts.table():
        if str(path.resolve()).startswith(mnt) and len(mnt) > len(best):
            best, kind = mnt, f"{fstype} ({dev})"
    return kind


def _version(argv: list[str]) -> str:
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=10).stdout
        return out.splitlines()[0].strip() if out else "unknown"
    except (OSError, subprocess.SubprocessError):
        return "not installed"


def line() -> str:
    """One line for the head of a benchmark's output."""
    load = os.getloadavg()
    return (f"{_cpu_model()}, {os.cpu_count()} cores, {_mem_gib():.1f} GiB RAM; Python {platform.python_version()}, "
            f"{platform.system()} {platform.release()}; load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}")


def describe(work_dir: Path) -> dict:
    try:
        from importlib.metadata import version
        pso = version("pysyncobj")
    except Exception:
        pso = "not installed"
    return {
        "cpu": _cpu_model(), "cores": os.cpu_count(), "memory_gib": round(_mem_gib(), 1),
        "kernel": platform.release(), "python": platform.python_version(),
        "data_dir_fs": _fs_type(work_dir), "etcd": _version(["etcd", "--version"]), "pysyncobj": pso,
    }
