"""Compare result files of ``eval/default_model_table.py`` side by side, as Markdown.

    python eval/compare_tables.py v5=eval/results/default_model_v5_issue18.json \\
        v6=eval/results/default_model_v6.json [--capabilities]

One row per dataset (the headline precision of each file), the target, and the
difference of the last file against the first; ``--capabilities`` adds the behavioural
and invariance capabilities, the flip rate and the claim-only agreement. The model card
and README tables are pasted from this output.

``--paired`` adds, where both files record which pairs their model got right on the same
pairs (result files written since 2026-11-30), how many pairs only the first model and
only the last model got right, and the exact McNemar p-value of that split: whether the
two models differ on that dataset beyond what chance disagreement gives. The test is on
right and wrong pairs (accuracy), also on the rows whose metric is macro-F1. On the
354-pair behavioural suite a difference of a few pairs is within chance.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def headline(result: dict, file: dict) -> float:
    precisions = file["precisions"]
    return result["fp32" if "fp32" in precisions else precisions[0]]


def paired(first: dict, last: dict) -> str:
    """'right only in first / only in last (p)' for two results on the same pairs, else '-'.

    >>> paired({"correct": "1100", "pairs_sha1": "x"}, {"correct": "1011", "pairs_sha1": "x"})
    '1 / 2 (p 1.00)'
    """
    if "correct" not in first or "correct" not in last:
        return "-"
    if first.get("pairs_sha1") != last.get("pairs_sha1"):
        return "- (other pairs)"
    from scipy.stats import binomtest

    pairs = list(zip(first["correct"], last["correct"], strict=True))
    only_first = sum(a == "1" and b == "0" for a, b in pairs)
    only_last = sum(a == "0" and b == "1" for a, b in pairs)
    discordant = only_first + only_last
    p = binomtest(only_first, discordant).pvalue if discordant else 1.0
    return f"{only_first} / {only_last} (p {p:.2f})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("files", nargs="+", metavar="NAME=FILE")
    parser.add_argument("--capabilities", action="store_true")
    parser.add_argument("--paired", action="store_true", help="pair-by-pair test, last vs first")
    args = parser.parse_args(argv)
    files = {}
    for item in args.files:
        name, _, path = item.partition("=")
        files[name] = json.loads(Path(path).read_text())
    names = list(files)
    first, last = files[names[0]], files[names[-1]]
    head = f"| dataset | n | metric | {' | '.join(names)} | {names[-1]} - {names[0]} | target |"
    rule = "|---|---:|---|" + "---:|" * (len(names) + 2)
    if args.paired:
        head += f" right only in {names[0]} / only in {names[-1]} |"
        rule += "---:|"
    print(head)
    print(rule)
    for dataset, row in last["results"].items():
        values = [
            headline(f["results"][dataset], f) if dataset in f["results"] else None
            for f in files.values()
        ]
        cells = " | ".join("-" if v is None else f"{v:.3f}" for v in values)
        diff = (
            "-"
            if values[0] is None
            else f"{headline(row, last) - headline(first['results'][dataset], first):+.3f}"
        )
        target = "-" if row["target"] is None else f"{row['target']:.2f}"
        line = f"| {dataset} | {row['n']:,} | {row['metric']} | {cells} | {diff} | {target} |"
        if args.paired:
            line += f" {paired(first['results'].get(dataset, {}), row)} |"
        print(line)
    if args.capabilities:
        for suite in ("Behavioural suite", "Invariance suite"):
            print(f"\n| {suite.lower()} capability | {' | '.join(names)} |")
            print("|---|" + "---:|" * len(names))
            for capability in last["results"][suite]["per_capability"]:
                cells = " | ".join(
                    f"{f['results'][suite]['per_capability'].get(capability, float('nan')):.3f}"
                    if suite in f["results"]
                    else "-"
                    for f in files.values()
                )
                print(f"| {capability} | {cells} |")
        flips = " | ".join(
            f"{f['results']['Invariance suite'].get('flip_rate', float('nan')):.3f}"
            for f in files.values()
        )
        print(f"| flip rate | {flips} |")
        print(f"\n| max label ratio | {' | '.join(names)} |\n|---|" + "---:|" * len(names))
        for dataset in last["results"]:
            cells = " | ".join(
                f"{f['results'][dataset]['max_label_ratio']:.2f}"
                if dataset in f["results"] and "max_label_ratio" in f["results"][dataset]
                else "-"
                for f in files.values()
            )
            print(f"| {dataset} | {cells} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
