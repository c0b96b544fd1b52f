"""The default model's evaluation table (issue targets), in fp32 and, where the CPU has it, bf16.

    python eval/default_model_table.py [--model DIR] [--data ../shared/data] [--out FILE.json]
        [--precisions fp32,bf16] [--claim-only-config configs/default_model_stage4_debias.yaml]

Scores the shared evaluation splits, the behavioural suite and the invariance suite
(``eval/invariance.py``) with the model in each precision, prints a Markdown table
(metric per dataset, macro-F1 over the labels present in the gold data, and the largest
ratio of how often a label is predicted to how often it is gold) and the bf16/fp32 label
agreement, and writes the numbers as JSON, with which pairs the model got right
(``correct``, one character per pair in the data's order, for the headline precision) so
that ``eval/compare_tables.py --paired`` can test a difference between two models pair by
pair.

Reading the response: a claim-only model (:class:`stance.debias.ClaimOnlyModel`, fitted
on the claims of the ``--claim-only-config`` training mix) predicts every dataset from the
claim alone; the table reports its accuracy, how often the model agrees with it, and
what share of the model's errors are the claim-only model's label ("shortcut errors").
MNLI-mismatched is scored on the pairs that are not also in TaxiNLI (every default
model up to v5 trained on TaxiNLI, which holds 40% of MNLI-mismatched).
By default bf16 runs only on a CPU with AVX-512 BF16 or AMX (elsewhere it is emulated and
slow); the "met" column reads the precision ``precision="auto"`` picks. Datasets whose
files are absent are skipped with a note.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import invariance
import numpy as np
import pandas as pd
from machine import cpu_name

from stance import metrics

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
    ("MNLI-mismatched (not in TaxiNLI)", "mnli_dev/pairs.jsonl", "test", "accuracy", 0.75),
    ("SciTail test", "scitail/pairs.jsonl", "test", "macro_f1", None),
    ("FEVER-NLI dev", "fever_nli/pairs.jsonl", "dev", "accuracy", None),
    ("CAD-NLI test", "cad_nli/pairs.jsonl", "test", "accuracy", None),
    ("XNLI-en test", "xnli_en/pairs.jsonl", "test", "accuracy", None),
]
SUITE = REPO / "eval" / "behavioural" / "suite.jsonl"
OFFTOPIC_TARGET = 0.98


def label_ratio(gold: list[str], predicted: list[str]) -> float:
    """The largest (times predicted / times gold) over the labels; inf when a label that is
    never gold is predicted.

    >>> label_ratio(["a", "a", "b", "b"], ["a", "a", "a", "b"])
    1.5
    """
    gold_counts = pd.Series(gold).value_counts()
    predicted_counts = pd.Series(predicted).value_counts()
    ratios = [
        n / gold_counts[label] if label in gold_counts else float("inf")
        for label, n in predicted_counts.items()
    ]
    return float(max(ratios))


def mnli_mismatched_clean(frame: pd.DataFrame, data: Path) -> pd.DataFrame:
    """MNLI-mismatched without the pairs TaxiNLI also holds (case and spacing ignored)."""

    def keys(f: pd.DataFrame) -> pd.Series:
        return (f["claim"] + "\t" + f["response"]).str.lower().str.split().str.join(" ")

    taxinli = pd.read_json(data / "taxinli" / "pairs.jsonl", lines=True)
    return frame[~keys(frame).isin(set(keys(taxinli)))]


def claim_only_model(config: str):
    """The claim-only model fitted on the claims of a training config's mix, or None (with a
    note) when the mix cannot be read here."""
    from stance.debias import ClaimOnlyModel
    from stance.errors import StanceError
    from stance.training import prepare_data
    from stance.training_config import TrainConfig

    try:
        mix = prepare_data(TrainConfig.from_yaml(config)).train
    except StanceError as exc:
        print(f"skipped the claim-only model: {exc}", file=sys.stderr)
        return None
    return ClaimOnlyModel(("support", "denial", "neutral")).fit(mix["claim"], mix["label"])


def score(gold: list[str], predicted: list[str], metric: str) -> float:
    """Accuracy, or macro-F1 over the labels present in ``gold``."""
    gold_array, predicted_array = np.asarray(gold), np.asarray(predicted)
    if metric == "accuracy":
        return metrics.accuracy(gold_array, predicted_array)
    return metrics.macro_f1(gold_array, predicted_array)


def pairs_digest(frame: pd.DataFrame) -> str:
    """A SHA-1 of the scored pairs and gold labels in order: two result files whose
    ``correct`` strings share it were scored on the same pairs, pair by pair.

    >>> one = pd.DataFrame({"claim": ["a"], "response": ["b"], "label": ["support"]})
    >>> pairs_digest(one) == hashlib.sha1(b"a\\tb\\tsupport").hexdigest()
    True
    """
    text = "\n".join(frame["claim"] + "\t" + frame["response"] + "\t" + frame["label"])
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


def cpu_description() -> str:
    """The CPU's model name and whether it has native bf16, for the result file."""
    from stance.inference import cpu_supports_bf16

    bf16 = "native bf16" if cpu_supports_bf16() else "no native bf16"
    return f"{cpu_name()} ({bf16})"


