"""Invariance and counterfactual checks: does the model read the response?

    python eval/invariance.py [--model DIR] [--out FILE.md]

Builds, from hand-written held-out files, pairs whose label a model can only get right by
reading the response (or by reading the claim and the response together):

- ``offtopic``: every claim of the behavioural suite and of ``counterfactual.jsonl``
  against three responses written for other topics (no shared content word): neutral,
  whatever the claim's own wording suggests;
- ``cf_paraphrase``: a claim and its paraphrase: support;
- ``cf_negation``: a claim and its negation: denial;
- ``cf_number_change``: a claim and the same sentence with a number changed: denial;
- ``cf_negated_claim``: the negation as the claim, the paraphrase as the response: denial
  (the response of ``cf_paraphrase`` stays, the claim flips, so the label must flip);
- ``issue_probe``: the probes of issue 18 and the README examples (``probes.jsonl``).

The result has the behavioural suite's columns, so :func:`behavioural.score_suite`
scores it. ``counterfactual.jsonl`` and ``probes.jsonl`` are held out like the suite:
:func:`behavioural.check_no_leak` applies to them too.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import behavioural
import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent / "behavioural"
COUNTERFACTUAL = HERE / "counterfactual.jsonl"
PROBES = HERE / "probes.jsonl"
OFFTOPIC_PER_CLAIM = 3


def counterfactual_pairs(items: pd.DataFrame) -> pd.DataFrame:
    """Suite-shaped rows from the counterfactual items (claim, paraphrase, negation,
    number_change)."""
    rows = []
    for item in items.itertuples():
        kinds = [
            ("cf_paraphrase", item.claim, item.paraphrase, "support"),
            ("cf_negation", item.claim, item.negation, "denial"),
            ("cf_negated_claim", item.negation, item.paraphrase, "denial"),
        ]
        if isinstance(item.number_change, str) and item.number_change:
            kinds.append(("cf_number_change", item.claim, item.number_change, "denial"))
        rows += [
            {"id": f"{item.id}-{kind}", "capability": kind, "claim": c, "response": r, "label": y}
            for kind, c, r, y in kinds
        ]
    return pd.DataFrame(rows)


def offtopic_pairs(
    claims: Sequence[str], items: pd.DataFrame, per_claim: int = OFFTOPIC_PER_CLAIM, seed: int = 0
) -> pd.DataFrame:
    """Each claim against ``per_claim`` counterfactual sentences of other topics that share
    no content word with it, labelled neutral."""
    from stance.documents import content_words

    responses = [
        (topic, text)
        for item in items.itertuples()
        for topic, text in [(item.topic, item.paraphrase), (item.topic, item.negation)]
    ]
    topic_of = dict(zip(items["claim"], items["topic"], strict=True))
    rng = np.random.default_rng(seed)
    rows = []
    for i, claim in enumerate(dict.fromkeys(claims)):
        words = content_words(claim)
        picked = 0
        for j in rng.permutation(len(responses)):
            topic, text = responses[j]
            if topic == topic_of.get(claim) or words & content_words(text):
                continue
            rows.append(
                {
                    "id": f"offtopic-{i:03d}-{picked}",
                    "capability": "offtopic",
                    "claim": claim,
                    "response": text,
                    "label": "neutral",
                }
            )
            picked += 1
            if picked == per_claim:
                break
    return pd.DataFrame(rows)


def load_invariance_suite(
    counterfactual: str | Path = COUNTERFACTUAL,
    probes: str | Path = PROBES,
    suite: str | Path = behavioural.SUITE,
) -> pd.DataFrame:
    """All invariance rows (offtopic, counterfactual kinds, issue probes), suite columns.

    >>> frame = load_invariance_suite()  # doctest: +SKIP
    >>> sorted(frame["capability"].unique())[:3]  # doctest: +SKIP
    ['cf_negated_claim', 'cf_negation', 'cf_number_change']
    """
    items = pd.read_json(counterfactual, lines=True, dtype=False)
    claims = [*behavioural.load_suite(suite)["claim"], *items["claim"]]
    frames = [offtopic_pairs(claims, items), counterfactual_pairs(items)]
    frames.append(pd.read_json(probes, lines=True, dtype=False))
    return pd.concat(frames, ignore_index=True)[list(behavioural.COLUMNS)]


def flip_rate(failed_ids: set[str], frame: pd.DataFrame) -> float:
    """Share of counterfactual items where both the paraphrase (support) and the flipped
    claim (denial) are right: the label moved with the claim, the response unchanged."""
    ids = frame.loc[frame["capability"] == "cf_paraphrase", "id"].str.removesuffix("-cf_paraphrase")
    moved = [
        f"{i}-cf_paraphrase" not in failed_ids and f"{i}-cf_negated_claim" not in failed_ids
        for i in ids
    ]
    return float(np.mean(moved)) if moved else float("nan")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=None, help="model directory (default: shipped)")
    parser.add_argument("--out", default=None, help="write the table and failures here (.md)")
    args = parser.parse_args(argv)
    import transformers

    from stance import StanceClassifier

    transformers.utils.logging.set_verbosity_error()
    frame = load_invariance_suite()
    result = behavioural.score_suite(StanceClassifier.load(args.model), frame)
    name = args.model or "default"
    table = "\n".join(behavioural.pass_rate_table({name: result}))
    table += "\n\nlabel flips with the claim (paraphrase support, negated claim denial): "
    table += f"{flip_rate({f['id'] for f in result['failures']}, frame):.3f}"
    print(table)
    if args.out:
        Path(args.out).write_text(table + "\n\n" + behavioural.failures_markdown({name: result}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
