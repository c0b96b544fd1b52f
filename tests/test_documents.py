"""Whole documents: sentence offsets, windows, aggregation, evidence, `stance score --documents`."""

from __future__ import annotations

import json
import re
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from conftest import import_script

from stance import InputDataError
from stance.cli import main
from stance.documents import (
    AGGREGATIONS,
    DEFAULT_AGGREGATION,
    Aggregation,
    build_windows,
    plan_document,
    split_sentences,
)
from stance.errors import ConfigError
from stance.inference import PairTokenizer, Runtime
from stance.scoring import evidence_columns

BACKGROUND = [
    "the city is open.",
    "the river rose after the storm.",
    "the school is open.",
    "police said the report is ongoing.",
    "the government said prices rose.",
    "the cat sat on the mat.",
    "the dog sat.",
    "the election is ongoing.",
]
PLANTED = "the minister denied it, no, it does not."


def long_document(n_background: int = 40, planted_at: int = 27) -> str:
    sentences = [BACKGROUND[i % len(BACKGROUND)].capitalize() for i in range(n_background)]
    sentences.insert(planted_at, PLANTED.capitalize())
    text, out = "", []
    for k, sentence in enumerate(sentences):
        out.append(sentence)
        out.append("\n\n" if k % 5 == 4 else " ")
    text = "".join(out).strip()
    return text


def fake_proba(marker: str = "denied", labels=("support", "denial", "neutral")):
    """A scorer that gives high denial to any text holding ``marker``; records its calls."""
    calls: list[list[str]] = []
    denial, neutral = labels.index("denial"), labels.index("neutral")

    def proba(claims, texts, contexts=None, *, temperature=1.0, on_batch=None):
        calls.append(list(texts))
        p = np.full((len(texts), len(labels)), 0.05)
        for i, text in enumerate(texts):
            if marker in text.lower():
                p[i, denial] = 0.9
            else:
                p[i, neutral] = 0.9
        p = p / p.sum(axis=1, keepdims=True)
        return p, np.zeros(len(texts), dtype=bool)

    proba.calls = calls
    return proba


def score_with(monkeypatch, scorer) -> None:
    """Let ``scorer`` (a fake) stand in for every classifier's forward passes in a test."""
    monkeypatch.setattr(Runtime, "probabilities", staticmethod(scorer))


def check_spans(document: str) -> list:
    spans = split_sentences(document)
    for span in spans:
        assert document[span.start : span.end] == span.text
        assert span.text == span.text.strip() and span.text
    starts = [s.start for s in spans]
    assert starts == sorted(starts)
    assert all(a.end <= b.start for a, b in zip(spans, spans[1:], strict=False))
    # every non-whitespace character is in a sentence
    covered = "".join(s.text for s in spans)
    assert re.sub(r"\s", "", covered) == re.sub(r"\s", "", document)
    return spans


# ---------------------------------------------------------------- sentences
def test_offsets_point_at_the_sentence_text():
    document = 'The bridge is closed.  A spokesman said: "No, it is not."\n\nTraffic was normal.'
    spans = check_spans(document)
    assert [s.text for s in spans] == [
        "The bridge is closed.",
        'A spokesman said: "No, it is not."',
        "Traffic was normal.",
    ]
    assert document[spans[1].start : spans[1].end] == 'A spokesman said: "No, it is not."'


def test_offsets_with_unicode_newlines_and_repeated_sentences():
    document = (
        "Ünïcödé façade — naïve café.\nYes. Yes.  Yes.\r\n\r\n  Ελληνικά είναι εδώ. 日本語の文。 "
        "Emoji 🎉 party. Yes.\n\n\n   \n"
    )
    spans = check_spans(document)
    yes = [s for s in spans if s.text == "Yes."]
    assert len(yes) == 4 and len({s.start for s in yes}) == 4
    assert any("🎉" in s.text for s in spans)


def test_paragraphs_without_full_stop_are_their_own_sentence():
    spans = check_spans("Breaking news\n\nThe minister denied it. More later")
    assert [s.text for s in spans] == ["Breaking news", "The minister denied it.", "More later"]


