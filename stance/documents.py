"""Stance of whole documents: sentences, windows, one batched pass, aggregation, evidence.

A document (a news article, a long reply) is split into sentences with ``pysbd``
(character offsets into the original text) and into windows of consecutive sentences
that fit the model together with the claim. The units an aggregation reads (by default
the windows, then the sentences of windows that lean to a stance, the sentences that
quote someone and those that restate the claim) are scored against the claim in batched
calls for all documents at once; the scores are then aggregated to one
document label, and the best supporting and denying sentences are returned as evidence
with their character offsets.

Three steps, usable on their own: :func:`plan_document` (text and tokens only),
:func:`score_plans` (the one model call, for many documents at once) and
:func:`aggregate` (numpy only).

>>> from stance import StanceClassifier
>>> clf = StanceClassifier.load()  # doctest: +SKIP
>>> result = clf.predict_document("The bridge is closed.", article)  # doctest: +SKIP
>>> result.label, result.top("denial").text  # doctest: +SKIP
('denial', 'A spokesman said: "No, it is open."')

Aggregation (``Aggregation(method, units, threshold)`` or a preset name):

- ``method="max"``: the document takes a non-neutral label when some unit (sentence or
  window) gives that label a probability of at least ``threshold``; the strongest such
  label wins, otherwise the document is neutral. One clear denial in a long neutral
  report makes the document a denial. Probabilities: each non-neutral label scores its
  maximum over units, the neutral labels share ``t (1 - m) / (1 - t)`` (``m`` the largest
  non-neutral maximum, ``t`` the threshold, so neutral wins exactly when ``m < t``), and
  the scores are normalised to sum to one.
  ``sentence_threshold`` sets a separate threshold for single sentences (a sentence
  that forms a window on its own, e.g. a one-sentence reply, counts as a window): each
  unit's probabilities are first rescaled piecewise-linearly so that its own threshold
  maps onto ``threshold``.
  ``sentence_gate`` (with ``units="all"``) scores the windows first and then only the
  sentences of windows that give some non-neutral label at least that probability; the
  other sentences are not scored, do not vote and are not evidence. It saves model calls
  and keeps a background sentence of a plainly neutral stretch from deciding the document.
  ``claim_overlap`` (with a gate) also scores every sentence that holds at least that
  share of the claim's content words, whatever its window scored: a sentence that
  restates the claim ("... denied that the bridge was closed") is where a stance on it
  is likeliest, and a window of background around it can hide it. ``open_quotes`` (with
  a gate) also scores every sentence that holds a double quotation mark or opens a
  single-quoted one ('No,' he said; not an apostrophe as in it's): reports quote
  a denial as direct speech ('"None of that is true," a spokesman said.'), which shares
  no word with the claim and which a window of background hides as well.
- ``method="mean"``: the mean of the units' probability vectors; label = its argmax.
- ``units``: which scored units enter: ``"sentences"``, ``"windows"`` or ``"all"``.

Neutral labels are those named in :data:`NEUTRAL_LABELS` (``neutral``, ``discuss``,
``unrelated``, ``comment``, ``query``, ``observing``, ``other``). A model with no neutral
label is aggregated per label (``max``: each label's maximum over units, normalised;
``mean``: the mean), and every label gets evidence.
"""

from __future__ import annotations

import functools
import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from stance.errors import ConfigError
from stance.inference import plain_backend

NEUTRAL_LABELS: frozenset[str] = frozenset(
    {"neutral", "discuss", "unrelated", "comment", "query", "observing", "other"}
)
"""Labels that take no side; every other label is a stance a document can take."""

MIN_BUDGET = 16
"""Fewest response tokens a window gets, even next to a claim that nearly fills max_length."""

WINDOW_OVERLAP = 0
"""Sentences consecutive windows share by default. Measured with ``eval/bench_documents.py
--window-overlap``: sharing one sentence costs about a third more model time on news
articles (windows there hold about three sentences) and did not raise FNC-1 macro-F1 or
the planted denials found."""

_PARAGRAPH_BREAK = re.compile(r"\n[ \t\r\f\v]*\n")


