"""Batch scoring of files of pairs: the engine behind ``stance score``.

Reads the input in chunks, scores the valid rows, and commits each chunk to a
crash-safe partial output, so memory stays flat and an interrupted run (even
``kill -9``) resumes where it stopped. The output keeps every input column and row
order and adds ``label``, one ``p_<label>`` column per label, and ``error``. A
``context_column`` (dotted names reach into dict columns) gives each reply the post it
answers, for models trained with context.

>>> summary = score_file("pairs.csv", "scored.csv", clf)  # doctest: +SKIP
>>> summary.error_rows  # doctest: +SKIP
0
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from stance import io
from stance.columns import (
    PAIR_OPTIONS,
    Columns,
    PairOptions,
    check_added,
    check_columns,
    check_table,
    column_values,
    columns_for_model,
    context_values,
    output_columns,
    row_problems,
)
from stance.documents import evidence_labels, predict_documents, resolve_aggregation
from stance.errors import ConfigError, InputDataError
from stance.progress import progress_bar

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from stance.model import StanceClassifier

CHUNK_ROWS = 2048
DOCUMENT_CHUNK_ROWS = 64  # a document is tens of units: commit (and show progress) sooner


@dataclass
class ScoreSummary:
    """What a scoring run did; ``rows`` counts this run's rows plus resumed ones."""

    output: Path
    rows: int = 0
    scored: int = 0
    error_rows: int = 0
    truncated: int = 0
    resumed_rows: int = 0
    seconds: float = 0.0
    errors_by_reason: dict[str, int] = field(default_factory=dict)

    @property
    def rows_per_second(self) -> float:
        new_rows = self.rows - self.resumed_rows
        return new_rows / self.seconds if self.seconds > 0 else 0.0

    def add(self, errors: pd.Series, truncated: int) -> None:
        """Count a committed chunk: its ``error`` column and its truncated pairs."""
        bad = errors != ""
        for reason, count in errors[bad].value_counts().items():
            self.errors_by_reason[reason] = self.errors_by_reason.get(reason, 0) + count
        self.rows += len(errors)
        self.error_rows += int(bad.sum())
        self.scored += int((~bad).sum())
        self.truncated += truncated


def score_frame(
    frame: pd.DataFrame,
    clf: StanceClassifier,
    *,
    on_batch: Any = None,
    documents: bool = False,
    aggregation: Any = None,
    **column_options: Unpack[PairOptions],
) -> tuple[pd.DataFrame, int]:
    """Score one DataFrame; returns it with the added columns and the truncated count.

    ``column_options``: a :class:`~stance.columns.Columns` as ``columns`` and/or
    ``claim_column``, ``response_column``, ``context_column`` and ``prefix``. Rows whose
    claim or response is missing, empty or not text get an ``error`` and no label; they
    are never dropped. ``context_column`` (dotted names reach into dict columns; needs a
    model trained with context) gives each row its context: a missing or empty one means
    none, a value that is not text is a row error. With ``documents=True`` each response
    is a whole document (see ``stance.documents``): the label and probabilities are the
    document's, the evidence columns (:func:`evidence_columns`) are added, and
    ``on_batch`` is called once with the number of documents.
    """
    columns = Columns.from_options(column_options, PAIR_OPTIONS)
    check_context_option(documents, columns.context)
    values = {
        role: column_values(frame, name, "the input").tolist() for role, name in columns.roles()
    }
    errors = np.array(row_problems(values), dtype=object)
    valid = np.flatnonzero(errors == "")
    probabilities = np.full((len(frame), len(clf.labels)), np.nan)
    evidence: dict[str, list[Any]] = {}
    truncated = 0
    if documents:
        probabilities[valid], evidence, truncated = _score_documents(
            clf, values, valid, columns.prefix, aggregation
        )
        if on_batch is not None and len(valid):
            on_batch(len(valid))
    elif len(valid):
        probabilities[valid], truncated = _score_pairs(clf, values, valid, on_batch)
    out = _with_scores(frame, clf.labels, probabilities, errors, columns.prefix)
    for column, cells in evidence.items():
        # object dtype: offsets stay ints beside the None of unscored rows (not 54.0 and NaN)
        out[column] = pd.Series(cells, index=out.index, dtype=object)
    return out, truncated


