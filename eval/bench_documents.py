"""Whole-document stance on FNC-1 dev: document mode vs plain truncated pair scoring.

    python eval/bench_documents.py                  # 100 documents per label, 20 for speed
    python eval/bench_documents.py --per-label 150 --speed-docs 40

Quality: a seeded sample of FNC-1 dev (headline vs whole article body), balanced over
the three labels (support = agree, denial = disagree, neutral = discuss + unrelated),
scored by the default model (a) as plain pairs (the body cut to ``max_length``) and
(b) in document mode with each aggregation. Every sentence and window is scored once;
the aggregations are applied to the same unit scores. Speed: documents/s on bodies cut
to exactly 500 words, against scoring the same documents' sentences as plain pairs.
Writes ``eval/results/documents.md`` (and prints it).
"""

from __future__ import annotations

import argparse
import datetime as dt
import pickle
import re
import time
from pathlib import Path

import numpy as np
import pandas as pd

from stance import StanceClassifier, metrics
from stance.documents import AGGREGATIONS as PRESETS
from stance.documents import (
    DEFAULT_AGGREGATION,
    WINDOW_OVERLAP,
    Aggregation,
    aggregate,
    classifier_proba,
    plan_document,
    score_plans,
    split_sentences,
)

REPO = Path(__file__).resolve().parent.parent
DATA = REPO.parent / "shared" / "data" / "fnc1" / "pairs.jsonl.gz"
LABELS = ("support", "denial", "neutral")


def describe(agg: Aggregation) -> str:
    """The bench's name for an aggregation.

    >>> describe(Aggregation("max", "all", 0.5, 0.8, sentence_gate=0.2))
    'max all, windows t=0.5, sentences t=0.8, gate 0.2'
    """
    if agg.method == "mean":
        return f"mean {agg.units}"
    gate = f", gate {agg.sentence_gate}" if agg.sentence_gate is not None else ""
    if agg.claim_overlap is not None:
        gate += f", claim overlap {agg.claim_overlap}"
    if agg.open_quotes:
        gate += ", quotes"
    if agg.sentence_threshold is None:
        return f"max {agg.units} t={agg.threshold}{gate}"
    return f"max {agg.units}, windows t={agg.threshold}, sentences t={agg.sentence_threshold}{gate}"


AGGREGATIONS = {
    describe(agg): agg
    for agg in [
        *(Aggregation("max", "all", t) for t in (0.5, 0.7, 0.8, 0.9)),
        *(Aggregation("max", "sentences", t) for t in (0.5, 0.7, 0.8, 0.9, 0.95)),
        *(Aggregation("max", "windows", t) for t in (0.5, 0.6, 0.7, 0.8)),
        *(Aggregation("max", "all", tw, ts) for tw in (0.5, 0.6, 0.7) for ts in (0.8, 0.9, 0.95)),
        *(
            Aggregation("max", "all", 0.5, ts, sentence_gate=g)
            for ts in (None, 0.6, 0.8)
            for g in (0.1, 0.2, 0.3, 0.4)
        ),
        *(
            Aggregation("max", "all", 0.5, sentence_gate=g, claim_overlap=o, open_quotes=q)
            for g in (0.1, 0.2, 0.3, 0.4)
            for o, q in ((0.5, False), (None, True), (0.5, True))
        ),
        *(
            Aggregation("max", "all", 0.5, ts, sentence_gate=g, claim_overlap=0.5, open_quotes=True)
            for ts in (0.6, 0.8, 0.9)
            for g in (0.1, 0.2, 0.3)
        ),
        *(Aggregation("mean", units) for units in ("all", "sentences", "windows")),
    ]
}


def scores(gold: list[str], pred: list[str]) -> tuple[float, float]:
    """Macro-F1 over the three labels and accuracy.

    >>> scores(["support", "denial", "neutral"], ["support", "denial", "denial"])
    (0.5555555555555555, 0.6666666666666666)
    """
    gold_array, pred_array = np.asarray(gold), np.asarray(pred)
    return metrics.macro_f1(gold_array, pred_array, labels=LABELS), metrics.accuracy(
        gold_array, pred_array
    )