@dataclass(frozen=True)
class Span:
    """A piece of the document: ``document[start:end] == text``."""

    text: str
    start: int
    end: int


@dataclass(frozen=True)
class Evidence:
    """A sentence that shows a label, its probability for it, and where it is.

    ``document[start:end] == text``.
    """

    label: str
    score: float
    text: str
    start: int
    end: int


@dataclass(frozen=True)
class DocumentPrediction:
    """The stance of one document towards a claim.

    ``evidence`` holds the best sentences for each non-neutral label (for every label if
    the model has no neutral one), best first within a label, in label order. With a
    ``sentence_gate`` (the default) they are chosen among the sentences the gate opened
    (and those that restate the claim or quote someone, see ``claim_overlap`` and
    ``open_quotes``), so a label that no such sentence or window leans to has none.
    """

    label: str
    probabilities: dict[str, float]
    evidence: tuple[Evidence, ...]
    n_sentences: int
    n_windows: int
    truncated: int = 0

    def top(self, label: str) -> Evidence | None:
        """The best evidence sentence for ``label``, or ``None``.

        >>> DocumentPrediction("neutral", {}, (), 0, 0).top("denial") is None
        True
        """
        return next((e for e in self.evidence if e.label == label), None)


@dataclass(frozen=True)
class Aggregation:
    """How unit scores become a document label; see the module docstring.

    >>> Aggregation("max", "all", 0.5).threshold
    0.5
    """

    method: str = "max"
    units: str = "all"
    threshold: float = 0.5
    sentence_threshold: float | None = None
    sentence_gate: float | None = None
    claim_overlap: float | None = None
    open_quotes: bool = False

    def __post_init__(self) -> None:
        if self.method not in ("max", "mean"):
            raise ConfigError(f"aggregation method must be 'max' or 'mean', got {self.method!r}")
        if self.units not in ("sentences", "windows", "all"):
            raise ConfigError(
                f"aggregation units must be 'sentences', 'windows' or 'all', got {self.units!r}"
            )
        if self.sentence_gate is not None and (self.units, self.method) != ("all", "max"):
            raise ConfigError(
                "aggregation sentence_gate needs method='max' and units='all' (windows are "
                f"scored first and open their sentences), got method={self.method!r} and "
                f"units={self.units!r}"
            )
        for name in ("claim_overlap", "open_quotes"):
            value = getattr(self, name)
            if value not in (None, False) and self.sentence_gate is None:
                raise ConfigError(
                    f"aggregation {name} needs a sentence_gate (it opens sentences the gate "
                    f"keeps closed), got {name}={value!r} without one"
                )
        for name in ("threshold", "sentence_threshold", "sentence_gate"):
            value = getattr(self, name)
            if value is not None and not 0.0 < float(value) < 1.0:
                raise ConfigError(
                    f"aggregation {name} must be between 0 and 1 (exclusive), got {value!r}"
                )
        if self.claim_overlap is not None and not 0.0 < float(self.claim_overlap) <= 1.0:
            raise ConfigError(
                f"aggregation claim_overlap must be in (0, 1], got {self.claim_overlap!r}"
            )


AGGREGATIONS: dict[str, Aggregation] = {
    "max": Aggregation(
        "max", "all", 0.5, 0.8, sentence_gate=0.2, claim_overlap=0.5, open_quotes=True
    ),
    "max-sentences": Aggregation("max", "sentences", 0.5),
    "max-windows": Aggregation("max", "windows", 0.5),
    "mean": Aggregation("mean", "windows"),
}
"""Preset aggregations by name.

- ``max`` (the default): windows are scored first; the sentences of every window that
  gives a stance label at least 0.2, every sentence that holds half of the claim's
  content words and every sentence with a quotation mark are scored next; a window at
  0.5 or such a sentence at 0.8 decides.
- ``max-sentences``: a sentence at 0.5 decides (finds the most planted denials).
- ``max-windows``: a window at 0.5 decides (misses most single denials).
- ``mean``: the mean over windows (dilutes a single denial; for comparison).
"""

