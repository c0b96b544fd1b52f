"""The default model's evaluation table (issue targets), in bf16 and fp32.

    python eval/default_model_table.py [--model DIR] [--data ../shared/data] [--out FILE.json]

Scores the shared evaluation splits and the behavioural suite with the model in both
precisions, prints a Markdown table (metric per dataset, macro-F1 over the labels present
in the gold data) and the bf16/fp32 label agreement, and writes the numbers as JSON.
Datasets whose files are absent are skipped with a note.
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
    args = parser.parse_args()
    import transformers

    from stance import StanceClassifier

    transformers.utils.logging.set_verbosity_error()
    models = {p: StanceClassifier.load(args.model, precision=p) for p in ("bf16", "fp32")}
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
        same = float(np.mean(np.array(predictions["bf16"]) == np.array(predictions["fp32"])))
        agreement.append((len(frame), same))
        met = "yes" if target is not None and values["bf16"] >= target else "no"
        rows.append(
            f"| {name} | {len(frame):,} | {metric} | {values['bf16']:.3f} | {values['fp32']:.3f} "
            f"| {target:.2f} | {met} | {same:.4f} |"
        )
        results[name] = {"n": len(frame), "metric": metric, "target": target, **values,
                         "label_agreement": same}  # fmt: skip
        if name == "Behavioural suite":
            frame = frame.assign(passed=np.array(predictions["bf16"]) == frame["label"].to_numpy())
            per_capability = frame.groupby("capability")["passed"].mean().sort_values()
            results[name]["per_capability"] = per_capability.round(4).to_dict()
    print("| dataset | n | metric | bf16 | fp32 | target | met | bf16 = fp32 labels |")
    print("|---|---:|---|---:|---:|---:|---|---:|")
    print("\n".join(rows))
    total = sum(n for n, _ in agreement)
    overall = sum(n * a for n, a in agreement) / total
    print(f"\nbf16 vs fp32: {overall:.4%} of {total:,} labels identical")
    suite_result = results["Behavioural suite"]["per_capability"]
    print("\n| behavioural capability | pass rate (bf16) |\n|---|---:|")
    for capability, rate in suite_result.items():
        print(f"| {capability} | {rate:.2f} |")
    if args.out:
        Path(args.out).write_text(json.dumps({"results": results, "agreement": overall}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
