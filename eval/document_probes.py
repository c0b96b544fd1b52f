"""Whole-document probes of a model: a claim, a document made of known sentences, the
label the model should give, and the model's known failures.

    python eval/document_probes.py                       # the shipped default model
    python eval/document_probes.py --model DIR --out eval/results/document_probes.md

Prints (and with ``--out`` writes) a Markdown table: each probe's expected label, the
label and probabilities the model gives, its strongest denial sentence, and a verdict.
A probe the model is known to fail (listed in its model card) carries the card's note:
the model's quality is measured here, the unit suite (``tests/``) checks the code. The
exit code is 1 when a result is unexpected: a probe fails that should pass, or a known
failure passes (then its note is out of date).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, NamedTuple

BRIDGE_CLAIM = "The Riverside bridge has been closed to traffic."
BRIDGE_BACKGROUND = [
    "The Riverside bridge was built in 1932 and crosses the Elm river.",
    "Local shops depend on visitors who come from the other side of the river.",
    "The bridge is made of steel and stone.",
    "Many residents cross the river by bridge every day.",
    "The bridge was last repainted in 2015.",
    "Tourists often photograph the bridge at sunset.",
    "The town has two other bridges further downstream.",
    "A local historian has written a book about the bridge.",
    "Cyclists use the bridge on their way to work.",
    "The council is responsible for maintaining the bridge.",
]
QUOTED_DENIAL = '"No, the Riverside bridge has not been closed to traffic," the mayor said.'


class Probe(NamedTuple):
    """A claim, a document, the label a good model gives, and, for a probe the model is
    known to fail, the note of its model card."""

    name: str
    claim: str
    document: str
    expected: str
    known_failure: str = ""


def bridge_document(with_denial: bool) -> str:
    """The 40 background sentences about the bridge, with the quoted denial as the 24th.

    >>> bridge_document(with_denial=True).count(QUOTED_DENIAL)
    1
    """
    sentences = BRIDGE_BACKGROUND * 4
    if with_denial:
        sentences.insert(23, QUOTED_DENIAL)
    return " ".join(sentences)


PROBES = (
    Probe(
        "one quoted denial among 40 background sentences",
        BRIDGE_CLAIM,
        bridge_document(with_denial=True),
        "denial",
    ),
    Probe(
        "the same 40 background sentences alone",
        BRIDGE_CLAIM,
        bridge_document(with_denial=False),
        "neutral",
        known_failure="default model v7 calls it denial (its model card: 0.44 against "
        "neutral 0.40, its strongest sentence 'The Riverside bridge was built in 1932 ...' "
        "at denial 0.68; v6 0.49 against 0.35 and 0.52), a known regression from v5; v2, "
        "v4 and v5 said neutral, v3 denial",
    ),
)


def verdict(expected: str, label: str, known_failure: str) -> str:
    """``pass``, ``known failure``, or what is unexpected.

    >>> verdict("neutral", "denial", known_failure="a regression"), verdict("a", "a", "")
    ('known failure', 'pass')
    >>> verdict("neutral", "neutral", known_failure="a regression")
    'UNEXPECTED PASS: its known-failure note is out of date'
    """
    if label == expected:
        return "UNEXPECTED PASS: its known-failure note is out of date" if known_failure else "pass"
    return "known failure" if known_failure else "FAIL"


def run(clf: Any, probes: tuple[Probe, ...] | None = None) -> list[dict[str, Any]]:
    """Each probe (default: :data:`PROBES`) with the model's label, probabilities,
    strongest denial sentence and verdict."""
    rows = []
    for probe in PROBES if probes is None else probes:
        result = clf.predict_document(probe.claim, probe.document)
        top = result.top("denial")
        rows.append(
            {
                "probe": probe,
                "label": result.label,
                "probabilities": result.probabilities,
                "top_denial": None if top is None else (top.text, top.score),
                "verdict": verdict(probe.expected, result.label, probe.known_failure),
            }
        )
    return rows


def markdown(rows: list[dict[str, Any]], model: str) -> str:
    """The table :func:`main` prints, with the notes of known failures under it."""
    lines = [
        f"Document probes of {model} (`python eval/document_probes.py`).",
        "",
        "| probe | expected | label | p(support, denial, neutral) | strongest denial "
        "sentence | verdict |",
        "|---|---|---|---|---|---|",
    ]
    for row in rows:
        probe, p = row["probe"], row["probabilities"]
        shown = ", ".join(f"{p[label]:.2f}" for label in ("support", "denial", "neutral"))
        text, score = row["top_denial"] or ("-", float("nan"))
        lines.append(
            f"| {probe.name} | {probe.expected} | {row['label']} | {shown} | "
            f"{text} ({score:.2f}) | {row['verdict']} |"
        )
    known = [
        f"- {r['probe'].name}: {r['probe'].known_failure}."
        for r in rows
        if r["probe"].known_failure
    ]
    return "\n".join([*lines, "", *(["Known failures:", "", *known, ""] if known else [])])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=None, help="model folder (default: the shipped one)")
    parser.add_argument("--precision", default="fp32", choices=("auto", "bf16", "fp32"))
    parser.add_argument("--out", type=Path, default=None, help="also write the table here")
    args = parser.parse_args(argv)
    from stance import StanceClassifier

    clf = StanceClassifier.load(args.model, precision=args.precision)
    rows = run(clf)
    table = markdown(rows, f"{args.model or 'the shipped default model'} ({args.precision})")
    print(table)
    if args.out is not None:
        args.out.write_text(table)
    unexpected = [row for row in rows if row["verdict"] not in ("pass", "known failure")]
    return 1 if unexpected else 0


if __name__ == "__main__":
    sys.exit(main())
