"""The default model's evaluation table (issue targets), in fp32 and, where the CPU has it, bf16.

    python eval/default_model_table.py [--model DIR] [--data ../shared/data] [--out FILE.json]
        [--precisions fp32,bf16]

Scores the shared evaluation splits and the behavioural suite with the model in each
precision, prints a Markdown table (metric per dataset, macro-F1 over the labels present
in the gold data) and the bf16/fp32 label agreement, and writes the numbers as JSON.
By default bf16 runs only on a CPU with AVX-512 BF16 or AMX (elsewhere it is emulated and
slow); the "met" column reads the precision ``precision="auto"`` picks. Datasets whose
files are absent are skipped with a note.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import accuracy_score, f1_score

REPO = Path(__file__).resolve().parent.parent

# (name, file under data dir, split, metric, target from the default-model issue)
DATASETS = [
    ("SNLI test", "snli_esnli/pairs.jsonl", "test", "accuracy", 0.85),
    ("SICK test", "sick/pairs.jsonl", "test", "accuracy", 0.87),
    ("Perspectrum test", "perspectrum/pairs.jsonl", "test", "accuracy", 0.78),
    ("IBM claim stance test", "ibm_claim_stance/pairs.jsonl", "test", "accuracy", 0.72),
    ("RumourEval-2019 dev", "rumoureval2019/pairs.jsonl", "dev", "macro_f1", 0.55),
    ("ARC test", "arc/pairs.jsonl", "test", "macro_f1", 0.65),
    ("Friends-QIA test", "friends_qia/pairs.jsonl", "test", "macro_f1", 0.70),
    ("Circa test", "circa/pairs.jsonl", "test", "macro_f1", 0.70),
]
SUITE = REPO / "eval" / "behavioural" / "suite.jsonl"


def score(gold: list[str], predicted: list[str], metric: str) -> float:
    """Accuracy, or macro-F1 over the labels present in ``gold``."""
    if metric == "accuracy":
        return float(accuracy_score(gold, predicted))
    return float(f1_score(gold, predicted, labels=sorted(set(gold)), average="macro"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=None, help="model directory (default: shipped)")
    parser.add_argument("--data", default=str(REPO.parent / "shared" / "data"))
    parser.add_argument("--out", default=None)
    parser.add_argument("--precisions", default=None, help="comma-separated: fp32, bf16")
    args = parser.parse_args()
    import transformers

    from stance import StanceClassifier
    from stance.inference import cpu_supports_bf16

    transformers.utils.logging.set_verbosity_error()
    auto = "bf16" if cpu_supports_bf16() else "fp32"
    precisions = args.precisions.split(",") if args.precisions else sorted({"fp32", auto})
    unknown = set(precisions) - {"fp32", "bf16"}
    if unknown:
        parser.error(f"--precisions takes fp32 and bf16, got {sorted(unknown)}")
    headline = auto if auto in precisions else precisions[0]
    models = {p: StanceClassifier.load(args.model, precision=p) for p in precisions}
    rows, agreement, results = [], [], {}
    tables: list[tuple[str, pd.DataFrame, str, float | None]] = []
    for name, file, split, metric, target in DATASETS:
        path = Path(args.data) / file
        if not path.is_file():
            print(f"skipped {name}: {path} not found", file=sys.stderr)
            continue
        frame = pd.read_json(path, lines=True)
        tables.append((name, frame[frame["split"] == split], metric, target))
    suite = pd.read_json(SUITE, lines=True)
    tables.append(("Behavioural suite", suite, "accuracy", 0.90))
    for name, frame, metric, target in tables:
        pairs = frame[["claim", "response"]]
        values = {}
        predictions = {}
        for precision, clf in models.items():
            started = time.perf_counter()
            predictions[precision] = clf.predict(pairs)
            seconds = time.perf_counter() - started
            values[precision] = score(frame["label"].tolist(), predictions[precision], metric)
            values[f"{precision}_pairs_per_s"] = len(frame) / seconds
        met = "yes" if target is not None and values[headline] >= target else "no"
        cells = " | ".join(f"{values[p]:.3f}" for p in precisions)
        results[name] = {"n": len(frame), "metric": metric, "target": target, **values}
        same_cell = ""
        if len(predictions) == 2:
            same = float(np.mean(np.array(predictions["bf16"]) == np.array(predictions["fp32"])))
            agreement.append((len(frame), same))
            results[name]["label_agreement"] = same
            same_cell = f" {same:.4f} |"
        rows.append(
            f"| {name} | {len(frame):,} | {metric} | {cells} | {target:.2f} | {met} |{same_cell}"
        )
        if name == "Behavioural suite":
            passed = np.array(predictions[headline]) == frame["label"].to_numpy()
            frame = frame.assign(passed=passed)
            per_capability = frame.groupby("capability")["passed"].mean().sort_values()
            results[name]["per_capability"] = per_capability.round(4).to_dict()
    both = len(precisions) == 2
    print(
        f"| dataset | n | metric | {' | '.join(precisions)} | target | met |"
        + (" bf16 = fp32 labels |" if both else "")
    )
    print("|---|---:|---|" + "---:|" * len(precisions) + "---:|---|" + ("---:|" if both else ""))
    print("\n".join(rows))
    overall = None
    if both:
        total = sum(n for n, _ in agreement)
        overall = sum(n * a for n, a in agreement) / total
        print(f"\nbf16 vs fp32: {overall:.4%} of {total:,} labels identical")
    suite_result = results["Behavioural suite"]["per_capability"]
    print(f"\n| behavioural capability | pass rate ({headline}) |\n|---|---:|")
    for capability, rate in suite_result.items():
        print(f"| {capability} | {rate:.2f} |")
    if args.out:
        Path(args.out).write_text(
            json.dumps(
                {"results": results, "agreement": overall, "precisions": precisions}, indent=2
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
