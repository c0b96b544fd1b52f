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
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from stance import io
from stance.data import check_first_rows, column_values
from stance.documents import evidence_labels, predict_documents, resolve_aggregation
from stance.errors import ConfigError, InputDataError, did_you_mean
from stance.model import StanceClassifier, context_for_model, context_values, text_problem

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


def output_columns(labels: tuple[str, ...], prefix: str = "") -> list[str]:
    """Names of the columns scoring adds, in order.

    >>> output_columns(("support", "denial"))
    ['label', 'p_support', 'p_denial', 'error']
    """
    return [f"{prefix}label", *(f"{prefix}p_{label}" for label in labels), f"{prefix}error"]


def check_columns(
    columns: list[str],
    claim_column: str,
    response_column: str,
    added: list[str],
    source: str,
    context_column: str | None = None,
) -> None:
    """Fail clearly when a text column is missing or an added column already exists.

    ``context_column`` may be dotted (``meta.parent_text``): its first part must exist.
    """
    wanted = [
        ("claim", claim_column, "--claim-column"),
        ("response", response_column, "--response-column"),
    ]
    if context_column is not None:
        wanted.append(("context", context_column, "--context-column"))
    for role, name, option in wanted:
        present = name in columns or (role == "context" and name.partition(".")[0] in columns)
        if not present:
            raise InputDataError(
                f"{source} has no {role} column {name!r}; columns found: {columns}."
                f"{did_you_mean(name, columns)} Pass the right name with {option}."
            )
    clashes = [c for c in added if c in columns]
    if clashes:
        raise InputDataError(
            f"{source} already has column(s) {clashes}, which scoring would overwrite; "
            "rename them, or pass --prefix pred_ to name the new columns pred_label, ..."
        )