DEFAULT_AGGREGATION = "max"
"""Chosen by ``eval/bench_documents.py`` (``eval/results/documents.md``) with default model
v7: the best FNC-1 dev macro-F1 among the aggregations that read windows and find, in
each of its two plant tests (a quoted denial that restates the claim, and a short one
that does not), within 0.01 of the most planted denials any of them finds. It gives
macro-F1 0.773 and finds 93 and 86 of 100; the earlier preset (gate 0.3, sentences at
0.5, chosen with v4) gives 0.711 with v7, which calls more single sentences denial."""


def resolve_aggregation(aggregation: str | Aggregation | None) -> Aggregation:
    """A preset name (see :data:`AGGREGATIONS`) or an :class:`Aggregation` as it is.

    >>> resolve_aggregation("mean").method
    'mean'
    """
    if aggregation is None:
        return AGGREGATIONS[DEFAULT_AGGREGATION]
    if isinstance(aggregation, Aggregation):
        return aggregation
    if aggregation in AGGREGATIONS:
        return AGGREGATIONS[aggregation]
    from stance.errors import did_you_mean

    raise ConfigError(
        f"unknown aggregation {aggregation!r}; expected one of {sorted(AGGREGATIONS)} or an "
        f"Aggregation(method, units, threshold).{did_you_mean(str(aggregation), AGGREGATIONS)}"
    )


# ---------------------------------------------------------------- sentences
_segmenter_lock = threading.Lock()


@functools.lru_cache(maxsize=1)
def _segmenter() -> Any:
    import pysbd

    return pysbd.Segmenter(language="en", clean=False, char_span=True)


def split_sentences(document: str) -> list[Span]:
    """Sentences of ``document`` with offsets into it, whitespace stripped, in order.

    Paragraphs (blank lines) always end a sentence; inside a paragraph ``pysbd`` splits.
    Every non-whitespace character of the document lies in exactly one sentence: the
    offsets pysbd reports are checked, and text it skipped becomes a sentence of its own.

    >>> [(s.text, s.start, s.end) for s in split_sentences("No.  It is open.")]
    [('No.', 0, 3), ('It is open.', 5, 16)]
    """
    spans: list[Span] = []
    start = 0
    for match in [*_PARAGRAPH_BREAK.finditer(document), None]:
        end = match.start() if match else len(document)
        if document[start:end].strip():
            spans.extend(_split_paragraph(document, start, end))
        start = match.end() if match else end
    return spans


def _split_paragraph(document: str, start: int, end: int) -> list[Span]:
    paragraph = document[start:end]
    with _segmenter_lock:
        pieces = [(p.sent, p.start, p.end) for p in _segmenter().segment(paragraph)]
    spans: list[Span] = []
    cursor = 0  # everything before cursor (paragraph offsets) is assigned
    for sent, piece_start, piece_end in pieces:
        if paragraph[piece_start:piece_end] != sent:  # pysbd's span is off: find the text
            found = paragraph.find(sent.strip(), cursor) if sent.strip() else -1
            if found < 0:
                continue  # its text stays unassigned and becomes a sentence below
            piece_start, piece_end = found, found + len(sent.strip())
        piece_start = max(piece_start, cursor)
        if piece_end <= piece_start:
            continue
        if paragraph[cursor:piece_start].strip():  # text pysbd skipped
            spans.append(_stripped(document, start + cursor, start + piece_start))
        if paragraph[piece_start:piece_end].strip():
            spans.append(_stripped(document, start + piece_start, start + piece_end))
        cursor = piece_end
    if paragraph[cursor:].strip():
        spans.append(_stripped(document, start + cursor, end))
    return spans


def _stripped(document: str, start: int, end: int) -> Span:
    text = document[start:end]
    lead = len(text) - len(text.lstrip())
    trail = len(text) - len(text.rstrip())
    return Span(document[start + lead : end - trail], start + lead, end - trail)