def test_text_the_splitter_skips_or_misplaces_is_kept(monkeypatch):
    from pysbd.utils import TextSpan

    import stance.documents as documents

    class Broken:  # wrong offsets for the second sentence, drops the third
        def segment(self, text):
            return [TextSpan("First one. ", 0, 11), TextSpan("Second one here. ", 3, 20)]

    monkeypatch.setattr(documents, "_segmenter", lambda: Broken())
    spans = check_spans("First one. Second one here. Third one.")
    assert [s.text for s in spans] == ["First one.", "Second one here.", "Third one."]

    class Overlapping:  # spans that overlap and cut words: text is still kept, once
        def segment(self, text):
            return [TextSpan(text[0:10], 0, 10), TextSpan(text[5:12], 5, 12)]

    monkeypatch.setattr(documents, "_segmenter", lambda: Overlapping())
    check_spans("First one. Second one here. Third one.")


def test_empty_and_whitespace_documents_have_no_sentences():
    assert split_sentences("") == [] and split_sentences(" \n\n\t ") == []


# ---------------------------------------------------------------- windows
@pytest.mark.parametrize("overlap", [0, 1])
def test_build_windows_cover_everything_overlap_as_asked_and_fit(overlap):
    rng = np.random.default_rng(0)
    for _ in range(200):
        lengths = list(rng.integers(1, 30, rng.integers(1, 40)))
        budget = int(rng.integers(10, 80))
        windows = build_windows(lengths, budget, overlap)
        assert windows[0][0] == 0 and windows[-1][1] == len(lengths)
        for (i, j), (k, _) in zip(windows, windows[1:], strict=False):
            # the next window starts `overlap` items back, unless this one holds one item
            assert k == (j if j - i == 1 else j - overlap)
        for i, j in windows:
            assert j - i == 1 or sum(lengths[i:j]) <= budget
    with pytest.raises(ConfigError, match="overlap must be 0 or 1"):
        build_windows([1, 2], 10, overlap=2)


def test_windows_fit_max_length_with_the_claim(tiny_clf):
    claim = "the kharkiv offensive has failed"
    document = long_document()
    plan = plan_document(claim, document, tiny_clf.tokenizer, tiny_clf.max_length)
    assert len(plan.window_units) > 1
    encoded = PairTokenizer(tiny_clf.tokenizer, tiny_clf.max_length).encode(
        [claim] * len(plan.units), [u.text for u in plan.units]
    )
    assert not encoded.truncated.any()
    for unit in plan.units:
        assert document[unit.start : unit.end] == unit.text
    # by default windows follow each other without sharing a sentence
    for (_i, j), (k, _) in zip(plan.window_sentences, plan.window_sentences[1:], strict=False):
        assert k == j
    shared = plan_document(
        claim, document, tiny_clf.tokenizer, tiny_clf.max_length, window_overlap=1
    )
    for (i, j), (k, _) in zip(shared.window_sentences, shared.window_sentences[1:], strict=False):
        assert k == (j if j - i == 1 else j - 1)


def test_a_sentence_longer_than_the_budget_is_cut_not_dropped(tiny_clf):
    words = ("the offensive has failed and the city is open " * 40).split()
    document = "Short one. " + " ".join(words) + ". Last one."
    claim = "the offensive has failed"
    plan = plan_document(claim, document, tiny_clf.tokenizer, tiny_clf.max_length)
    pieces = [plan.units[i] for i in plan.sentence_units]
    assert len(pieces) > 3 and plan.n_sentences == 3
    assert re.sub(r"\s", "", "".join(p.text for p in pieces)) == re.sub(r"\s", "", document)
    encoded = PairTokenizer(tiny_clf.tokenizer, tiny_clf.max_length).encode(
        [claim] * len(plan.units), [u.text for u in plan.units]
    )
    assert not encoded.truncated.any()