def sample(per_label: int, seed: int) -> pd.DataFrame:
    frame = pd.read_json(DATA, lines=True)
    frame = frame[frame["split"] == "dev"]
    parts = [
        group.sample(min(per_label, len(group)), random_state=seed)
        for _, group in frame.groupby("label")
    ]
    return pd.concat(parts).sample(frac=1.0, random_state=seed).reset_index(drop=True)


def cached_units(cache: Path | None, clf, claims: list[str], documents: list[str], overlap: int):
    """:func:`score_units`, read from / written to ``cache`` (a local scratch file) if given."""
    if cache and cache.is_file():
        return pickle.loads(cache.read_bytes())
    result = score_units(clf, claims, documents, overlap)
    if cache:
        cache.write_bytes(pickle.dumps(result))
    return result


def score_units(clf: StanceClassifier, claims: list[str], bodies: list[str], overlap: int) -> tuple:
    """Every sentence and window of every body, scored once (all aggregations reuse them)."""
    started = time.perf_counter()
    plans = [
        plan_document(c, b, clf.tokenizer, clf.max_length, window_overlap=overlap)
        for c, b in zip(claims, bodies, strict=True)
    ]
    every_unit = Aggregation("max", "all")
    unit_probs, _ = score_plans(
        plans, classifier_proba(clf), clf.labels, every_unit, evidence_per_label=0
    )
    return plans, unit_probs, time.perf_counter() - started


def quality(
    clf: StanceClassifier, data: pd.DataFrame, overlap: int, cache: Path | None = None
) -> tuple[list[tuple], dict]:
    claims, bodies, gold = list(data["claim"]), list(data["response"]), list(data["label"])
    rows = []
    started = time.perf_counter()
    plain, cut = classifier_proba(clf)(claims, bodies)
    plain_s = time.perf_counter() - started
    pred = [clf.labels[i] for i in plain.argmax(axis=1)]
    rows.append(("plain pair (body truncated)", *scores(gold, pred)))
    plans, unit_probs, doc_s = cached_units(cache, clf, claims, bodies, overlap)
    for name, agg in AGGREGATIONS.items():
        pred = [
            aggregate(p, u, clf.labels, agg).label for p, u in zip(plans, unit_probs, strict=True)
        ]
        rows.append((f"documents: {name}", *scores(gold, pred)))
    info = {
        "n": len(data),
        "truncated_plain": int(cut.sum()),
        "plain_s": plain_s,
        "doc_s": doc_s,
        "units": sum(len(p.units) for p in plans),
        "sentences": sum(p.n_sentences for p in plans),
        "windows": sum(len(p.window_units) for p in plans),
        "counts": data["label"].value_counts().to_dict(),
    }
    return rows, info


SHORT_DENIAL = '"None of that is true," a spokesman said.'
"""The second plant: a denial that shares no word with the claim, so only the model's
reading of the sentence (and the window around it) can find it."""


def planted_sentence(headline: str) -> str:
    """A quoted denial of ``headline`` that restates it.

    >>> planted_sentence("Man bites dog.")
    '"No, it is not true that man bites dog," a spokesman said.'
    """
    text = headline.strip().rstrip(".!?")
    return f'"No, it is not true that {text[:1].lower()}{text[1:]}," a spokesman said.'