@dataclass
class TableScore:
    """One dataset scored: its ``result`` for the JSON file, its Markdown ``row``, and,
    with both precisions, its bf16/fp32 label ``agreement`` ``(n, share)`` and each pair's
    largest probability ``gap``."""

    result: dict[str, Any]
    row: str
    agreement: tuple[int, float] | None = None
    gap: np.ndarray | None = None


def parse_args(argv: list[str] | None) -> tuple[argparse.Namespace, list[str]]:
    """The options and the precisions to run (fp32 and the one ``auto`` picks by default)."""
    from stance.inference import cpu_supports_bf16

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=None, help="model directory (default: shipped)")
    parser.add_argument(
        "--model-label-map",
        default=None,
        help="the model's label names -> stance labels, e.g. entailment=support,"
        "contradiction=denial,neutral=neutral (default: NLI names are recognised)",
    )
    parser.add_argument(
        "--pair-order",
        choices=("claim_first", "response_first"),
        default=None,
        help="which text goes first (default: the model's own; NLI models: response_first)",
    )
    parser.add_argument("--data", default=str(REPO.parent / "shared" / "data"))
    parser.add_argument("--out", default=None)
    parser.add_argument("--precisions", default=None, help="comma-separated: fp32, bf16")
    parser.add_argument(
        "--claim-only-config",
        default=str(REPO / "configs" / "default_model_stage4_debias.yaml"),
        help="training config whose mix the claim-only model is fitted on",
    )
    args = parser.parse_args(argv)
    auto = "bf16" if cpu_supports_bf16() else "fp32"
    precisions = args.precisions.split(",") if args.precisions else sorted({"fp32", auto})
    unknown = set(precisions) - {"fp32", "bf16"}
    if unknown:
        parser.error(f"--precisions takes fp32 and bf16, got {sorted(unknown)}")
    return args, precisions


def load_tables(data: Path) -> list[tuple[str, pd.DataFrame, str, float | None]]:
    """``(name, pairs, metric, target)`` of every dataset found under ``data`` (the others
    skipped with a note), then the behavioural and the invariance suites."""
    tables = []
    for name, file, split, metric, target in DATASETS:
        path = data / file
        if not path.is_file():
            print(f"skipped {name}: {path} not found", file=sys.stderr)
            continue
        frame = pd.read_json(path, lines=True)
        frame = frame[frame["split"] == split]
        if name.startswith("MNLI-mismatched"):
            frame = mnli_mismatched_clean(frame, data)
        tables.append((name, frame, metric, target))
    tables.append(("Behavioural suite", pd.read_json(SUITE, lines=True), "accuracy", 0.90))
    tables.append(("Invariance suite", invariance.load_invariance_suite(), "accuracy", None))
    return tables