def score_frame(
    frame: pd.DataFrame,
    clf: StanceClassifier,
    claim_column: str = "claim",
    response_column: str = "response",
    prefix: str = "",
    on_batch: Any = None,
    documents: bool = False,
    aggregation: Any = None,
    context_column: str | None = None,
) -> tuple[pd.DataFrame, int]:
    """Score one DataFrame; returns it with the added columns and the truncated count.

    Rows whose claim or response is missing, empty or not text get an ``error`` and no
    label; they are never dropped. ``context_column`` (dotted names reach into dict
    columns; needs a model trained with context) gives each row its context: a missing
    or empty one means none, a value that is not text is a row error. With
    ``documents=True`` each response is a whole document (see ``stance.documents``): the
    label and probabilities are the document's, the evidence columns
    (:func:`evidence_columns`) are added, and ``on_batch`` is called once with the number
    of documents.
    """
    labels = clf.labels
    n = len(frame)
    errors = np.full(n, "", dtype=object)
    claims = frame[claim_column].tolist()
    responses = frame[response_column].tolist()
    for i in range(n):
        problems = []
        for role, value in (("claim", claims[i]), ("response", responses[i])):
            problem = text_problem(value)
            if problem:
                problems.append(f"{role} {problem}")
        if problems:
            errors[i] = "; ".join(problems)
    contexts: list[str | None] | None = None
    if context_column is not None:
        check_context_option(documents, context_column)
        contexts, context_problems = context_values(
            column_values(frame, context_column, "the input").tolist()
        )
        for i, problem in context_problems:
            errors[i] = "; ".join(filter(None, [errors[i], f"context {problem}"]))
    valid = np.flatnonzero(errors == "")
    probabilities = np.full((n, len(labels)), np.nan)
    truncated = 0
    evidence: dict[str, list[Any]] = {}
    if documents:
        truncated = _add_document_scores(
            clf, claims, responses, valid, probabilities, evidence, prefix, aggregation
        )
        if on_batch is not None and len(valid):
            on_batch(len(valid))
    elif len(valid):
        probs, cut = clf.runtime.probabilities(
            [claims[i] for i in valid],
            [responses[i] for i in valid],
            None if contexts is None else [contexts[i] for i in valid],
            temperature=clf.temperature,
            on_batch=on_batch,
        )
        probabilities[valid] = probs
        truncated = int(cut.sum())
    predicted = np.full(n, None, dtype=object)
    if len(valid):
        predicted[valid] = np.asarray(labels, dtype=object)[probabilities[valid].argmax(axis=1)]
    out = frame.copy()
    out[f"{prefix}label"] = predicted
    for j, label in enumerate(labels):
        out[f"{prefix}p_{label}"] = probabilities[:, j]
    out[f"{prefix}error"] = errors
    for column, values in evidence.items():
        # object dtype: offsets stay ints beside the None of unscored rows (not 54.0 and NaN)
        out[column] = pd.Series(values, index=out.index, dtype=object)
    return out, truncated


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
    claim_column: str = "claim",
    response_column: str = "response",
    prefix: str = "",
    resume: bool = False,
    progress: bool = True,
    chunk_rows: int | None = None,
    documents: bool = False,
    aggregation: Any = None,
    context_column: str | None = None,
) -> ScoreSummary:
    """Score every row of ``input_path`` into ``output_path`` (formats by extension).

    ``documents=True``: each response is a whole document (``stance score --documents``);
    rows are committed in chunks of :data:`DOCUMENT_CHUNK_ROWS`. ``context_column``:
    the column holding the post each response answers (``stance score
    --context-column``); a model trained without context ignores it with a
    :class:`~stance.model.ContextWarning`, and a model trained with context scored
    without one warns too.

    >>> score_file("replies.jsonl", "scored.jsonl", clf,
    ...            context_column="meta.parent_text")  # doctest: +SKIP
    """
    started = time.perf_counter()
    check_context_option(documents, context_column)
    check_paths(input_path, output_path)
    input_path, output_path = Path(input_path), Path(output_path)
    added = output_columns(clf.labels, prefix)
    if documents:
        aggregation = resolve_aggregation(aggregation)
        added += evidence_columns(clf.labels, prefix)
    chunk_rows = chunk_rows or (DOCUMENT_CHUNK_ROWS if documents else CHUNK_ROWS)
    columns = io.read_columns(input_path)
    if columns:
        check_columns(
            columns, claim_column, response_column, added, str(input_path), context_column
        )
    if context_column is not None and context_column not in columns:
        check_first_rows(input_path, context_column, "--context-column")
    use_context = context_column
    if not documents and not context_for_model(clf, context_column is not None, stacklevel=2):
        use_context = None  # a model trained without context: warned, the column ignored
    stat = input_path.stat()
    fingerprint = {
        "input": str(input_path.resolve()),
        "input_size": stat.st_size,
        "input_mtime_ns": stat.st_mtime_ns,
        "model": str(clf.info.get("source", "")),
        "labels": list(clf.labels),
        "claim_column": claim_column,
        "response_column": response_column,
        "prefix": prefix,
    }
    if context_column is not None:
        fingerprint["context_column"] = context_column
    if documents:
        fingerprint["documents"] = repr(aggregation)
    writer = io.ResumableWriter.open(output_path, fingerprint, resume=resume)
    summary = ScoreSummary(output=output_path, resumed_rows=writer.rows_done, rows=writer.rows_done)
    bar = _progress_bar(io.count_rows(input_path), writer.rows_done, enabled=progress)
    try:
        for chunk in io.iter_batches(input_path, chunk_rows, skip_rows=writer.rows_done):
            check_columns(
                [str(c) for c in chunk.columns],
                claim_column,
                response_column,
                added,
                str(input_path),
                context_column,
            )
            scored, truncated = score_frame(
                chunk,
                clf,
                claim_column,
                response_column,
                prefix,
                on_batch=bar.update,
                documents=documents,
                aggregation=aggregation,
                context_column=use_context,
            )
            bad = scored[f"{prefix}error"] != ""
            bar.update(int(bad.sum()))
            for reason, count in scored.loc[bad, f"{prefix}error"].value_counts().items():
                summary.errors_by_reason[reason] = summary.errors_by_reason.get(reason, 0) + count
            writer.append(scored)
            summary.rows += len(scored)
            summary.error_rows += int(bad.sum())
            summary.scored += int((~bad).sum())
            summary.truncated += truncated
    finally:
        bar.close()
    writer.finalize()
    summary.seconds = time.perf_counter() - started
    return summary


def _progress_bar(total: int | None, initial: int, enabled: bool) -> Any:
    from tqdm.auto import tqdm

    return tqdm(
        total=total,
        initial=initial,
        unit=" rows",
        unit_scale=True,
        smoothing=0.1,
        dynamic_ncols=True,
        file=sys.stderr,
        desc="scoring",
        disable=not enabled,
    )


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


def _add_document_scores(
    clf: Any,
    claims: Sequence[Any],
    documents: Sequence[Any],
    valid: Sequence[int],
    probabilities: np.ndarray,
    evidence: dict[str, list[Any]],
    prefix: str = "",
    aggregation: Any = None,
) -> int:
    """Document mode: fill rows ``valid`` of ``probabilities``.

    ``evidence`` receives one list per :func:`evidence_columns` column (``None`` in rows
    that are not scored). Returns how many scored units were truncated.
    """
    n = len(probabilities)
    columns = evidence_columns(clf.labels, prefix)
    for column in columns:
        evidence[column] = [None] * n
    if not len(valid):
        return 0
    results = predict_documents(
        clf, [claims[i] for i in valid], [documents[i] for i in valid], aggregation
    )
    stance = evidence_labels(clf.labels)
    for i, result in zip(valid, results, strict=True):
        probabilities[i] = [result.probabilities[label] for label in clf.labels]
        for label in stance:
            best = result.top(label)
            if best is None:
                continue
            base = f"{prefix}evidence_{label}"
            evidence[base][i] = best.text
            evidence[f"{base}_score"][i] = best.score
            evidence[f"{base}_start"][i] = best.start
            evidence[f"{base}_end"][i] = best.end
    return sum(result.truncated for result in results)
