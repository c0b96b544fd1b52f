"""Evaluate a classifier on a labelled file and write a report folder.

The engine behind ``stance eval``: reads any :mod:`stance.io` table (CSV, JSONL(.gz),
Parquet) in chunks, keeps the rows that match the filters, maps the data's labels onto
the model's (:class:`stance.labels.LabelMapping`), predicts, and computes
:func:`stance.metrics.compute_metrics`. Rows with a missing or empty claim, response or
label are counted per reason and left out of the metrics, never silently. An optional
``context_column`` gives each response the post it answers (a missing or empty context
means none), for models trained with context.

>>> from stance import StanceClassifier
>>> clf = StanceClassifier.load("path/to/model")  # doctest: +SKIP
>>> result = evaluate(clf, "test.jsonl", filters={"split": "test"})  # doctest: +SKIP
>>> round(result.metrics["accuracy"], 3)  # doctest: +SKIP
0.812
>>> write_report(result, "reports/test")  # doctest: +SKIP
{'metrics': PosixPath('reports/test/metrics.json'), ...}

Any object with a ``labels`` tuple and ``predict_proba(pairs)`` can be evaluated (the
suite runner's scikit-learn baselines are; with a context column it gets
``(claim, response, context)`` triples); a :class:`~stance.StanceClassifier` also
reports truncated pairs and shows a progress bar.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from itertools import compress
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from stance import io
from stance.columns import (
    LABELLED_OPTIONS,
    OPTIONS,
    Columns,
    LabelledOptions,
    check_nested_key,
    check_table,
    column_values,
    columns_for_model,
    context_values,
    parse_assignments,
    row_problems,
)
from stance.errors import InputDataError, OutputError
from stance.labels import LabelMapping
from stance.metrics import compute_metrics
from stance.progress import progress_bar

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = [
    "REPORT_FILES",
    "EvalResult",
    "LabelledData",
    "check_columns",
    "describe_filters",
    "error_rows",
    "evaluate",
    "parse_assignments",
    "predict_probabilities",
    "read_labelled",
    "write_report",
]

REPORT_FILES = {
    "metrics": "metrics.json",
    "report": "report.md",
    "confusion_matrix": "confusion_matrix.png",
    "reliability": "reliability.png",
    "errors": "errors.jsonl",
}
"""The files :func:`write_report` writes, by role."""

CHUNK_ROWS = 65536


@dataclass
class LabelledData:
    """The usable rows of a labelled file, with what was left out and why.

    ``gold`` holds labels already mapped onto the model's labels; ``rows`` the 0-based
    position of each kept row in the file; ``contexts`` one context per kept row
    (``None``: none) when a context column was read, else ``None``.
    """

    path: Path
    claims: list[str]
    responses: list[str]
    gold: list[str]
    rows: np.ndarray
    rows_read: int = 0
    rows_after_filter: int = 0
    excluded: dict[str, int] = field(default_factory=dict)
    contexts: list[str | None] | None = None

    @property
    def n_excluded(self) -> int:
        """Rows that matched the filters but were left out (missing or empty values)."""
        return sum(self.excluded.values())


@dataclass
class EvalResult:
    """Metrics of one evaluation plus one row per evaluated pair (``predictions``)."""

    metrics: dict[str, Any]
    predictions: pd.DataFrame
    labels: tuple[str, ...]
    data: LabelledData


# --------------------------------------------------------------------------- reading


def describe_filters(filters: Mapping[str, Any] | Iterable[str] | None) -> dict[str, list[str]]:
    """Filters as ``{column: sorted values}``, for reports.

    >>> describe_filters(["split=test"]), describe_filters({"split": ["dev", "test"]})
    ({'split': ['test']}, {'split': ['dev', 'test']})
    """
    return Columns(filters=filters).describe_filters()


def check_columns(path: str | os.PathLike[str], **column_options: Unpack[LabelledOptions]) -> None:
    """Fail fast (before a model loads) when the file or a named column is missing.

    Takes the column options of :func:`evaluate`; the rule is
    :func:`stance.columns.check_columns`.

    >>> check_columns("test.csv", label_column="stance")  # doctest: +SKIP
    """
    path = Path(path)
    io.table_format(path)
    if not path.is_file():
        raise InputDataError(f"input file not found: {path}")
    check_table(path, Columns.from_options(column_options, LABELLED_OPTIONS), labelled=True)


def read_labelled(
    path: str | os.PathLike[str],
    labels: Iterable[str],
    *,
    chunk_rows: int = CHUNK_ROWS,
    **column_options: Unpack[LabelledOptions],
) -> LabelledData:
    """Read the rows of ``path`` that match the filters and map their labels onto ``labels``.

    ``column_options``: a :class:`~stance.columns.Columns` as ``columns`` and/or its
    fields as keywords (``claim_column``, ``label_map``, ``filters``, ...). ``filters``
    maps a column (dotted names reach into dict columns) to a value or a list of values,
    compared as text; several columns must all match. ``label_map`` maps data labels to
    ``labels`` (labels already in ``labels`` map to themselves); an unmapped label fails
    with its count. Rows with a missing or empty claim, response or label are counted in
    ``excluded`` by reason. ``context_column`` (dotted names reach in) fills
    ``contexts``: a missing or empty context is none, a value that is not text excludes
    its row.

    >>> data = read_labelled("dev.jsonl", ("support", "denial", "neutral"),
    ...                      filters={"split": "dev"})  # doctest: +SKIP
    >>> data.excluded  # doctest: +SKIP
    {'response is empty': 2}
    """
    path = Path(path)
    columns = Columns.from_options(column_options, LABELLED_OPTIONS)
    mapping = LabelMapping(columns.label_map, tuple(labels))
    kept = _KeptRows(columns, str(path))
    for chunk in io.iter_batches(path, chunk_rows):
        kept.add(chunk)
    kept.check_filters_kept_some()
    return LabelledData(
        path=path,
        claims=kept.values["claim"],
        responses=kept.values["response"],
        gold=mapping.apply(kept.values["label"], source=kept.source),
        rows=np.concatenate(kept.rows) if kept.rows else np.zeros(0, dtype=np.int64),
        rows_read=kept.rows_read,
        rows_after_filter=kept.rows_after_filter,
        excluded=dict(kept.excluded.most_common()),
        contexts=kept.values.get("context"),
    )


class _KeptRows:
    """The rows :func:`read_labelled` keeps, chunk by chunk, with the counts it reports."""

    def __init__(self, columns: Columns, source: str) -> None:
        self.columns = columns
        self.source = source
        self.roles = columns.roles(labelled=True)
        self.values: dict[str, list[Any]] = {role: [] for role, _ in self.roles}
        self.rows: list[np.ndarray] = []
        self.seen: dict[str, Counter[str]] = {key: Counter() for key in columns.filters}
        self.excluded: Counter[str] = Counter()
        self.rows_read = self.rows_after_filter = 0

    def add(self, chunk: pd.DataFrame) -> None:
        """Filter ``chunk``, keep its usable rows and count the others by reason."""
        if self.columns.context is not None and not self.rows_read:
            fix = f"Pass the right name with {OPTIONS['context']}."
            check_nested_key(chunk, self.columns.context, self.source, fix)
        self.rows_read += len(chunk)
        chunk = chunk[self.columns.keep(chunk, self.source, self.seen)]
        self.rows_after_filter += len(chunk)
        if not len(chunk):
            return
        values = {
            role: column_values(chunk, name, self.source).tolist() for role, name in self.roles
        }
        problems = row_problems(values)
        self.excluded.update(problem for problem in problems if problem)
        good = [not problem for problem in problems]
        self.rows.append(chunk.index.to_numpy()[np.asarray(good, dtype=bool)])
        if "context" in values:
            values["context"] = context_values(values["context"])[0]
        for role, column in values.items():
            self.values[role] += compress(column, good)

    def check_filters_kept_some(self) -> None:
        """Fail when the filters left no row of a file that has rows, listing the values seen."""
        if self.columns.filters and self.rows_read and not self.rows_after_filter:
            present = {key: dict(counter.most_common(10)) for key, counter in self.seen.items()}
            raise InputDataError(
                f"{self.source}: the filter {self.columns.describe_filters()} keeps none of "
                f"its {self.rows_read:,} rows; values present: {present}"
            )


# --------------------------------------------------------------------------- predicting


def predict_probabilities(
    model: Any,
    claims: list[str],
    responses: list[str],
    progress: bool = False,
    contexts: list[str | None] | None = None,
) -> tuple[np.ndarray, int]:
    """Probabilities (columns in ``model.labels`` order) and the number of truncated pairs.

    ``contexts`` (one per pair, ``None``: none) go to the model as they are; a
    :class:`~stance.StanceClassifier` trained without context refuses them, so pass them
    through :func:`stance.model.context_for_model` first (``evaluate`` does).
    """
    if hasattr(model, "runtime"):
        bar = progress_bar(len(claims), desc="evaluating", unit="pairs", enabled=progress)
        try:
            probabilities, truncated = model.runtime.probabilities(
                claims,
                responses,
                contexts,
                temperature=model.temperature,
                on_batch=bar.update,
            )
        finally:
            bar.close()
        return np.asarray(probabilities, dtype=np.float64), int(np.sum(truncated))
    if contexts is not None:
        rows = list(zip(claims, responses, contexts, strict=True))
        return np.asarray(model.predict_proba(rows), dtype=np.float64), 0
    pairs = list(zip(claims, responses, strict=True))
    return np.asarray(model.predict_proba(pairs), dtype=np.float64), 0


# --------------------------------------------------------------------------- evaluating


def evaluate(
    model: Any,
    path: str | os.PathLike[str],
    *,
    progress: bool = False,
    n_resamples: int = 1000,
    seed: int = 0,
    **column_options: Unpack[LabelledOptions],
) -> EvalResult:
    """Evaluate ``model`` on the labelled file ``path``; see :func:`read_labelled` for the
    column options (``claim_column``, ``label_map``, ``filters``, ...).

    A :class:`~stance.StanceClassifier` trained without context ignores
    ``context_column`` (its values are not read) with a
    :class:`~stance.model.ContextWarning`; one trained with context and evaluated without
    it warns too.

    >>> result = evaluate(clf, "test.csv", label_map={"agree": "support"})  # doctest: +SKIP
    >>> result.metrics["macro_f1"], result.metrics["macro_f1_ci"]  # doctest: +SKIP
    (0.71, [0.69, 0.73])
    >>> evaluate(clf, "rumoureval2019/pairs.jsonl",
    ...          context_column="meta.parent_text")  # doctest: +SKIP
    """
    columns = Columns.from_options(column_options, LABELLED_OPTIONS)
    labels = tuple(model.labels)
    read = columns_for_model(model, columns, stacklevel=2)
    data = read_labelled(path, labels, columns=read)
    if not data.gold:
        why = (
            f"; all {data.n_excluded:,} matching rows lack a value ({data.excluded})"
            if data.n_excluded
            else ""
        )
        raise InputDataError(f"{path} has no labelled rows to evaluate{why}")
    probabilities, truncated = predict_probabilities(
        model, data.claims, data.responses, progress=progress, contexts=data.contexts
    )
    metrics = compute_metrics(data.gold, probabilities, labels, n_resamples=n_resamples, seed=seed)
    metrics["excluded"] = {"count": data.n_excluded, "reasons": data.excluded}
    metrics["truncated"] = truncated
    metrics["data"] = _data_record(path, data, columns, context_used=read.context is not None)
    metrics["model"] = _model_record(model, labels)
    metrics["created_at"] = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    predictions = _predictions(data, probabilities, labels)
    return EvalResult(metrics=metrics, predictions=predictions, labels=labels, data=data)


def _data_record(
    path: str | os.PathLike[str], data: LabelledData, columns: Columns, context_used: bool
) -> dict[str, Any]:
    """What was read and how, for ``metrics.json``."""
    record = {
        "path": str(path),
        "rows_read": data.rows_read,
        "rows_after_filter": data.rows_after_filter,
        "filters": columns.describe_filters(),
        "claim_column": columns.claim,
        "response_column": columns.response,
        "label_column": columns.label,
        "label_map": dict(columns.label_map),
    }
    if columns.context is not None:
        record["context_column"] = columns.context
        record["context_used"] = context_used
        record["rows_with_context"] = sum(c is not None for c in data.contexts or [])
    return record


def _model_record(model: Any, labels: tuple[str, ...]) -> dict[str, Any]:
    """Which model was evaluated, for ``metrics.json``."""
    info = getattr(model, "info", {}) or {}
    return {
        "source": str(info.get("source", getattr(model, "name", type(model).__name__))),
        "labels": list(labels),
        "temperature": float(getattr(model, "temperature", 1.0)),
        "precision": getattr(model, "precision", None),
    }


def _predictions(
    data: LabelledData, probabilities: np.ndarray, labels: tuple[str, ...]
) -> pd.DataFrame:
    """One row per evaluated pair: gold, predicted, confidence and one ``p_<label>`` each."""
    names = np.asarray(labels, dtype=object)
    predictions = pd.DataFrame(
        {
            "row": data.rows,
            "claim": data.claims,
            "response": data.responses,
            "gold": data.gold,
            "predicted": names[probabilities.argmax(axis=1)],
            "confidence": probabilities.max(axis=1),
        }
    )
    if data.contexts is not None:
        predictions.insert(3, "context", data.contexts)
    for j, label in enumerate(labels):
        predictions[f"p_{label}"] = probabilities[:, j]
    return predictions


def error_rows(result: EvalResult) -> list[dict[str, Any]]:
    """Misclassified rows, most confident first (ties in file order).

    Each: ``row`` (0-based position in the file), ``claim``, ``response``, ``context``
    (when a context column was read), ``gold``, ``predicted``, ``confidence``
    (probability of the predicted label), ``probabilities``.
    """
    frame = result.predictions
    wrong = frame[frame["gold"] != frame["predicted"]]
    wrong = wrong.sort_values(["confidence", "row"], ascending=[False, True], kind="stable")
    out = []
    for record in wrong.to_dict("records"):
        context = {"context": record["context"]} if "context" in record else {}
        out.append(
            {
                "row": int(record["row"]),
                "claim": record["claim"],
                "response": record["response"],
                **context,
                "gold": record["gold"],
                "predicted": record["predicted"],
                "confidence": round(float(record["confidence"]), 6),
                "probabilities": {
                    label: round(float(record[f"p_{label}"]), 6) for label in result.labels
                },
            }
        )
    return out


def write_report(result: EvalResult, directory: str | os.PathLike[str]) -> dict[str, Path]:
    """Write ``metrics.json``, ``report.md``, the two PNG plots and ``errors.jsonl``.

    Returns the written paths by role (see :data:`REPORT_FILES`).
    """
    from stance import report

    directory = Path(directory)
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create the report folder {directory}: {exc}") from None
    if not directory.is_dir():
        raise OutputError(f"the report path {directory} is a file; pass a folder")
    paths = {role: directory / name for role, name in REPORT_FILES.items()}
    errors = error_rows(result)
    metrics = result.metrics
    try:
        paths["metrics"].write_text(json.dumps(metrics, indent=2, ensure_ascii=False) + "\n")
        with open(paths["errors"], "w", encoding="utf-8") as f:
            for row in errors:
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
        report.plot_confusion_matrix(
            np.asarray(metrics["confusion_matrix"]["matrix"]),
            metrics["confusion_matrix"]["labels"],
            paths["confusion_matrix"],
        )
        report.plot_reliability(metrics["reliability"], paths["reliability"], ece=metrics["ece"])
        paths["report"].write_text(report.markdown_report(metrics, errors, REPORT_FILES))
    except OSError as exc:
        raise OutputError(f"cannot write the report in {directory}: {exc}") from None
    return paths