def test_credit_lines_are_never_scored_and_no_window_spans_them(tiny_clf):
    claim = "the offensive has failed"
    credit = "(Photo by Alexander Nemenov / AFP)"
    byline = "By Jane Doe and John Smith, Reuters"
    document = f"{byline}\n\n" + long_document().replace(" The ", f" {credit} The ", 1)
    assert credit in document
    plan = plan_document(claim, document, tiny_clf.tokenizer, tiny_clf.max_length)
    credit_start = document.index(credit)
    for unit in plan.units:
        assert credit not in unit.text and byline not in unit.text
        assert not unit.start <= credit_start < unit.end  # no window covers it either
    without = plan_document(
        claim,
        document.replace(credit, "").replace(byline, ""),
        tiny_clf.tokenizer,
        tiny_clf.max_length,
    )
    assert len(plan.sentence_units) == len(without.sentence_units)
    assert plan.n_sentences == without.n_sentences + 2  # counted, not scored


# ---------------------------------------------------------------- aggregation
def test_planted_denial_is_found_in_a_long_neutral_document(tiny_clf, monkeypatch):
    fake = fake_proba()
    score_with(monkeypatch, fake)
    document = long_document()
    result = tiny_clf.predict_document("the offensive has failed", document)
    assert result.label == "denial"
    assert result.probabilities["denial"] == max(result.probabilities.values())
    assert abs(sum(result.probabilities.values()) - 1) < 1e-9
    top = result.top("denial")
    assert top.text == PLANTED.capitalize()
    assert document[top.start : top.end] == top.text and top.score > 0.8
    assert result.top("support") is not None and result.n_sentences == 41
    # mean aggregation dilutes the one denial: the test can tell them apart
    assert tiny_clf.predict_document("x", document, aggregation="mean").label == "neutral"
    for name in AGGREGATIONS:
        if name != "mean":
            assert tiny_clf.predict_document("x", document, aggregation=name).label == "denial"


def test_sentence_threshold_and_probabilities_follow_the_rule():
    from stance.documents import DocumentPlan, Span, aggregate

    units = (Span("a.", 0, 2), Span("b.", 3, 5), Span("a. b.", 0, 5))
    plan = DocumentPlan("c", units, (0, 1), (2,), ((0, 2),), 2)
    labels = ("support", "denial", "neutral")
    p = np.array([[0.1, 0.7, 0.2], [0.1, 0.1, 0.8], [0.2, 0.3, 0.5]])
    default = aggregate(plan, p, labels, Aggregation("max", "all", 0.5, 0.8))
    assert default.label == "neutral"  # a sentence needs 0.8, a window 0.5
    # the preset: the window (0.3) passes the gate (0.2) and opens a., whose 0.7 is
    # short of the sentence threshold (0.8); with a lower one it decides
    assert aggregate(plan, p, labels).label == "neutral"
    gated = Aggregation("max", "all", 0.5, 0.65, sentence_gate=0.2)
    assert aggregate(plan, p, labels, gated).label == "denial"
    assert aggregate(plan, p, labels, replace(gated, sentence_gate=0.4)).label == "neutral"
    assert aggregate(plan, p, labels, "max-sentences").label == "denial"
    assert aggregate(plan, p, labels, Aggregation("max", "all", 0.5, 0.65)).label == "denial"
    window = aggregate(plan, p, labels, "max-windows")
    assert window.label == "neutral"
    assert window.probabilities["neutral"] == pytest.approx(0.7 / 1.2)  # (1 - 0.3), normalised
    assert default.evidence[1].text == "a." and default.evidence[1].score == 0.7
    with pytest.raises(ValueError, match="not scored"):
        aggregate(plan, np.where(np.arange(3)[:, None] == 2, np.nan, p), labels, "max-windows")