# ---------------------------------------------------------------- planning
@dataclass(frozen=True)
class DocumentPlan:
    """What can be scored for one document: sentence units and window units.

    ``units`` are distinct spans (sentences, or token-cut pieces of over-long ones,
    first; then the windows that are not also a single sentence).
    ``sentence_units``/``window_units`` index into ``units``; ``window_sentences[k]`` is
    the range of sentence units window ``k`` covers.
    """

    claim: str
    units: tuple[Span, ...]
    sentence_units: tuple[int, ...]
    window_units: tuple[int, ...]
    window_sentences: tuple[tuple[int, int], ...]
    n_sentences: int


def plan_document(
    claim: str,
    document: str,
    tokenizer: Any,
    max_length: int,
    *,
    window_overlap: int = WINDOW_OVERLAP,
) -> DocumentPlan:
    """Split ``document`` into sentences and windows that fit with ``claim``.

    A window is one or more consecutive sentences whose tokens fit ``max_length``
    together with the claim and the special tokens; consecutive windows share
    ``window_overlap`` sentences (0 or 1). A sentence longer than that budget is cut on
    token boundaries into pieces that fit, and the pieces take its place.
    """
    sentences = split_sentences(document)
    budget = max(
        MIN_BUDGET,
        max_length - _count_tokens(tokenizer, [claim])[0] - _special_tokens(tokenizer),
    )
    pieces: list[Span] = []
    lengths: list[int] = []
    groups: list[int] = []  # runs of sentences not broken by a credit line
    group = 0
    for sentence, n_tokens in zip(
        sentences, _count_tokens(tokenizer, [s.text for s in sentences]), strict=True
    ):
        if is_credit_line(sentence.text):
            group += 1  # not scored, never evidence, and no window spans it
            continue
        cut = (
            [(sentence, n_tokens)]
            if n_tokens <= budget
            else _cut_on_tokens(document, sentence, tokenizer, budget)
        )
        for piece, n in cut:
            pieces.append(piece)
            lengths.append(n)
            groups.append(group)
    ranges = []
    for first in [i for i in range(len(pieces)) if i == 0 or groups[i] != groups[i - 1]]:
        last = first
        while last < len(pieces) and groups[last] == groups[first]:
            last += 1
        ranges += [
            (first + i, first + j)
            for i, j in build_windows(lengths[first:last], budget, window_overlap)
        ]
    units = list(pieces)
    window_units = []
    for i, j in ranges:
        if j - i == 1:
            window_units.append(i)  # a one-sentence window is that sentence's unit
        else:
            start, end = pieces[i].start, pieces[j - 1].end
            window_units.append(len(units))
            units.append(Span(document[start:end], start, end))
    return DocumentPlan(
        claim=claim,
        units=tuple(units),
        sentence_units=tuple(range(len(pieces))),
        window_units=tuple(window_units),
        window_sentences=tuple(ranges),
        n_sentences=len(sentences),
    )


_CREDIT_LINE = re.compile(
    r"""^[(\[]?\s*(?:photo|photograph|image|picture|video|graphic|illustration|file\ photo)s?
        \b[^.!?]{0,80}?\b(?:by|credit|courtesy)\b     # (Photo by Jane Doe / AFP)
    |^[(\[]?\s*(?:(?:photo|image|picture)\ )?(?:photo|image|picture|credit|caption
        |pictured)s?\s*:                          # Photo: AFP, Image caption: ...
    |[/|]\s*(?:AFP|AP|Reuters|EPA|Getty\ Images|Shutterstock|Alamy)\b[^.!?]{0,40}$
    |\b(?:AFP|Reuters|EPA)\s*/\s*[A-Z][\w'-]+(?:\s+[A-Z][\w'-]+){0,3}\s*\)?$  # REUTERS/Name
    |^\(?(?:AFP|AP|Reuters|EPA)\s+(?:photo|via\ Getty\ Images)
    |^by\s+[A-Z][\w.'-]+(?:\s+[A-Z][\w.'-]+){0,3}
        (?:\s*(?:,|and|&)\s*[A-Z][\w.'-]+(?:\s+[A-Z][\w.'-]+){0,3})*
        (?:\s*[,|-]\s*[A-Z][\w.' -]{0,40})?\s*$     # By Jane Doe, Reuters
    |^\(?(?:reporting|writing|editing|additional\ reporting)\s+by\b  # Reporting by ...
    |^(?:copyright|\u00a9)                           # (c) 2024 Agency
    |^follow\s+[\w .'-]{1,60}\s+on\s+twitter\b
    """,
    re.IGNORECASE | re.VERBOSE,
)