def score_table(
    table: tuple[str, pd.DataFrame, str, float | None],
    models: dict[str, Any],
    headline: str,
    claim_only: Any,
) -> TableScore:
    """Score one dataset with the model in each precision (the ``headline`` one decides
    what the table reports), against the claim-only model when there is one."""
    name, frame, metric, target = table
    gold = frame["label"].tolist()
    values, predictions, probabilities = {}, {}, {}
    for precision, clf in models.items():
        started = time.perf_counter()
        probabilities[precision] = clf.predict_proba(frame[["claim", "response"]])
        seconds = time.perf_counter() - started
        predictions[precision] = [clf.labels[j] for j in probabilities[precision].argmax(1)]
        values[precision] = score(gold, predictions[precision], metric)
        values[f"{precision}_pairs_per_s"] = len(frame) / seconds
    ratio = label_ratio(gold, predictions[headline])
    result = {
        "n": len(frame),
        "metric": metric,
        "target": target,
        "max_label_ratio": ratio,
        "predicted_counts": pd.Series(predictions[headline]).value_counts().to_dict(),
        "gold_counts": pd.Series(gold).value_counts().to_dict(),
        **values,
    }
    if claim_only is not None:
        result["claim_only"] = shortcut_scores(claim_only, frame, predictions[headline])
    scored = TableScore(result, "")
    same_cell = ""
    if len(predictions) == 2:
        same = float(np.mean(np.array(predictions["bf16"]) == np.array(predictions["fp32"])))
        scored.agreement = (len(frame), same)
        result["label_agreement"] = same
        scored.gap = np.abs(probabilities["bf16"] - probabilities["fp32"]).max(axis=1)
        same_cell = f" {same:.4f} |"
    met = "-" if target is None else "yes" if values[headline] >= target else "no"
    cells = " | ".join(f"{values[p]:.3f}" for p in models)
    target_cell = "-" if target is None else f"{target:.2f}"
    scored.row = (
        f"| {name} | {len(frame):,} | {metric} | {cells} | {target_cell} | {met} | "
        f"{ratio:.2f} |{same_cell}"
    )
    passed = np.array(predictions[headline]) == frame["label"].to_numpy()
    result["correct"] = "".join("1" if x else "0" for x in passed)
    result["pairs_sha1"] = pairs_digest(frame)
    if name in ("Behavioural suite", "Invariance suite"):
        frame = frame.assign(passed=passed)
        per_capability = frame.groupby("capability")["passed"].mean().sort_values()
        result["per_capability"] = per_capability.round(4).to_dict()
    if name == "Invariance suite":
        result["flip_rate"] = invariance.flip_rate(set(frame.loc[~passed, "id"]), frame)
    return scored


def shortcut_scores(claim_only: Any, frame: pd.DataFrame, predicted: list[str]) -> dict:
    """The claim-only model's accuracy, how often the model agrees with it, and the share
    of the model's errors that are the claim-only model's label."""
    shortcut = np.array(claim_only.predict(frame["claim"].tolist()), dtype=object)
    gold = np.array(frame["label"].tolist(), dtype=object)
    mine = np.array(predicted, dtype=object)
    wrong = mine != gold
    return {
        "accuracy": float(np.mean(shortcut == gold)),
        "agreement": float(np.mean(shortcut == mine)),
        "shortcut_error_share": float(np.mean(shortcut[wrong] == mine[wrong]))
        if wrong.any()
        else 0.0,
    }


def print_table(precisions: list[str], rows: list[str]) -> None:
    """The Markdown table of every dataset."""
    both = len(precisions) == 2
    print(
        f"| dataset | n | metric | {' | '.join(precisions)} | target | met | max label ratio |"
        + (" bf16 = fp32 labels |" if both else "")
    )
    print(
        "|---|---:|---|" + "---:|" * len(precisions) + "---:|---|---:|" + ("---:|" if both else "")
    )
    print("\n".join(rows))