def test_sentence_gate_reads_only_the_sentences_of_open_windows():
    from stance.documents import DocumentPlan, Span, aggregate

    units = tuple(Span(t, 0, 1) for t in ("a.", "b.", "c.", "a. b.", "b. c."))
    plan = DocumentPlan("claim", units, (0, 1, 2), (3, 4), ((0, 2), (1, 3)), 3)
    labels = ("support", "denial", "neutral")
    p = np.array(
        [
            [0.05, 0.90, 0.05],  # a.: a strong denial, but in a window that stays closed
            [0.05, 0.05, 0.90],
            [0.85, 0.05, 0.10],  # c.: in the open window
            [0.05, 0.10, 0.85],  # window a. b.: best stance 0.10, under the gate
            [0.30, 0.05, 0.65],  # window b. c.: 0.30 opens b. and c.
        ]
    )
    gated = Aggregation("max", "all", 0.5, 0.8, sentence_gate=0.2)
    result = aggregate(plan, p, labels, gated)
    assert result.label == "support"  # a. does not vote; c. does
    assert aggregate(plan, p, labels, Aggregation("max", "all", 0.5, 0.8)).label == "denial"
    unscored_a = p.copy()
    unscored_a[0] = np.nan  # the gate never needed a.
    assert aggregate(plan, unscored_a, labels, gated).label == "support"
    unscored_c = p.copy()
    unscored_c[2] = np.nan
    with pytest.raises(ValueError, match="not scored"):
        aggregate(plan, unscored_c, labels, gated)


def test_claim_overlap_reads_a_sentence_that_restates_the_claim_in_a_closed_window():
    from stance.documents import DocumentPlan, Span, aggregate

    texts = (
        "The port reopened to ships.",
        "Officials denied that the harbour bridge collapsed.",  # restates the claim
        "Fishing boats left at dawn.",
        "The port reopened to ships. Officials denied ... dawn.",
    )
    units = tuple(Span(t, 0, 1) for t in texts)
    plan = DocumentPlan("The harbour bridge has collapsed.", units, (0, 1, 2), (3,), ((0, 3),), 3)
    labels = ("support", "denial", "neutral")
    p = np.array(
        [
            [0.02, 0.03, 0.95],
            [0.03, 0.85, 0.12],
            [0.02, 0.03, 0.95],
            [0.02, 0.05, 0.93],  # the window hides the denial: under the gate
        ]
    )
    gated = Aggregation("max", "all", 0.5, sentence_gate=0.1)
    assert aggregate(plan, p, labels, gated).label == "neutral"
    restating = Aggregation("max", "all", 0.5, sentence_gate=0.1, claim_overlap=0.5)
    result = aggregate(plan, p, labels, restating)
    assert result.label == "denial" and result.top("denial").text == texts[1]
    only_read = p.copy()
    only_read[[0, 2]] = np.nan  # sentences without the claim's words are never scored
    assert aggregate(plan, only_read, labels, restating).label == "denial"
    # all three of its content words (harbour, bridge, collapsed) are in the denial
    strict = Aggregation("max", "all", 0.5, sentence_gate=0.1, claim_overlap=1.0)
    assert aggregate(plan, p, labels, strict).label == "denial"
    plan_other_claim = DocumentPlan("Ferry fares rose.", units, (0, 1, 2), (3,), ((0, 3),), 3)
    assert aggregate(plan_other_claim, p, labels, restating).label == "neutral"


def test_open_quotes_reads_quoted_sentences_in_closed_windows():
    from stance.documents import DocumentPlan, Span, aggregate

    texts = (
        "The port reopened to ships.",
        "\u201cNone of that is true,\u201d a spokesman said.",  # curly quotes
        "Fishing boats left at dawn.",
        "The port reopened to ships. ... Fishing boats left at dawn.",
    )
    units = tuple(Span(t, 0, 1) for t in texts)
    plan = DocumentPlan("The harbour bridge has collapsed.", units, (0, 1, 2), (3,), ((0, 3),), 3)
    labels = ("support", "denial", "neutral")
    p = np.array([[0.02, 0.03, 0.95], [0.03, 0.85, 0.12], [0.02, 0.03, 0.95], [0.02, 0.05, 0.93]])
    overlap_only = Aggregation("max", "all", 0.5, sentence_gate=0.1, claim_overlap=0.5)
    assert aggregate(plan, p, labels, overlap_only).label == "neutral"  # no claim word
    quotes = Aggregation("max", "all", 0.5, sentence_gate=0.1, open_quotes=True)
    read_only = p.copy()
    read_only[[0, 2]] = np.nan
    result = aggregate(plan, read_only, labels, quotes)
    assert result.label == "denial" and result.top("denial").text == texts[1]