def is_credit_line(text: str) -> bool:
    """Whether a sentence is a photo credit, caption label, byline or copyright line:
    document mode neither scores it nor returns it as evidence.

    >>> is_credit_line("(Photo by Alexander Nemenov / AFP)")
    True
    >>> is_credit_line("By Jane Doe and John Smith, Reuters")
    True
    >>> is_credit_line("By the end of May the offensive had stalled.")
    False
    """
    return len(text) <= 200 and _CREDIT_LINE.search(text.strip()) is not None


def build_windows(
    lengths: Sequence[int], budget: int, overlap: int = WINDOW_OVERLAP
) -> list[tuple[int, int]]:
    """Greedy windows ``[i, j)`` over items of the given token lengths.

    Every item is in a window; a window holds items summing to at most ``budget`` (an
    item alone over budget gets a window of its own). With ``overlap=1`` consecutive
    windows share one item (a window of one item shares none); with ``overlap=0`` the
    windows partition the items.

    >>> build_windows([4, 4, 4, 4], budget=8)
    [(0, 2), (2, 4)]
    >>> build_windows([4, 4, 4, 4], budget=8, overlap=1)
    [(0, 2), (1, 3), (2, 4)]
    >>> build_windows([3, 3], budget=10)
    [(0, 2)]
    """
    if overlap not in (0, 1):
        raise ConfigError(f"window overlap must be 0 or 1 sentences, got {overlap!r}")
    windows: list[tuple[int, int]] = []
    n, i = len(lengths), 0
    while i < n:
        j, total = i + 1, lengths[i]
        while j < n and total + lengths[j] <= budget:
            total += lengths[j]
            j += 1
        windows.append((i, j))
        if j >= n:
            break
        i = j - overlap if j - overlap > i else j
    return windows


def _special_tokens(tokenizer: Any) -> int:
    try:
        return int(tokenizer.num_special_tokens_to_add(pair=True))
    except Exception:  # pragma: no cover - exotic tokenizers
        return 4


_slow_tokenizer_lock = threading.Lock()  # slow (Python) tokenizers are not thread-safe


def _count_tokens(tokenizer: Any, texts: Sequence[str]) -> list[int]:
    if not texts:
        return []
    backend = plain_backend(tokenizer)
    if backend is not None:
        return [len(e.ids) for e in backend.encode_batch(list(texts), add_special_tokens=False)]
    with _slow_tokenizer_lock:
        ids = tokenizer(list(texts), add_special_tokens=False, truncation=False)["input_ids"]
    return [len(x) for x in ids]


def _cut_on_tokens(
    document: str, sentence: Span, tokenizer: Any, budget: int
) -> list[tuple[Span, int]]:
    """Cut an over-long sentence into pieces of at most ``budget`` tokens."""
    backend = plain_backend(tokenizer)
    if backend is not None:
        offsets = backend.encode(sentence.text, add_special_tokens=False).offsets
    else:
        offsets = _word_offsets(sentence.text, tokenizer)  # slow tokenizers
    offsets = [(a, b) for a, b in offsets if b > a] or [(0, len(sentence.text))]
    pieces = []
    for k in range(0, len(offsets), budget):
        chunk = offsets[k : k + budget]
        start, end = chunk[0][0], chunk[-1][1]
        if k + budget < len(offsets):  # end where the next token starts: no text lost
            end = offsets[k + budget][0]
        if k == 0:
            start = 0
        piece = _stripped(document, sentence.start + start, sentence.start + end)
        pieces.append((piece, len(chunk)))
    return pieces


