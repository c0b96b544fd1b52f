"""Peak memory of `stance score` as the input grows: it must stay flat.

    python eval/bench_memory.py                       # tiny random model, 10k / 100k / 1M rows
    python eval/bench_memory.py --model default --rows 10000
    python eval/bench_memory.py --out eval/results/bench_memory.md   # append the table

Each run scores a generated CSV of N pairs in a fresh `stance score` process and reads
that process's peak resident memory (ru_maxrss). The tiny random model (built here, as
in the tests) isolates what the streaming reader and writer cost; with a real model the
model's own weights add a constant on top. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from machine import machine_description

REPO = Path(__file__).resolve().parent.parent
WORDS = (
    "the minister denied reports that the offensive had failed and said troops were "
    "advancing near the city while officials confirmed prices rose after the storm"
).split()


def write_pairs(path: Path, rows: int, seed: int = 0) -> None:
    """Write ``rows`` random news-like pairs (short claims, 3-40 word responses) as CSV."""
    rng = np.random.default_rng(seed)
    with open(path, "w") as f:
        f.write("id,claim,response\n")
        block = 10_000
        for start in range(0, rows, block):
            n = min(block, rows - start)
            for i in range(n):
                claim = " ".join(rng.choice(WORDS, rng.integers(4, 12)))
                response = " ".join(rng.choice(WORDS, rng.integers(3, 40)))
                f.write(f"{start + i},{claim},{response}\n")


_MEASURE = (
    "import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True); "
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
)


def peak_rss_of(command: list[str]) -> tuple[float, float]:
    """Run ``command``; return (peak RSS in MB of that process, wall seconds).

    A fresh wrapper process runs it, so RUSAGE_CHILDREN holds this command alone.
    """
    started = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-c", _MEASURE, *command], check=True, capture_output=True, text=True
    )
    seconds = time.perf_counter() - started
    return int(out.stdout.split()[-1]) / 1024, seconds


def tiny_model_dir(folder: Path) -> Path:
    """The test suite's tiny random model (``tests/conftest.py``), saved in ``folder``."""
    spec = importlib.util.spec_from_file_location("conftest", REPO / "tests" / "conftest.py")
    fixtures = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(fixtures)
    return fixtures.build_tiny_model_dir(folder)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="tiny", help="'tiny', 'default' or a model directory")
    parser.add_argument("--rows", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--out", type=Path, help="append the table (with date and CPU) here")
    args = parser.parse_args()
    lines: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        model_args: list[str] = []
        if args.model == "tiny":
            model_args = ["--model", str(tiny_model_dir(tmp_path / "tiny"))]
        elif args.model != "default":
            model_args = ["--model", args.model]
        machine = machine_description()
        lines += [
            f"## model: {args.model} ({time.strftime('%Y-%m-%d')}, {machine})",
            "",
            "| rows | input MB | peak RSS MB | seconds | rows/s |",
            "|---:|---:|---:|---:|---:|",
        ]
        print("\n".join(lines))
        for rows in sorted(args.rows):
            source = tmp_path / f"pairs-{rows}.csv"
            write_pairs(source, rows)
            target = tmp_path / f"scored-{rows}.csv"
            command = [sys.executable, "-m", "stance", "score", str(source), "-o", str(target),
                       "--quiet", *model_args]  # fmt: skip
            rss, seconds = peak_rss_of(command)
            size = source.stat().st_size / 1e6
            lines.append(
                f"| {rows:,} | {size:.1f} | {rss:.0f} | {seconds:.1f} | {rows / seconds:,.0f} |"
            )
            print(lines[-1])
            source.unlink()
            target.unlink()
    if args.out:
        header = "" if args.out.is_file() else "# Peak memory of `stance score`\n\n"
        with args.out.open("a") as handle:
            handle.write(header + "\n".join(lines) + "\n\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