def test_open_quotes_knows_a_single_opening_quote_from_an_apostrophe():
    from stance.documents import DocumentPlan, Span, aggregate

    texts = (
        "The workers' union met on Monday, and it's still talking.",  # apostrophes only
        "'No, it has not collapsed,' the mayor said.",  # British single quotes
        "The workers' union met ... the mayor said.",
    )
    units = tuple(Span(t, 0, 1) for t in texts)
    plan = DocumentPlan("The harbour bridge has collapsed.", units, (0, 1), (2,), ((0, 2),), 2)
    p = np.array([[np.nan] * 3, [0.03, 0.85, 0.12], [0.02, 0.05, 0.93]])
    quotes = Aggregation("max", "all", 0.5, sentence_gate=0.1, open_quotes=True)
    # the apostrophe sentence is never read (its NaN would raise), the quote decides
    result = aggregate(plan, p, ("support", "denial", "neutral"), quotes)
    assert result.label == "denial" and result.top("denial").text == texts[1]


def test_claim_overlap_needs_a_gate_and_a_share():
    with pytest.raises(ConfigError, match="claim_overlap needs a sentence_gate"):
        Aggregation("max", "all", claim_overlap=0.5)
    with pytest.raises(ConfigError, match="open_quotes needs a sentence_gate"):
        Aggregation("max", "sentences", open_quotes=True)
    with pytest.raises(ConfigError, match=r"claim_overlap must be in \(0, 1\], got 1.5"):
        Aggregation("max", "all", sentence_gate=0.1, claim_overlap=1.5)


def test_sentence_gate_scores_fewer_sentences_and_keeps_the_planted_denial(tiny_clf, monkeypatch):
    fake = fake_proba()
    score_with(monkeypatch, fake)
    document = long_document()
    gated = Aggregation("max", "all", 0.5, 0.8, sentence_gate=0.2)
    result = tiny_clf.predict_document("the offensive has failed", document, aggregation=gated)
    assert result.label == "denial" and result.top("denial").text == PLANTED.capitalize()
    windows, opened = fake.calls[0], fake.calls[1]
    assert all(len(split_sentences(text)) > 1 for text in windows if text != PLANTED.capitalize())
    assert PLANTED.capitalize() in opened or PLANTED.capitalize() in windows
    assert 0 < len(opened) < 10 < result.n_sentences  # only the open windows' sentences
    with pytest.raises(ConfigError, match="sentence_gate needs"):
        Aggregation("max", "windows", sentence_gate=0.2)


def test_gated_evidence_comes_only_from_open_windows(tiny_clf, monkeypatch):
    score_with(monkeypatch, fake_proba())
    neutral_text = long_document(planted_at=0)[40:]  # no denial: no window opens
    gated = tiny_clf.predict_document("the offensive has failed", neutral_text)
    assert gated.evidence == () and gated.top("denial") is None
    plain = tiny_clf.predict_document(
        "the offensive has failed", neutral_text, aggregation="max-windows"
    )
    assert plain.top("denial") is not None  # without a gate the best window's sentences


def test_document_without_a_denial_is_neutral(tiny_clf, monkeypatch):
    score_with(monkeypatch, fake_proba())
    result = tiny_clf.predict_document("the offensive has failed", long_document(planted_at=0)[40:])
    assert "denied" not in long_document(planted_at=0)[40:].lower()
    assert result.label == "neutral"


