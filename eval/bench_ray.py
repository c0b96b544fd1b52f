"""Throughput of scoring on Ray Data against `stance score`, on this machine.

    python eval/bench_ray.py                     # 4,000 dev pairs, the default model
    python eval/bench_ray.py --rows 2000 --model path/to/model

Draws N pairs from the dev splits in /work/shared/data (random news-like pairs when that
folder is absent), then scores them

1. with `stance score`'s engine (`stance.scoring.score_file`, one process, Parquet in and
   out), and
2. with `stance.integrations.ray.score_dataset` on a local Ray instance at concurrency 1
   and 2 (the same pairs as 8 Parquet files, repartitioned into 8 blocks, written back
   as Parquet).

Each setup runs ``--repeats`` times, interleaved, and the fastest run counts (the
machine may be shared). Times are wall clock. "scoring" excludes loading the model (and
starting Ray); "end to end" includes it. Ray gets one logical CPU more than the machine
has, so that its read and write tasks are not starved by the scoring actors; the actors
together use every core (concurrency 1: one actor with all cores; 2: two actors with half
each). Writes a Markdown table to eval/results/bench_ray.md.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

REPO = Path(__file__).resolve().parent.parent
DATA = Path("/work/shared/data")
DEV_SETS = ("snli_esnli", "sick", "friends_qia", "rumoureval2019", "circa", "perspectrum")
WORDS = (
    "the minister denied reports that the offensive had failed and said troops were "
    "advancing near the city while officials confirmed prices rose after the storm"
).split()


def load_pairs(rows: int, seed: int = 0) -> tuple[pd.DataFrame, str]:
    """``rows`` pairs (id, claim, response) and a note saying where they came from."""
    rng = np.random.default_rng(seed)
    frames = []
    for name in DEV_SETS:
        path = DATA / name / "pairs.jsonl"
        if path.is_file():
            frame = pd.read_json(path, lines=True)
            frames.append(frame.loc[frame["split"] == "dev", ["claim", "response"]])
    if frames:
        pool = pd.concat(frames, ignore_index=True)
        picked = pool.iloc[rng.permutation(len(pool))[:rows]].reset_index(drop=True)
        note = f"{len(picked):,} pairs drawn from the dev splits of {', '.join(DEV_SETS)}"
    else:
        picked = pd.DataFrame(
            {
                "claim": [" ".join(rng.choice(WORDS, rng.integers(4, 12))) for _ in range(rows)],
                "response": [" ".join(rng.choice(WORDS, rng.integers(3, 40))) for _ in range(rows)],
            }
        )
        note = f"{rows:,} random news-like pairs ({DATA} is absent)"
    picked.insert(0, "id", np.arange(len(picked)))
    return picked, note


def bench_stance_score(inp: Path, out: Path, model: str | None) -> dict:
    from stance.cli_common import quiet_transformers
    from stance.model import StanceClassifier
    from stance.scoring import score_file

    quiet_transformers()
    started = time.perf_counter()
    clf = StanceClassifier.load(model)
    loaded = time.perf_counter()
    summary = score_file(inp, out, clf, progress=False)
    done = time.perf_counter()
    import torch

    return {
        "how": f"`stance score` (one process, {torch.get_num_threads()} torch threads)",
        "rows": summary.rows,
        "scoring_s": done - loaded,
        "total_s": done - started,
    }


def bench_ray(folder: Path, out: Path, model: str | None, concurrency: int, cpus: int) -> dict:
    import ray

    from stance.integrations.ray import score_dataset

    per_actor = max(cpus // concurrency, 1)
    started = time.perf_counter()
    # Ray 2.60 reads small files into one block: split it so that every actor gets work
    ds = ray.data.read_parquet(str(folder)).repartition(8)
    scored = score_dataset(
        ds, model, concurrency=concurrency, num_cpus=per_actor, rows_per_call=256
    )
    scored.write_parquet(str(out))
    done = time.perf_counter()
    rows = pq.read_table(out).num_rows
    return {
        "how": f"Ray, concurrency {concurrency} ({per_actor} CPU / torch thread(s) per actor)",
        "rows": rows,
        "scoring_s": None,  # actors load the model while the first blocks are read
        "total_s": done - started,
    }


def agreement(a: Path, b: Path) -> float:
    """Share of rows with the same label in two scored outputs (joined on id)."""
    left = pq.read_table(a, columns=["id", "label"]).to_pandas()
    right = pq.read_table(b, columns=["id", "label"]).to_pandas()
    both = left.merge(right, on="id", suffixes=("_a", "_b"))
    return float((both["label_a"] == both["label_b"]).mean())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=4000)
    parser.add_argument("--model", default=None, help="model directory; default: shipped model")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--output", type=Path, default=REPO / "eval/results/bench_ray.md")
    parser.add_argument(
        "--repeats", type=int, default=2, help="runs of each setup; the fastest counts"
    )
    args = parser.parse_args(argv)

    import ray

    cpus = os.cpu_count() or 1
    pairs, note = load_pairs(args.rows)
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        single = tmp / "pairs.parquet"
        pq.write_table(pa.Table.from_pandas(pairs, preserve_index=False), single)
        parts = tmp / "pairs"
        parts.mkdir()
        for i, chunk in enumerate(np.array_split(np.arange(len(pairs)), 8)):
            table = pa.Table.from_pandas(pairs.iloc[chunk], preserve_index=False)
            pq.write_table(table, parts / f"part-{i}.parquet")

        load_before = os.getloadavg()[0]
        started = time.perf_counter()
        ray.init(num_cpus=cpus + 1, include_dashboard=False, log_to_driver=False)
        ray.data.DataContext.get_current().enable_progress_bars = False
        ray_start_s = time.perf_counter() - started
        reference = tmp / "scored.parquet"
        runs: dict[str, list[dict]] = {}
        try:
            for repeat in range(args.repeats):  # interleaved, so that load spikes hit all
                run = bench_stance_score(single, reference, args.model)
                runs.setdefault("stance", []).append(run)
                print(json.dumps(run), file=sys.stderr)
                for concurrency in args.concurrency:
                    out = tmp / f"ray-{concurrency}-{repeat}"
                    run = bench_ray(parts, out, args.model, concurrency, cpus)
                    run["same_label"] = agreement(reference, out)
                    runs.setdefault(f"ray{concurrency}", []).append(run)
                    print(json.dumps(run), file=sys.stderr)
        finally:
            ray.shutdown()
        for setup in runs.values():
            best = dict(min(setup, key=lambda r: r["total_s"]))
            best["all_s"] = [r["total_s"] for r in setup]
            results.append(best)

    base = results[0]
    lines = [
        f"# Ray Data scoring vs `stance score` ({datetime.date.today().isoformat()})",
        "",
        f"{note}; model: {args.model or 'the shipped default model'}; "
        f"{cpus} CPU cores ({platform.processor() or platform.machine()}), "
        f"Ray {ray.__version__}. `ray.init` took {ray_start_s:.1f} s (not counted below). "
        f"Fastest of {args.repeats} runs each. 1-minute load average "
        f"{load_before:.1f} at the start and {os.getloadavg()[0]:.1f} at the end, on {cpus} "
        "cores (this benchmark and Ray's own processes count; more means other jobs ran).",
        "",
        "| run | rows | scoring s | end to end s | pairs/s end to end | vs `stance score` |"
        " same label | every run, s |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in results:
        scoring = f"{r['scoring_s']:.1f}" if r["scoring_s"] is not None else "-"
        rate = r["rows"] / r["total_s"]
        extra = r["total_s"] - base["total_s"]
        versus = "-" if r is base else f"{extra:+.1f} s ({r['total_s'] / base['total_s']:.2f}x)"
        same = f"{r['same_label']:.4f}" if "same_label" in r else "-"
        lines.append(
            f"| {r['how']} | {r['rows']:,} | {scoring} | {r['total_s']:.1f} | {rate:,.0f} | "
            f"{versus} | {same} | {', '.join(f'{t:.1f}' for t in r['all_s'])} |"
        )
    lines += [
        "",
        f"`stance score` alone, without loading the model: "
        f"{base['rows'] / base['scoring_s']:,.0f} pairs/s.",
        "",
        f"Command: `python eval/bench_ray.py --rows {args.rows} --repeats {args.repeats}`.",
    ]
    text = "\n".join(lines) + "\n"
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