def print_precision_agreement(scores: list[TableScore]) -> tuple[float, dict[str, Any]]:
    """Print and return how often bf16 and fp32 agree, and their probability gaps."""
    agreement = [s.agreement for s in scores if s.agreement is not None]
    total = sum(n for n, _ in agreement)
    overall = sum(n * a for n, a in agreement) / total
    print(f"\nbf16 vs fp32: {overall:.4%} of {total:,} labels identical")
    gap = np.concatenate([s.gap for s in scores if s.gap is not None])
    probability_gap = {
        "pairs": int(gap.size),
        "max": float(gap.max()),
        "p99": float(np.quantile(gap, 0.99)),
        "median": float(np.median(gap)),
    }
    print(
        f"largest probability gap per pair: max {gap.max():.4f}, 99th percentile "
        f"{probability_gap['p99']:.4f}, median {probability_gap['median']:.4f}"
    )
    return overall, probability_gap


def print_suites(results: dict[str, dict[str, Any]], headline: str) -> None:
    """Pass rates per capability of both suites, off-topic and label-flip rates."""
    for suite_name in ("Behavioural suite", "Invariance suite"):
        print(f"\n| {suite_name.lower()} capability | pass rate ({headline}) |\n|---|---:|")
        for capability, rate in results[suite_name]["per_capability"].items():
            print(f"| {capability} | {rate:.3f} |")
    flips = results["Invariance suite"]["flip_rate"]
    offtopic = results["Invariance suite"]["per_capability"].get("offtopic", float("nan"))
    print(
        f"\noff-topic responses neutral: {offtopic:.3f} (target {OFFTOPIC_TARGET}); label "
        f"flips with the claim (paraphrase support and negated claim denial): {flips:.3f}"
    )


def print_shortcuts(results: dict[str, dict[str, Any]]) -> None:
    """The claim-only table, when the claim-only model could be fitted."""
    shortcut_rows = [(name, r["claim_only"]) for name, r in results.items() if "claim_only" in r]
    if not shortcut_rows:
        return
    print(
        "\n| dataset | claim-only accuracy | agreement with claim-only | "
        "shortcut share of errors |\n|---|---:|---:|---:|"
    )
    for name, row in shortcut_rows:
        print(
            f"| {name} | {row['accuracy']:.3f} | {row['agreement']:.3f} | "
            f"{row['shortcut_error_share']:.3f} |"
        )


def load_models(args: argparse.Namespace, precisions: list[str]) -> dict[str, Any]:
    """``--model`` loaded once per precision, its labels read as ``--model-label-map`` and
    ``--pair-order`` say (an NLI model's are recognised without them)."""
    from stance import StanceClassifier
    from stance.label_mapping import parse_label_map

    reading = {
        "label_map": parse_label_map(args.model_label_map) or None,
        "pair_order": args.pair_order,
    }
    return {p: StanceClassifier.load(args.model, precision=p, **reading) for p in precisions}


def main(argv: list[str] | None = None) -> int:
    args, precisions = parse_args(argv)
    import transformers

    from stance.inference import cpu_supports_bf16

    transformers.utils.logging.set_verbosity_error()
    auto = "bf16" if cpu_supports_bf16() else "fp32"
    headline = auto if auto in precisions else precisions[0]
    models = load_models(args, precisions)
    tables = load_tables(Path(args.data))
    claim_only = claim_only_model(args.claim_only_config)
    scores = [score_table(table, models, headline, claim_only) for table in tables]
    results = {table[0]: scored.result for table, scored in zip(tables, scores, strict=True)}
    print_table(precisions, [scored.row for scored in scores])
    both = len(precisions) == 2
    overall, probability_gap = print_precision_agreement(scores) if both else (None, None)
    print_suites(results, headline)
    print_shortcuts(results)
    if args.out:
        Path(args.out).write_text(
            json.dumps(
                {
                    "results": results,
                    "agreement": overall,
                    "bf16_probability_gap": probability_gap,
                    "precisions": precisions,
                    "cpu": cpu_description(),
                    "date": time.strftime("%Y-%m-%d"),
                },
                indent=2,
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
