"""Score the behavioural suite (eval/behavioural/suite.jsonl): pass rate per capability.

    python eval/behavioural.py [--model DIR] [--out FILE.md]

A pair passes when the model's predicted label equals the suite's label. Prints the
pass rate per capability and overall as a Markdown table; ``--out`` also writes the
failures. The suite is held out: :func:`check_no_leak` refuses a training mix that
holds any of its pairs.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

SUITE = Path(__file__).resolve().parent / "behavioural" / "suite.jsonl"
SUITE_LABELS = ("support", "denial", "neutral")
COLUMNS = ("id", "capability", "claim", "response", "label")


def load_suite(path: str | Path = SUITE) -> pd.DataFrame:
    """The suite as a DataFrame (id, capability, claim, response, label, ...), file order.

    >>> len(load_suite())  # doctest: +SKIP
    354
    """
    from stance.errors import InputDataError

    path = Path(path)
    if not path.is_file():
        raise InputDataError(f"behavioural suite not found: {path}")
    frame = pd.read_json(path, lines=True, dtype=False)
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        raise InputDataError(f"{path} lacks the columns {missing}; expected {list(COLUMNS)}")
    return frame


def _pair_keys(claims: Sequence[Any], responses: Sequence[Any]) -> set[tuple[str, str]]:
    def norm(text: Any) -> str:
        return " ".join(str(text).lower().split())

    return {(norm(c), norm(r)) for c, r in zip(claims, responses, strict=True)}


def check_no_leak(train: pd.DataFrame, suite: pd.DataFrame, what: str = "the training mix") -> None:
    """Raise ConfigError when ``train`` holds any suite pair (case and spacing ignored).

    >>> check_no_leak(pd.DataFrame({"claim": ["a"], "response": ["b"]}), load_suite())
    """
    from stance.errors import ConfigError

    leaked = _pair_keys(train["claim"], train["response"]) & _pair_keys(
        suite["claim"], suite["response"]
    )
    if leaked:
        example = next(iter(sorted(leaked)))
        raise ConfigError(
            f"{what} holds {len(leaked)} pairs of the behavioural suite (e.g. {example}); the "
            "suite is held out of every training mix: remove it from the sources"
        )


def applies_to(labels: Sequence[str]) -> bool:
    """Whether a model with ``labels`` can be scored on the suite (it has all suite labels)."""
    return set(SUITE_LABELS) <= set(labels)


def score_suite(model: Any, suite: pd.DataFrame | None = None) -> dict[str, Any]:
    """Predict every suite pair with ``model`` (``labels`` + ``predict_proba``).

    Returns ``n``, ``passed``, ``pass_rate``, ``per_capability`` (same three keys per
    capability, in suite order) and ``failures`` (id, capability, claim, response,
    label, predicted, confidence).

    >>> score_suite(clf)["per_capability"]["short_denial"]["pass_rate"]  # doctest: +SKIP
    0.97
    """
    from stance.evaluation import predict_probabilities

    suite = load_suite() if suite is None else suite
    labels = tuple(model.labels)
    if not applies_to(labels):
        from stance.errors import ConfigError

        raise ConfigError(
            f"the behavioural suite is labelled {list(SUITE_LABELS)}; a model with labels "
            f"{list(labels)} cannot be scored on it"
        )
    probabilities, _ = predict_probabilities(
        model, suite["claim"].tolist(), suite["response"].tolist()
    )
    predicted = np.asarray(labels, dtype=object)[probabilities.argmax(axis=1)]
    passed = predicted == suite["label"].to_numpy(dtype=object)
    per_capability: dict[str, dict[str, Any]] = {}
    for capability in dict.fromkeys(suite["capability"]):
        mask = (suite["capability"] == capability).to_numpy()
        per_capability[str(capability)] = {
            "n": int(mask.sum()),
            "passed": int(passed[mask].sum()),
            "pass_rate": float(passed[mask].mean()),
        }
    failures = [
        {
            "id": str(suite["id"].iat[i]),
            "capability": str(suite["capability"].iat[i]),
            "claim": str(suite["claim"].iat[i]),
            "response": str(suite["response"].iat[i]),
            "label": str(suite["label"].iat[i]),
            "predicted": str(predicted[i]),
            "confidence": round(float(probabilities[i].max()), 4),
        }
        for i in np.flatnonzero(~passed)
    ]
    return {
        "n": len(suite),
        "passed": int(passed.sum()),
        "pass_rate": float(passed.mean()) if len(suite) else float("nan"),
        "per_capability": per_capability,
        "failures": failures,
    }


def _cell(text: str, limit: int = 100) -> str:
    text = " ".join(str(text).split())
    text = text if len(text) <= limit else text[: limit - 1] + "…"
    return text.replace("|", "\\|")


def pass_rate_table(results: Mapping[str, Mapping[str, Any] | None]) -> list[str]:
    """Markdown lines: one row per capability plus overall, one column per model."""
    names = list(results)
    scored = [r for r in results.values() if r]
    capabilities: dict[str, int] = {}
    for r in scored:
        for capability, row in r["per_capability"].items():
            capabilities.setdefault(capability, row["n"])
    lines = [
        "| capability | n | " + " | ".join(names) + " |",
        "|---|---:|" + "---:|" * len(names),
    ]

    def rate(result: Mapping[str, Any] | None, capability: str | None) -> str:
        if not result:
            return "n/a"
        row = result if capability is None else result["per_capability"].get(capability)
        return "n/a" if not row else f"{row['pass_rate']:.3f}"

    for capability, n in capabilities.items():
        lines.append(
            f"| {capability} | {n} | "
            + " | ".join(rate(results[m], capability) for m in names)
            + " |"
        )
    total = scored[0]["n"] if scored else 0
    lines.append(
        f"| **overall** | {total} | " + " | ".join(rate(results[m], None) for m in names) + " |"
    )
    return lines


def failures_markdown(results: Mapping[str, Mapping[str, Any] | None]) -> str:
    """Markdown listing every failed pair, one section per model."""
    lines = ["# Behavioural suite failures", ""]
    for name, result in results.items():
        lines += [f"## {name}", ""]
        if not result:
            lines += ["Not scored: the model's labels are not the suite's.", ""]
            continue
        lines += [
            f"{len(result['failures'])} of {result['n']} pairs fail.",
            "",
            "| id | label | predicted | confidence | claim | response |",
            "|---|---|---|---:|---|---|",
        ]
        for f in result["failures"]:
            lines.append(
                f"| {f['id']} | {f['label']} | {f['predicted']} | {f['confidence']:.3f} | "
                f"{_cell(f['claim'])} | {_cell(f['response'])} |"
            )
        lines.append("")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=None, help="model directory (default: shipped)")
    parser.add_argument("--suite", default=str(SUITE), help="suite file (default: %(default)s)")
    parser.add_argument("--out", default=None, help="write the tables and failures here (.md)")
    args = parser.parse_args(argv)
    from stance.errors import StanceError

    try:
        import transformers

        from stance import StanceClassifier

        transformers.utils.logging.set_verbosity_error()
        clf = StanceClassifier.load(args.model)
        result = score_suite(clf, load_suite(args.suite))
    except StanceError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    name = args.model or "default"
    table = "\n".join(pass_rate_table({name: result}))
    print(table)
    if args.out:
        Path(args.out).write_text(table + "\n\n" + failures_markdown({name: result}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
