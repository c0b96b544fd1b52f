"""Start-up time: `stance predict` on one pair, from a fresh process, with a warm disk.

    python eval/bench_startup.py [--models default,large] [--repeats 3]
        [--out eval/results/bench_startup.json]

For each model, one untimed run warms the disk cache (and, for the large model, assembles
its verified base on first use); then each repeat times, in a fresh Python process:
``import torch``, ``import transformers`` after it, ``StanceClassifier.load(model)`` and
the whole ``stance predict CLAIM RESPONSE --model M`` command. The result file keeps the
median of each and the machine it ran on.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

from machine import machine_description

REPO = Path(__file__).resolve().parent.parent
PAIR = ("The Kharkiv offensive has failed.", "No, it doesn't.")
_TIMED_STEPS = """
import json, sys, time
t0 = time.perf_counter()
import torch
t1 = time.perf_counter()
import transformers
t2 = time.perf_counter()
from stance import StanceClassifier
clf = StanceClassifier.load(sys.argv[1])
t3 = time.perf_counter()
print(json.dumps({"import_torch_s": t1 - t0, "import_transformers_s": t2 - t1,
                  "load_s": t3 - t2}))
"""


def time_command(command: list[str]) -> float:
    """Wall seconds of ``command`` (which must succeed)."""
    start = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True, text=True)
    return time.perf_counter() - start


def steps(model: str) -> dict[str, float]:
    """The seconds of each start-up step in a fresh process."""
    out = subprocess.run(
        [sys.executable, "-c", _TIMED_STEPS, model], check=True, capture_output=True, text=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def bench(model: str, repeats: int) -> dict[str, float]:
    predict = [sys.executable, "-m", "stance", "predict", *PAIR, "--model", model]
    time_command(predict)  # warm the disk cache (and assemble a verified base)
    runs = []
    for _ in range(repeats):
        run = steps(model)
        run["stance_predict_s"] = time_command(predict)
        runs.append(run)
    return {key: round(statistics.median(r[key] for r in runs), 3) for key in runs[0]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default="default,large")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", default=str(REPO / "eval" / "results" / "bench_startup.json"))
    args = parser.parse_args(argv)
    results = {model: bench(model, args.repeats) for model in args.models.split(",")}
    record = {
        "date": dt.date.today().isoformat(),
        "machine": machine_description(),
        "repeats": args.repeats,
        "command": "python eval/bench_startup.py " + " ".join(argv or sys.argv[1:]),
        "results": results,
    }
    Path(args.out).write_text(json.dumps(record, indent=2) + "\n")
    for model, figures in results.items():
        print(model, figures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