def _word_offsets(text: str, tokenizer: Any) -> list[tuple[int, int]]:
    offsets = []
    with _slow_tokenizer_lock:
        for match in re.finditer(r"\S+", text):
            n = max(1, len(tokenizer.tokenize(match.group())))
            offsets.extend([(match.start(), match.end())] * n)
    return offsets


# ---------------------------------------------------------------- scoring
ProbaFn = Callable[..., tuple[np.ndarray, np.ndarray]]


def classifier_proba(clf: Any) -> ProbaFn:
    """The ``proba_fn`` of :func:`score_plans` for a :class:`stance.StanceClassifier`:
    its runtime's probabilities at its temperature.

    >>> probabilities, truncated = classifier_proba(clf)(["claim"], ["text"])  # doctest: +SKIP
    """
    return functools.partial(clf.runtime.probabilities, temperature=clf.temperature)


def score_plans(
    plans: Sequence[DocumentPlan],
    proba_fn: ProbaFn,
    labels: Sequence[str],
    aggregation: str | Aggregation | None = None,
    *,
    evidence_per_label: int = 1,
    on_batch: Any = None,
) -> tuple[list[np.ndarray], list[int]]:
    """Score what ``aggregation`` and the evidence need, batched over all ``plans``.

    ``proba_fn(claims, texts, on_batch=...)`` returns probabilities and a truncation mask,
    as :func:`classifier_proba` of a classifier does (or a fake in tests). The
    units the aggregation reads go in ONE call for all documents, so they are sorted by
    length and batched together; with a ``sentence_gate`` that call scores the windows and
    a second one the sentences the windows open, and the evidence comes from those
    sentences (a stance label that no window gives the gate's probability has no
    evidence sentence). Without a gate, when the aggregation leaves sentences unscored, a
    last call scores the sentences of each document's best window for each stance label,
    for the evidence.
    Returns each plan's unit probabilities (``NaN`` rows for units not scored) and how
    many of its scored units were truncated.
    """
    agg = resolve_aggregation(aggregation)
    probabilities = [np.full((len(plan.units), len(labels)), np.nan) for plan in plans]
    truncated = [0] * len(plans)
    columns = _stance_columns(labels)
    if agg.sentence_gate is None:
        wanted = [_aggregated_rows(plan, agg.units) for plan in plans]
        _fill(plans, wanted, probabilities, truncated, proba_fn, on_batch)
    else:
        wanted = [_aggregated_rows(plan, "windows") for plan in plans]
        _fill(plans, wanted, probabilities, truncated, proba_fn, on_batch)
        wanted = [
            [r for r in _read_rows(plan, p, agg, columns) if np.isnan(p[r, 0])]
            for plan, p in zip(plans, probabilities, strict=True)
        ]
        _fill(plans, wanted, probabilities, truncated, proba_fn, on_batch)
    if evidence_per_label > 0 and agg.sentence_gate is None:
        wanted = [
            _evidence_rows(plan, p, columns) for plan, p in zip(plans, probabilities, strict=True)
        ]
        _fill(plans, wanted, probabilities, truncated, proba_fn, on_batch)
    return probabilities, truncated


def _fill(
    plans: Sequence[DocumentPlan],
    wanted: list[list[int]],
    probabilities: list[np.ndarray],
    truncated: list[int],
    proba_fn: ProbaFn,
    on_batch: Any,
) -> None:
    claims = [plan.claim for plan, rows in zip(plans, wanted, strict=True) for _ in rows]
    if not claims:
        return
    texts = [plan.units[r].text for plan, rows in zip(plans, wanted, strict=True) for r in rows]
    probs, cut = proba_fn(claims, texts, on_batch=on_batch)
    k = 0
    for d, rows in enumerate(wanted):
        n = len(rows)
        probabilities[d][rows] = probs[k : k + n]
        truncated[d] += int(np.asarray(cut[k : k + n]).sum())
        k += n


def _aggregated_rows(plan: DocumentPlan, units: str) -> list[int]:
    if units == "sentences":
        return list(plan.sentence_units)
    if units == "windows":
        return sorted(set(plan.window_units))
    return list(range(len(plan.units)))


