"""What machine a benchmark ran on, for its result file."""

from __future__ import annotations

import os
import platform
from pathlib import Path


def cpu_name() -> str:
    """The CPU's model name (``/proc/cpuinfo``), or what ``platform`` knows elsewhere."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown CPU"


def machine_description() -> str:
    """The CPU's model name and how many cores this process sees, e.g. "AMD EPYC, 2 cores"."""
    return f"{cpu_name()}, {os.cpu_count()} cores"