def test_all_documents_are_scored_together_one_call_per_pass(tiny_clf, monkeypatch):
    fake = fake_proba()
    score_with(monkeypatch, fake)
    pairs = [("claim one", long_document()), ("claim two", "No, it does not."), ("c", "Yes.")]
    results = tiny_clf.predict_documents(pairs)
    assert [r.label for r in results] == ["denial", "neutral", "neutral"]
    first = fake.calls[0]
    assert "Yes." in first and "No, it does not." in first  # every document in call one
    # then one call for the sentences the gate opens; evidence comes from those
    assert len(fake.calls) == 2
    fake.calls.clear()
    assert len(tiny_clf.predict_documents(pairs, aggregation="max-sentences")) == 3
    assert len(fake.calls) == 1  # every sentence at once: the evidence is among them
    fake.calls.clear()
    assert len(tiny_clf.predict_documents(pairs, aggregation="max-windows")) == 3
    windows, evidence = fake.calls  # then the best windows' unscored sentences, for evidence
    assert "Yes." in windows and "No, it does not." in windows
    assert PLANTED.capitalize() in evidence and not set(evidence) & set(windows)


def test_short_response_gives_the_pair_probabilities(tiny_clf):
    result = tiny_clf.predict_document("the offensive has failed", "no it does not")
    pair = tiny_clf.predict_proba([("the offensive has failed", "no it does not")])[0]
    assert result.n_sentences == 1 and result.n_windows == 1
    mean = tiny_clf.predict_document(
        "the offensive has failed", "no it does not", aggregation="mean"
    )
    assert np.allclose([mean.probabilities[label] for label in tiny_clf.labels], pair)
    assert result.top("denial").score == pytest.approx(pair[1])


def test_other_label_sets(tiny_fnc_model_dir, tmp_path):
    from stance import StanceClassifier
    from tests.conftest import build_tiny_model_dir

    fnc = StanceClassifier.load(tiny_fnc_model_dir, precision="fp32")
    result = fnc.predict_document("the offensive has failed", long_document())
    assert {e.label for e in result.evidence} == {"agree", "disagree"}
    assert set(result.probabilities) == set(fnc.labels)
    two = StanceClassifier.load(build_tiny_model_dir(tmp_path / "pc", labels=("pro", "con")))
    result = two.predict_document("the offensive has failed", long_document())
    assert {e.label for e in result.evidence} == {"pro", "con"}
    assert abs(sum(result.probabilities.values()) - 1) < 1e-9
    assert evidence_columns(("pro", "con"))[0] == "evidence_pro"


@pytest.mark.parametrize("document", ["", "   ", "\n\n\t"])
def test_empty_document_is_an_input_error(tiny_clf, document):
    with pytest.raises(InputDataError, match="response is empty"):
        tiny_clf.predict_document("the offensive has failed", document)


def test_bad_aggregation_is_a_config_error(tiny_clf):
    with pytest.raises(ConfigError, match="unknown aggregation 'maximum'"):
        tiny_clf.predict_document("claim", "text", aggregation="maximum")
    with pytest.raises(ConfigError, match="threshold"):
        Aggregation("max", "all", 1.5)
    assert DEFAULT_AGGREGATION in AGGREGATIONS


def test_default_model_finds_a_quoted_denial():
    """40 background sentences about the bridge, one quoted denial (a probe of
    eval/document_probes.py; the same 40 sentences without the denial, which the
    default model is known to call denial, are measured there, not here)."""
    from stance import StanceClassifier

    probes = import_script("eval/document_probes.py")
    clf = StanceClassifier.load()
    document = probes.bridge_document(with_denial=True)
    result = clf.predict_document(probes.BRIDGE_CLAIM, document)
    assert result.n_sentences == 41
    assert result.label == "denial"
    top = result.top("denial")
    assert top.text == probes.QUOTED_DENIAL and document[top.start : top.end] == top.text


