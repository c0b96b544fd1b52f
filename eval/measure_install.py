"""Time the README's command 1 (set up, then score the example pairs) in a fresh clone.

    python eval/measure_install.py    # writes eval/results/install.md and install.json

Clones the committed ``HEAD`` into a temporary folder, runs the first fenced command of
the README's quick start there with ``bash``, and records its wall time, its exit code,
the size of the virtual environment it made and of the ``torch`` part of it, and the
machine. Packages come from whatever index pip is set up to use here (a local wheel for
torch, the package registry for the rest; pip's cache is disabled so nothing is reused
from an earlier install), so the time depends on the network as much as on the machine.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from machine import cpu_name

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "eval" / "results" / "install"


def command_one(readme: str) -> str:
    """The first fenced ``bash`` block after "**1." in the README.

    >>> command_one("**1. Set up**\\n\\n```bash\\necho hi\\n```\\n")
    'echo hi'
    """
    after = readme.split("**1.", 1)[1]
    match = re.search(r"```bash\n(.*?)\n```", after, flags=re.S)
    if match is None:
        raise SystemExit("README.md has no ```bash block after '**1.'")
    return match.group(1).strip()


def folder_mb(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 1e6


def scored_rows(path: Path) -> int:
    """Rows with a label in the scored file the command wrote (0 if it wrote none)."""
    if not path.is_file():
        return 0
    with path.open(newline="", encoding="utf-8") as handle:
        return sum(1 for row in csv.DictReader(handle) if row.get("label"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keep", type=Path, help="clone into this (new) folder and keep it")
    args = parser.parse_args(argv)
    command = command_one((REPO / "README.md").read_text())
    with tempfile.TemporaryDirectory() as tmp:
        clone = args.keep or Path(tmp) / "stance"
        subprocess.run(["git", "clone", "-q", str(REPO), str(clone)], check=True)
        env = {**os.environ, "PIP_NO_CACHE_DIR": "1"}
        env.pop("VIRTUAL_ENV", None)
        started = time.perf_counter()
        run = subprocess.run(
            ["bash", "-c", command], cwd=clone, env=env, capture_output=True, text=True
        )
        seconds = time.perf_counter() - started
        venv = clone / ".venv"
        site = next(venv.glob("lib/python*/site-packages"), None)
        result = {
            "command": command,
            "exit_code": run.returncode,
            "seconds": round(seconds, 1),
            "venv_mb": round(folder_mb(venv), 1) if venv.is_dir() else None,
            "torch_mb": round(folder_mb(site / "torch"), 1) if site else None,
            "scored_rows": scored_rows(clone / "examples" / "pairs.scored.csv"),
            "date": dt.date.today().isoformat(),
            "python": platform.python_version(),
            "cpu": cpu_name(),
            "cores": os.cpu_count(),
        }
    if run.returncode != 0:
        print(run.stdout[-2000:], run.stderr[-3000:], sep="\n", file=sys.stderr)
    OUT.with_suffix(".json").write_text(json.dumps(result, indent=2) + "\n")
    OUT.with_suffix(".md").write_text(
        "# Install size and time\n\n"
        f"`python eval/measure_install.py`, {result['date']}, {result['cpu']}, "
        f"{result['cores']} cores, Python {result['python']}: README command 1 in a fresh "
        f"clone, pip's cache off.\n\n"
        f"| exit code | wall time | virtual environment | of which torch | rows scored |\n"
        f"|---:|---:|---:|---:|---:|\n"
        f"| {result['exit_code']} | {result['seconds']:.1f} s | {result['venv_mb']:,.1f} MB | "
        f"{result['torch_mb']:,.1f} MB | {result['scored_rows']} |\n"
    )
    print(json.dumps(result, indent=2))
    return run.returncode


if __name__ == "__main__":
    sys.exit(main())