def plant_denial(body: str, plant: str) -> tuple[str, int]:
    r"""``body`` with ``plant`` inserted after its middle sentence, and where it starts.

    The plant takes the whitespace the body has there on both sides (a line break stays a
    line break), so it reads as the body's own next sentence.

    >>> plant_denial("One. Two. Three.\nFour.", "No.")
    ('One. Two. Three.\nNo.\nFour.', 17)
    """
    spans = split_sentences(body)
    cut = spans[len(spans) // 2].end
    gap = re.match(r"\s*", body[cut:]).group() or " "
    rest = body[cut:].lstrip()
    return body[:cut] + gap + plant + (gap if rest else "") + rest, cut + len(gap)


def planted(
    clf: StanceClassifier,
    data: pd.DataFrame,
    n: int,
    overlap: int,
    cache: Path | None = None,
    restate: bool = True,
) -> dict[str, float]:
    """Share of neutral bodies with one planted quoted denial (mid-body) that each
    aggregation labels denial with the planted sentence in its top denial evidence (pysbd
    joins the plant to the sentence before it in a few bodies, so the evidence may be
    longer than the plant). The plant restates the headline (:func:`planted_sentence`) or,
    with ``restate=False``, is :data:`SHORT_DENIAL`."""
    rows = data[data["label"] == "neutral"].head(n)
    claims, docs, places = [], [], []
    for claim, body in zip(rows["claim"], rows["response"], strict=True):
        plant = planted_sentence(claim) if restate else SHORT_DENIAL
        document, start = plant_denial(body, plant)
        claims.append(claim)
        docs.append(document)
        places.append((start, start + len(plant)))
    cache = cache.with_suffix(".planted.pkl" if restate else ".short.pkl") if cache else None
    plans, unit_probs, _ = cached_units(cache, clf, claims, docs, overlap)
    found = {}
    for name, agg in AGGREGATIONS.items():
        hits = 0
        for plan, probs, (start, end) in zip(plans, unit_probs, places, strict=True):
            result = aggregate(plan, probs, clf.labels, agg)
            top = result.top("denial")
            hits += (
                result.label == "denial"
                and top is not None
                and top.start <= start <= end <= top.end
            )
        found[name] = hits / len(plans)
    return found


def speed(clf: StanceClassifier, data: pd.DataFrame, n_docs: int, repeats: int = 3) -> dict:
    frame = pd.read_json(DATA, lines=True)
    frame = frame[(frame["split"] == "dev")]
    long = frame[frame["response"].str.split().str.len() >= 500].drop_duplicates("response")
    long = long.sample(min(n_docs, len(long)), random_state=1)
    claims = list(long["claim"])
    docs = [" ".join(body.split()[:500]) for body in long["response"]]
    sentence_claims, sentences = [], []
    for claim, doc in zip(claims, docs, strict=True):
        for s in split_sentences(doc):
            sentence_claims.append(claim)
            sentences.append(s.text)
    split_s = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        for doc in docs:
            split_sentences(doc)
        split_s = min(split_s, time.perf_counter() - started)
    pairs = list(zip(claims, docs, strict=True))
    jobs = {
        **{
            preset: lambda preset=preset: clf.predict_documents(pairs, aggregation=preset)
            for preset in dict.fromkeys((DEFAULT_AGGREGATION, "max-sentences", "max-windows"))
        },
        "sentences": lambda: classifier_proba(clf)(sentence_claims, sentences),
        "plain": lambda: classifier_proba(clf)(claims, docs),
    }
    clf.predict_documents(pairs[:1])  # warm up
    best = dict.fromkeys(jobs, float("inf"))
    for _ in range(repeats):  # interleaved, best of N: the CPU is shared
        for name, job in jobs.items():
            started = time.perf_counter()
            job()
            best[name] = min(best[name], time.perf_counter() - started)
    doc_s = {k: v for k, v in best.items() if k not in ("sentences", "plain")}
    sent_s, plain_s = best["sentences"], best["plain"]
    return {
        "docs": len(docs),
        "doc_s": doc_s,
        "sent_s": sent_s,
        "split_s": split_s,
        "plain_s": plain_s,
        "sentences": len(sentences),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--per-label", type=int, default=100)
    parser.add_argument("--speed-docs", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", default=str(REPO / "eval/results/documents.md"))
    parser.add_argument("--cache", type=Path, help="reuse/store the unit scores (a pickle)")
    parser.add_argument("--planted", type=int, default=100, help="bodies for the plant test")
    parser.add_argument("--no-speed", action="store_true", help="skip the speed measurement")
    parser.add_argument("--model", default=None, help="model directory (default: shipped)")
    parser.add_argument(
        "--window-overlap",
        type=int,
        default=WINDOW_OVERLAP,
        help="sentences consecutive windows share in the quality runs (default: %(default)s)",
    )
    args = parser.parse_args()
    if not DATA.is_file():
        raise SystemExit(f"FNC-1 data not found at {DATA}")
    clf = StanceClassifier.load(args.model)
    data = sample(args.per_label, args.seed)
    rows, info = quality(clf, data, args.window_overlap, args.cache)
    found = planted(clf, data, args.planted, args.window_overlap, args.cache)
    short = planted(clf, data, args.planted, args.window_overlap, args.cache, restate=False)
    sp = None if args.no_speed else speed(clf, data, args.speed_docs)
    rows_sorted = [rows[0], *sorted(rows[1:], key=lambda r: -r[1])]
    lines = [
        "# Whole documents: FNC-1 dev, default model",
        "",
        f"`python eval/bench_documents.py --per-label {args.per_label} --speed-docs "
        f"{args.speed_docs} --seed {args.seed} --window-overlap {args.window_overlap}` "
        f"({dt.date.today().isoformat()}, {clf.compute_dtype}, max_length {clf.max_length}; "
        f"consecutive windows share {args.window_overlap} sentences).",
        "",
        f"Sample: {info['n']} (headline, body) pairs from FNC-1 dev, balanced by label "
        f"{info['counts']} (denial = every `disagree` pair in dev when fewer than asked). "
        f"Plain pair scoring truncated {info['truncated_plain']} of {info['n']} bodies. "
        f"Document mode scored {info['units']} units ({info['sentences']} sentences, "
        f"{info['windows']} windows).",
        "",
        f"Planted denial: {args.planted} neutral bodies of the sample with one quoted denial "
        'of the headline inserted mid-body (`"No, it is not true that <headline>," a '
        "spokesman said.`, after the middle sentence, with the whitespace the body has there); "
        "the column gives the share labelled denial with that sentence in the top denial "
        f"evidence. Short denial: the same bodies with `{SHORT_DENIAL}` planted instead, a "
        "denial that shares no word with the headline.",
        "",
        "Presets of `stance.documents`: "
        + "; ".join(
            f"`{name}`{' (default)' if name == DEFAULT_AGGREGATION else ''} = {describe(agg)}"
            for name, agg in PRESETS.items()
        )
        + ".",
        "",
        "| method | macro-F1 | accuracy | planted denial found | short denial found |",
        "|---|---:|---:|---:|---:|",
        *(
            f"| {name} | {f1:.3f} | {acc:.3f} | "
            + (
                f"{found[name[11:]]:.2f} | {short[name[11:]]:.2f} |"
                if name.startswith("documents: ")
                else "- | - |"
            )
            for name, f1, acc in rows_sorted
        ),
        "",
    ]
    if sp is not None:
        lines += speed_lines(sp)
    text = "\n".join(lines)
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(text)
    print(text)


def speed_lines(sp: dict) -> list[str]:
    return [
        "## Speed (500-word documents)",
        "",
        f"{sp['docs']} FNC-1 dev bodies cut to their first 500 words ({sp['sentences']} "
        "sentences), each against its headline; best of 3 interleaved runs:",
        "",
        "| what | seconds | documents/s |",
        "|---|---:|---:|",
        *(
            f"| predict_documents, aggregation={name!r}, with evidence | {sec:.2f} | "
            f"{sp['docs'] / sec:.1f} |"
            for name, sec in sp["doc_s"].items()
        ),
        f"| the same documents' sentences as plain pairs | {sp['sent_s']:.2f} | "
        f"{sp['docs'] / sp['sent_s']:.1f} |",
        f"| splitting them into sentences (pysbd) | {sp['split_s']:.2f} | "
        f"{sp['docs'] / sp['split_s']:.1f} |",
        f"| plain pair, body truncated to max_length | {sp['plain_s']:.2f} | "
        f"{sp['docs'] / sp['plain_s']:.1f} |",
        "",
        "Document mode (split, windows, score, aggregate, evidence) costs "
        + ", ".join(
            f"{sec / (sp['sent_s'] + sp['split_s']):.2f}x ({name})"
            for name, sec in sp["doc_s"].items()
        )
        + " the time of splitting the documents into sentences and scoring those; "
        + ", ".join(f"{sec / sp['sent_s']:.2f}x" for sec in sp["doc_s"].values())
        + " the time of scoring already split sentences.",
        "",
    ]


if __name__ == "__main__":
    main()