def _score_pairs(
    clf: StanceClassifier, values: dict[str, list[Any]], valid: np.ndarray, on_batch: Any
) -> tuple[np.ndarray, int]:
    """Probabilities of the rows ``valid`` (their context too, when read) and how many
    of them were truncated."""
    contexts = None
    if "context" in values:
        cleaned = context_values(values["context"])[0]
        contexts = [cleaned[i] for i in valid]
    probabilities, cut = clf.runtime.probabilities(
        [values["claim"][i] for i in valid],
        [values["response"][i] for i in valid],
        contexts,
        temperature=clf.temperature,
        on_batch=on_batch,
    )
    return probabilities, int(cut.sum())


def _with_scores(
    frame: pd.DataFrame,
    labels: Sequence[str],
    probabilities: np.ndarray,
    errors: np.ndarray,
    prefix: str,
) -> pd.DataFrame:
    """A copy of ``frame`` with the :func:`output_columns` (no label where a row has none)."""
    predicted = np.full(len(frame), None, dtype=object)
    valid = np.flatnonzero(errors == "")
    if len(valid):
        predicted[valid] = np.asarray(labels, dtype=object)[probabilities[valid].argmax(axis=1)]
    out = frame.copy()
    out[f"{prefix}label"] = predicted
    for j, label in enumerate(labels):
        out[f"{prefix}p_{label}"] = probabilities[:, j]
    out[f"{prefix}error"] = errors
    return out


def check_context_option(documents: bool, context_column: str | None) -> None:
    """Refuse a context column in documents mode (documents are scored without context).

    >>> check_context_option(False, "meta.parent_text")
    """
    if documents and context_column is not None:
        raise ConfigError(
            f"--context-column ({context_column!r}) does not apply to --documents: a "
            "document is scored without conversation context. Drop --context-column, or "
            "score replies without --documents"
        )


def check_paths(input_path: str | os.PathLike[str], output_path: str | os.PathLike[str]) -> None:
    """Check that the input exists and both formats are known, before any work."""
    input_path, output_path = Path(input_path), Path(output_path)
    io.table_format(input_path)
    io.table_format(output_path)
    if not input_path.is_file():
        raise InputDataError(f"input file not found: {input_path}")
    if input_path.resolve() == output_path.resolve():
        raise InputDataError(
            f"the output {output_path} is the input file; write the scores to another file"
        )


def score_file(
    input_path: str | os.PathLike[str],
    output_path: str | os.PathLike[str],
    clf: StanceClassifier,
    *,
    resume: bool = False,
    progress: bool = True,
    chunk_rows: int | None = None,
    documents: bool = False,
    aggregation: Any = None,
    **column_options: Unpack[PairOptions],
) -> ScoreSummary:
    """Score every row of ``input_path`` into ``output_path`` (formats by extension).

    ``column_options``: as for :func:`score_frame` (``claim_column``,
    ``response_column``, ``context_column``, ``prefix``, or a ``columns`` value).
    ``documents=True``: each response is a whole document (``stance score
    --documents``); rows are committed in chunks of :data:`DOCUMENT_CHUNK_ROWS`.
    ``context_column``: the column holding the post each response answers (``stance
    score --context-column``); a model trained without context ignores it with a
    :class:`~stance.model.ContextWarning`, and a model trained with context scored
    without one warns too.

    >>> score_file("replies.jsonl", "scored.jsonl", clf,
    ...            context_column="meta.parent_text")  # doctest: +SKIP
    """
    started = time.perf_counter()
    columns = Columns.from_options(column_options, PAIR_OPTIONS)
    check_context_option(documents, columns.context)
    check_paths(input_path, output_path)
    input_path, output_path = Path(input_path), Path(output_path)
    if documents:
        aggregation = resolve_aggregation(aggregation)
    added = added_columns(clf.labels, columns.prefix, documents)
    check_table(input_path, columns, added=added)
    # a model trained without context: warned, the column ignored (documents have none)
    scored_columns = columns if documents else columns_for_model(clf, columns, stacklevel=2)
    fingerprint = _fingerprint(input_path, clf, columns, documents, aggregation)
    writer = io.ResumableWriter.open(output_path, fingerprint, resume=resume)
    summary = ScoreSummary(output=output_path, resumed_rows=writer.rows_done, rows=writer.rows_done)
    total = io.count_rows(input_path)
    bar = progress_bar(
        total, desc="scoring", unit="rows", initial=writer.rows_done, enabled=progress
    )
    chunk_rows = chunk_rows or (DOCUMENT_CHUNK_ROWS if documents else CHUNK_ROWS)
    try:
        for chunk in io.iter_batches(input_path, chunk_rows, skip_rows=writer.rows_done):
            found = [str(c) for c in chunk.columns]
            check_columns(found, columns, str(input_path))
            check_added(found, added, str(input_path))
            scored, truncated = score_frame(
                chunk,
                clf,
                on_batch=bar.update,
                documents=documents,
                aggregation=aggregation,
                columns=scored_columns,
            )
            errors = scored[f"{columns.prefix}error"]
            bar.update(int((errors != "").sum()))
            writer.append(scored)
            summary.add(errors, truncated)
    finally:
        bar.close()
    writer.finalize()
    summary.seconds = time.perf_counter() - started
    return summary