def _read_rows(
    plan: DocumentPlan, p: np.ndarray, agg: Aggregation, columns: list[int]
) -> list[int]:
    """The units ``agg`` reads: its ``units``, or with a sentence gate the windows, the
    sentences of the windows whose best ``columns`` probability reaches the gate, the
    sentences that hold ``claim_overlap`` of the claim's content words and, with
    ``open_quotes``, the sentences with a quotation mark."""
    if agg.sentence_gate is None:
        return _aggregated_rows(plan, agg.units)
    rows = set(plan.window_units)
    for window, (i, end) in zip(plan.window_units, plan.window_sentences, strict=True):
        if np.nanmax(p[window, columns]) >= agg.sentence_gate:
            rows.update(range(i, end))
    if agg.claim_overlap is not None and (claim := content_words(plan.claim)):
        wanted = agg.claim_overlap * len(claim)
        rows.update(
            i
            for i in plan.sentence_units
            if len(claim & content_words(plan.units[i].text)) >= wanted
        )
    if agg.open_quotes:
        rows.update(i for i in plan.sentence_units if _QUOTATION_MARK.search(plan.units[i].text))
    return sorted(rows)


# double quotation marks (" “ ” „ « »), or a single one that opens a quote ('No,' / ‘No,’):
# after a space or bracket and before a letter, so apostrophes (it's, workers') do not count
_QUOTATION_MARK = re.compile("[\"\u201c\u201d\u201e\u00ab\u00bb]|(?:^|[\\s(\\[])['\u2018]\\w")
_CONTENT_WORD = re.compile(r"\w{3,}")


@functools.lru_cache(maxsize=1)
def _stop_words() -> frozenset[str]:
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    return frozenset(ENGLISH_STOP_WORDS)


def content_words(text: str) -> frozenset[str]:
    """Lower-cased words of three or more characters, without scikit-learn's English stop
    words: what ``claim_overlap`` compares.

    >>> sorted(content_words("The bridge over the Dnipro was not closed in 2019."))
    ['2019', 'bridge', 'closed', 'dnipro']
    """
    return frozenset(w for w in _CONTENT_WORD.findall(text.lower()) if w not in _stop_words())


def _stance_columns(labels: Sequence[str]) -> list[int]:
    """Indices of the labels that get evidence: the non-neutral ones, or all if none is."""
    stance = [j for j, label in enumerate(labels) if label not in NEUTRAL_LABELS]
    return stance or list(range(len(labels)))


def evidence_labels(labels: Sequence[str]) -> list[str]:
    """The labels that get evidence: the non-neutral ones, or all if none is.

    >>> evidence_labels(("support", "denial", "neutral"))
    ['support', 'denial']
    """
    return [labels[j] for j in _stance_columns(labels)]


def _evidence_rows(plan: DocumentPlan, p: np.ndarray, columns: list[int]) -> list[int]:
    """Unscored sentence units of the best-scoring window for each stance column."""
    sentence_rows = np.asarray(plan.sentence_units, dtype=int)
    if not len(sentence_rows) or not np.isnan(p[sentence_rows, 0]).any():
        return []
    window_rows = np.asarray(plan.window_units, dtype=int)
    rows: set[int] = set()
    for j in columns:
        best = int(np.nanargmax(p[window_rows, j]))
        i, end = plan.window_sentences[best]
        rows.update(r for r in range(i, end) if np.isnan(p[r, 0]))
    return sorted(rows)


