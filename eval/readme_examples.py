"""Score the README's example pairs with the shipped model and write the result into the README.

    python eval/readme_examples.py [--model DIR] [--check]
    python eval/readme_examples.py --model large [--check]   # the large model's block
    python eval/readme_examples.py --model DIR --out FILE     # a candidate: FILE only

Scores ``examples/pairs.csv`` (the pairs README command 1 scores) in fp32, writes
``eval/results/readme_examples.md`` and replaces the table between the
``<!-- readme-examples:start -->`` and ``<!-- readme-examples:end -->`` markers in
``README.md`` (for ``--model large``: ``eval/results/readme_examples_large.md`` and the
``readme-examples-large`` block), so the README shows what the model really says.
``--check`` only reports
whether the README's table is current (exit 1 when it is not).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd
from readme_tables import replace_block

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples" / "pairs.csv"
RESULT = REPO / "eval" / "results" / "readme_examples.md"
LARGE_RESULT = REPO / "eval" / "results" / "readme_examples_large.md"
BLOCK = "readme-examples"  # the README markers: <!-- readme-examples:start/end -->


def examples_table(frame: pd.DataFrame, labels: tuple[str, ...]) -> str:
    """A Markdown table of scored example rows (label and one probability per label)."""
    head = "| id | claim | response | label | " + " | ".join(f"p_{x}" for x in labels) + " |"
    lines = [head, "|---|---|---|---|" + "---:|" * len(labels)]
    for row in frame.itertuples(index=False):
        cells = [str(row.id), row.claim, row.response, row.label]
        cells += [f"{getattr(row, f'p_{x}'):.2f}" for x in labels]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=None, help="model directory (default: shipped)")
    parser.add_argument("--check", action="store_true", help="only check the README")
    parser.add_argument(
        "--out",
        default=None,
        help="write the scored examples to this file and leave the README alone (for a "
        "candidate model that is not shipped)",
    )
    args = parser.parse_args(argv)
    import transformers

    from stance import StanceClassifier

    transformers.utils.logging.set_verbosity_error()
    clf = StanceClassifier.load(args.model, precision="fp32")
    frame = pd.read_csv(EXAMPLES, dtype=str)
    proba = clf.predict_proba(frame[["claim", "response"]])
    frame["label"] = [clf.labels[i] for i in proba.argmax(axis=1)]
    for j, label in enumerate(clf.labels):
        frame[f"p_{label}"] = proba[:, j]
    table = examples_table(frame, clf.labels)
    if args.out:
        command = f"python eval/readme_examples.py --model {args.model} --out {args.out}"
        Path(args.out).write_text(f"# README examples\n\n`{command}` (fp32):\n\n{table}\n")
        print(table)
        return 0
    readme = REPO / "README.md"
    large = args.model == "large"
    block, result = (f"{BLOCK}-large", LARGE_RESULT) if large else (BLOCK, RESULT)
    updated = replace_block(readme.read_text(), block, table)
    if args.check:
        current = updated == readme.read_text()
        print("README examples are current" if current else "README examples are stale")
        return 0 if current else 1
    command = "python eval/readme_examples.py" + (" --model large" if large else "")
    result.write_text(
        f"# README examples\n\n`{command}` (fp32, "
        f"{args.model or 'the shipped default model'}):\n\n{table}\n"
    )
    readme.write_text(updated)
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