def added_columns(labels: Sequence[str], prefix: str = "", documents: bool = False) -> list[str]:
    """Every column ``stance score`` adds: :func:`~stance.columns.output_columns`, and with
    ``documents`` the :func:`evidence_columns`.

    >>> added_columns(("support", "denial"), "pred_")
    ['pred_label', 'pred_p_support', 'pred_p_denial', 'pred_error']
    """
    added = output_columns(labels, prefix)
    return added + evidence_columns(labels, prefix) if documents else added


def _fingerprint(
    input_path: Path, clf: StanceClassifier, columns: Columns, documents: bool, aggregation: Any
) -> dict[str, Any]:
    """What a resumed run must share with the interrupted one (input, model, options)."""
    stat = input_path.stat()
    fingerprint = {
        "input": str(input_path.resolve()),
        "input_size": stat.st_size,
        "input_mtime_ns": stat.st_mtime_ns,
        "model": str(clf.info.get("source", "")),
        "labels": list(clf.labels),
        "claim_column": columns.claim,
        "response_column": columns.response,
        "prefix": columns.prefix,
    }
    if columns.context is not None:
        fingerprint["context_column"] = columns.context
    if documents:
        fingerprint["documents"] = repr(aggregation)
    return fingerprint


def evidence_columns(labels: Sequence[str], prefix: str = "") -> list[str]:
    """Columns ``stance score --documents`` adds after the usual ones.

    >>> evidence_columns(("support", "denial", "neutral"))[:4]
    ['evidence_support', 'evidence_support_score', 'evidence_support_start', 'evidence_support_end']
    """
    return [
        f"{prefix}evidence_{label}{suffix}"
        for label in evidence_labels(labels)
        for suffix in ("", "_score", "_start", "_end")
    ]


def _score_documents(
    clf: Any,
    values: dict[str, list[Any]],
    valid: np.ndarray,
    prefix: str = "",
    aggregation: Any = None,
) -> tuple[np.ndarray, dict[str, list[Any]], int]:
    """Document mode: the probabilities of the rows ``valid``, one list per
    :func:`evidence_columns` column (``None`` in rows that are not scored), and how many
    scored units were truncated."""
    n = len(values["claim"])
    evidence: dict[str, list[Any]] = {
        column: [None] * n for column in evidence_columns(clf.labels, prefix)
    }
    if not len(valid):
        return np.zeros((0, len(clf.labels))), evidence, 0
    results = predict_documents(
        clf,
        [values["claim"][i] for i in valid],
        [values["response"][i] for i in valid],
        aggregation,
    )
    stance = evidence_labels(clf.labels)
    for i, result in zip(valid, results, strict=True):
        for label in stance:
            best = result.top(label)
            if best is None:
                continue
            base = f"{prefix}evidence_{label}"
            evidence[base][i] = best.text
            evidence[f"{base}_score"][i] = best.score
            evidence[f"{base}_start"][i] = best.start
            evidence[f"{base}_end"][i] = best.end
    probabilities = np.array([[r.probabilities[label] for label in clf.labels] for r in results])
    return probabilities, evidence, sum(result.truncated for result in results)