# ---------------------------------------------------------------- aggregation
def aggregate(
    plan: DocumentPlan,
    unit_probabilities: np.ndarray,
    labels: Sequence[str],
    aggregation: str | Aggregation | None = None,
    *,
    evidence_per_label: int = 1,
    truncated: int = 0,
) -> DocumentPrediction:
    """Turn unit probabilities (rows in ``plan.units`` order; ``NaN`` = not scored) into a
    :class:`DocumentPrediction`. Evidence comes from the scored sentence units."""
    agg = resolve_aggregation(aggregation)
    labels = tuple(labels)
    p = np.asarray(unit_probabilities, dtype=np.float64)
    rows = np.asarray(_read_rows(plan, p, agg, _stance_columns(labels)), dtype=int)
    chosen = p[rows]
    if np.isnan(chosen).any():
        raise ValueError(f"aggregation {agg} needs units that were not scored")
    stance = [j for j, label in enumerate(labels) if label not in NEUTRAL_LABELS]
    neutral = [j for j, label in enumerate(labels) if label in NEUTRAL_LABELS]
    if agg.method == "mean" or not stance:
        scores = chosen.mean(axis=0)
    elif not neutral:
        scores = chosen.max(axis=0)
    else:
        scores = np.zeros(len(labels))
        t = float(agg.threshold)
        # a sentence that is a whole window on its own is judged as a window
        is_sentence = ~np.isin(rows, plan.window_units)
        unit_t = np.where(is_sentence, agg.sentence_threshold or t, t)[:, None]
        scores[stance] = _rescale(chosen[:, stance], unit_t, t).max(axis=0)
        strongest = float(scores[stance].max())
        neutral_mass = t * (1.0 - strongest) / (1.0 - t)
        share = chosen[:, neutral].mean(axis=0)
        share = share / share.sum() if share.sum() > 0 else np.full(len(neutral), 1 / len(neutral))
        scores[neutral] = neutral_mass * share
    total = scores.sum()
    scores = scores / total if total > 0 else np.full(len(labels), 1 / len(labels))
    label = labels[int(scores.argmax())]
    return DocumentPrediction(
        label=label,
        probabilities={lab: float(s) for lab, s in zip(labels, scores, strict=True)},
        evidence=_evidence(plan, p, labels, _stance_columns(labels), evidence_per_label),
        n_sentences=plan.n_sentences,
        n_windows=len(plan.window_units),
        truncated=truncated,
    )


def _rescale(p: np.ndarray, unit_t: np.ndarray, t: float) -> np.ndarray:
    """Map each unit's probabilities piecewise-linearly so that its own threshold lands on ``t``.

    >>> _rescale(np.array([[0.8]]), np.array([[0.8]]), 0.5).tolist()
    [[0.5]]
    """
    below = p * t / unit_t
    above = t + (p - unit_t) * (1.0 - t) / (1.0 - unit_t)
    return np.where(p <= unit_t, below, above)


def _evidence(
    plan: DocumentPlan, p: np.ndarray, labels: Sequence[str], columns: list[int], k: int
) -> tuple[Evidence, ...]:
    out = []
    sentence_rows = np.asarray(plan.sentence_units, dtype=int)
    sentence_rows = sentence_rows[~np.isnan(p[sentence_rows, 0])] if len(sentence_rows) else []
    for j in columns if k > 0 else []:
        order = sentence_rows[np.argsort(-p[sentence_rows, j], kind="stable")][:k]
        for row in order:
            unit = plan.units[row]
            out.append(Evidence(labels[j], float(p[row, j]), unit.text, unit.start, unit.end))
    return tuple(out)


# ---------------------------------------------------------------- the whole thing
def predict_documents(
    clf: Any,
    claims: Sequence[str],
    documents: Sequence[str],
    aggregation: str | Aggregation | None = None,
    *,
    evidence_per_label: int = 1,
    on_batch: Any = None,
) -> list[DocumentPrediction]:
    """Document predictions for validated (claim, document) texts, batched over all of them.

    ``clf`` is a :class:`stance.StanceClassifier`.
    """
    agg = resolve_aggregation(aggregation)
    plans = [
        plan_document(claim, document, clf.tokenizer, clf.max_length)
        for claim, document in zip(claims, documents, strict=True)
    ]
    probabilities, truncated = score_plans(
        plans,
        classifier_proba(clf),
        clf.labels,
        agg,
        evidence_per_label=evidence_per_label,
        on_batch=on_batch,
    )
    return [
        aggregate(plan, probs, clf.labels, agg, evidence_per_label=evidence_per_label, truncated=n)
        for plan, probs, n in zip(plans, probabilities, truncated, strict=True)
    ]