# ---------------------------------------------------------------- CLI
def test_cli_documents_end_to_end(tiny_model_dir, tmp_path, capsys):
    frame = pd.DataFrame(
        {
            "id": [1, 2, 3, 4],
            "claim": ["the offensive has failed"] * 3 + [""],
            "response": [long_document(), "   ", "No, it does not. The city is open.", "x"],
        }
    )
    source, target = tmp_path / "docs.csv", tmp_path / "out.jsonl"
    frame.to_csv(source, index=False)
    code = main(
        ["score", str(source), "-o", str(target), "-m", str(tiny_model_dir), "--documents", "-q"]
    )
    assert code == 0, capsys.readouterr().err
    out = pd.read_json(target, lines=True)
    assert list(out["id"]) == [1, 2, 3, 4]
    assert list(out["error"]) == ["", "response is empty", "", "claim is empty"]
    for column in evidence_columns(("support", "denial", "neutral")):
        assert column in out.columns
    for i in (0, 2):
        assert out.loc[i, "label"] in ("support", "denial", "neutral")
        document = frame.loc[i, "response"]
        for label in ("support", "denial"):
            start = int(out.loc[i, f"evidence_{label}_start"])
            end = int(out.loc[i, f"evidence_{label}_end"])
            assert document[start:end] == out.loc[i, f"evidence_{label}"]
        p = out.loc[i, ["p_support", "p_denial", "p_neutral"]].astype(float)
        assert abs(p.sum() - 1) < 1e-6 and p.idxmax() == f"p_{out.loc[i, 'label']}"
    assert out.loc[1, "evidence_denial"] is None or pd.isna(out.loc[1, "evidence_denial"])
    # JSON values keep their types: offsets are integers beside the error rows' nulls
    records = [json.loads(line) for line in target.read_text().splitlines()]
    for record, scored in zip(records, (True, False, True, False), strict=True):
        for label in ("support", "denial"):
            for end in ("start", "end"):
                value = record[f"evidence_{label}_{end}"]
                assert (type(value) is int) if scored else value is None, (record, value)


def test_cli_aggregation_needs_documents(tiny_model_dir, tmp_path, capsys):
    source = tmp_path / "docs.csv"
    pd.DataFrame({"claim": ["a"], "response": ["b"]}).to_csv(source, index=False)
    base = ["score", str(source), "-o", str(tmp_path / "o.csv"), "-m", str(tiny_model_dir)]
    assert main([*base, "--aggregation", "max"]) == 2
    assert "--documents" in capsys.readouterr().err
    assert main([*base, "--documents", "--aggregation", "maxx"]) == 2
    assert "unknown aggregation" in capsys.readouterr().err


def test_documents_resume_after_interruption(tiny_clf, tmp_path, monkeypatch):
    from stance.scoring import score_file

    frame = pd.DataFrame(
        {
            "claim": [f"claim {i}" for i in range(7)],
            "response": [long_document()[: 40 * (i + 1)] for i in range(7)],
        }
    )
    source, target = tmp_path / "docs.csv", tmp_path / "out.csv"
    frame.to_csv(source, index=False)
    real = tiny_clf.runtime.probabilities
    seen = {"calls": 0}

    def flaky(claims, texts, contexts=None, *, temperature, on_batch=None):
        seen["calls"] += 1
        if seen["calls"] == 3:
            raise KeyboardInterrupt
        return real(claims, texts, contexts, temperature=temperature, on_batch=on_batch)

    score_with(monkeypatch, flaky)
    with pytest.raises(KeyboardInterrupt):
        score_file(source, target, tiny_clf, documents=True, chunk_rows=2, progress=False)
    assert not target.exists()
    with pytest.raises(Exception, match="--resume"):
        score_file(source, target, tiny_clf, documents=True, chunk_rows=2, progress=False)
    with pytest.raises(Exception, match="documents"):  # a plain run cannot resume it
        score_file(source, target, tiny_clf, resume=True, chunk_rows=2, progress=False)
    summary = score_file(
        source, target, tiny_clf, documents=True, chunk_rows=2, progress=False, resume=True
    )
    assert summary.resumed_rows > 0
    out = pd.read_csv(target, keep_default_na=False)
    assert list(out["claim"]) == list(frame["claim"])
    assert "evidence_denial_start" in out.columns
