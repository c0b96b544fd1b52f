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
import sys
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from stance import io
from stance.data import check_first_rows, check_nested_key, column_values
from stance.errors import ConfigError, InputDataError, OutputError, did_you_mean
from stance.labels import LabelMapping
from stance.metrics import compute_metrics
from stance.model import context_values, text_problem

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


# --------------------------------------------------------------------------- options


def parse_assignments(items: Iterable[str] | None, option: str) -> dict[str, list[str]]:
    """Parse ``KEY=VALUE`` strings into ``{key: [values]}`` (a repeated key collects values).

    >>> parse_assignments(["split=test", "split=dev", "lang=en"], "--filter")
    {'split': ['test', 'dev'], 'lang': ['en']}
    """
    out: dict[str, list[str]] = {}
    for item in items or ():
        key, sep, value = str(item).partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"{option} expects KEY=VALUE, got {item!r}; e.g. {option} split=test")
        out.setdefault(key.strip(), []).append(value.strip())
    return out


def _label_map_dict(label_map: Mapping[str, Any] | Iterable[str] | None) -> dict[str, str]:
    if label_map is None:
        return {}
    if isinstance(label_map, Mapping):
        return {str(k): str(v) for k, v in label_map.items()}
    parsed = parse_assignments(label_map, "--label-map")
    twice = {k: v for k, v in parsed.items() if len(set(v)) > 1}
    if twice:
        raise ConfigError(f"--label-map maps a label to more than one target: {twice}")
    return {k: v[0] for k, v in parsed.items()}


def _filter_dict(filters: Mapping[str, Any] | Iterable[str] | None) -> dict[str, set[str]]:
    if filters is None:
        return {}
    if not isinstance(filters, Mapping):
        filters = parse_assignments(filters, "--filter")
    out = {}
    for key, wanted in filters.items():
        values = wanted if isinstance(wanted, (list, tuple, set)) else [wanted]
        out[str(key)] = {_as_key(v) for v in values}
    return out


def describe_filters(filters: Mapping[str, Any] | Iterable[str] | None) -> dict[str, list[str]]:
    """Filters as ``{column: sorted values}``, for reports.

    >>> describe_filters(["split=test"]), describe_filters({"split": ["dev", "test"]})
    ({'split': ['test']}, {'split': ['dev', 'test']})
    """
    return {key: sorted(values) for key, values in _filter_dict(filters).items()}


def _as_key(value: Any) -> str:
    """Compare filter values as text: 1 matches "1", True matches "true"."""
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


# --------------------------------------------------------------------------- reading


def check_columns(
    path: str | os.PathLike[str],
    *,
    claim_column: str = "claim",
    response_column: str = "response",
    label_column: str = "label",
    filters: Mapping[str, Any] | Iterable[str] | None = None,
    context_column: str | None = None,
) -> None:
    """Fail fast (before a model loads) when the file or a named column is missing.

    >>> check_columns("test.csv", label_column="stance")  # doctest: +SKIP
    """
    path = Path(path)
    io.table_format(path)
    if not path.is_file():
        raise InputDataError(f"input file not found: {path}")
    columns = io.read_columns(path)
    if not columns:
        return
    wanted = [
        ("claim", claim_column, "--claim-column"),
        ("response", response_column, "--response-column"),
        ("label", label_column, "--label-column"),
    ]
    if context_column is not None:
        wanted.append(("context", context_column, "--context-column"))
    wanted += [("filter", key, "--filter") for key in _filter_dict(filters)]
    for role, name, option in wanted:
        if name not in columns and name.partition(".")[0] not in columns:
            raise InputDataError(
                f"{path} has no {role} column {name!r}; columns found: {columns}."
                f"{did_you_mean(name, columns)} Pass the right name with {option}."
            )
    if context_column is not None and context_column not in columns:
        check_first_rows(path, context_column, "--context-column")


def read_labelled(
    path: str | os.PathLike[str],
    labels: Iterable[str],
    *,
    claim_column: str = "claim",
    response_column: str = "response",
    label_column: str = "label",
    label_map: Mapping[str, Any] | Iterable[str] | None = None,
    filters: Mapping[str, Any] | Iterable[str] | None = None,
    chunk_rows: int = CHUNK_ROWS,
    context_column: str | None = None,
) -> LabelledData:
    """Read the rows of ``path`` that match ``filters`` and map their labels onto ``labels``.

    ``filters`` maps a column (dotted names reach into dict columns) to a value or a list
    of values, compared as text; several columns must all match. ``label_map`` maps data
    labels to ``labels`` (labels already in ``labels`` map to themselves); an unmapped
    label fails with its count. Rows with a missing or empty claim, response or label
    are counted in ``excluded`` by reason. ``context_column`` (dotted names reach in)
    fills ``contexts``: a missing or empty context is none, a value that is not text
    excludes its row.

    >>> data = read_labelled("dev.jsonl", ("support", "denial", "neutral"),
    ...                      filters={"split": "dev"})  # doctest: +SKIP
    >>> data.excluded  # doctest: +SKIP
    {'response is empty': 2}
    """
    path = Path(path)
    labels = tuple(labels)
    mapping = LabelMapping(_label_map_dict(label_map), labels)
    wanted = _filter_dict(filters)
    source = str(path)
    claims: list[Any] = []
    responses: list[Any] = []
    raw_labels: list[Any] = []
    contexts: list[str | None] = []
    rows: list[np.ndarray] = []
    seen: dict[str, Counter[str]] = {key: Counter() for key in wanted}
    excluded: Counter[str] = Counter()
    rows_read = rows_kept = 0
    for chunk in io.iter_batches(path, chunk_rows):
        if context_column is not None and not rows_read:
            fix = "Pass the right name with --context-column."
            check_nested_key(chunk, context_column, source, fix)
        rows_read += len(chunk)
        keep = np.ones(len(chunk), dtype=bool)
        for key, allowed in wanted.items():
            values = column_values(chunk, key, source).map(_as_key)
            seen[key].update(values.tolist())
            keep &= values.isin(allowed).to_numpy()
        chunk = chunk[keep]
        rows_kept += len(chunk)
        if not len(chunk):
            continue
        c = column_values(chunk, claim_column, source).tolist()
        r = column_values(chunk, response_column, source).tolist()
        y = column_values(chunk, label_column, source).tolist()
        x: list[str | None] = [None] * len(chunk)
        context_problems: dict[int, str] = {}
        if context_column is not None:
            x, found = context_values(column_values(chunk, context_column, source).tolist())
            context_problems = dict(found)
        good = np.ones(len(chunk), dtype=bool)
        for i in range(len(chunk)):
            problems = []
            for role, value in (("claim", c[i]), ("response", r[i]), ("label", y[i])):
                problem = text_problem(value)
                if role == "label" and problem and problem.startswith("is not text"):
                    problem = None  # labels may be numbers: the label map reads them
                if problem:
                    problems.append(f"{role} {problem}")
            if i in context_problems:
                problems.append(f"context {context_problems[i]}")
            if problems:
                excluded["; ".join(problems)] += 1
                good[i] = False
        index = chunk.index.to_numpy()
        rows.append(index[good])
        claims += [v for v, g in zip(c, good, strict=True) if g]
        responses += [v for v, g in zip(r, good, strict=True) if g]
        raw_labels += [v for v, g in zip(y, good, strict=True) if g]
        contexts += [v for v, g in zip(x, good, strict=True) if g]
    if wanted and rows_read and not rows_kept:
        present = {key: dict(counter.most_common(10)) for key, counter in seen.items()}
        shown = {key: sorted(v) for key, v in wanted.items()}
        raise InputDataError(
            f"{source}: the filter {shown} keeps none of its {rows_read:,} rows; "
            f"values present: {present}"
        )
    gold = mapping.apply(raw_labels, source=source)
    return LabelledData(
        path=path,
        claims=claims,
        responses=responses,
        gold=gold,
        rows=np.concatenate(rows) if rows else np.zeros(0, dtype=np.int64),
        rows_read=rows_read,
        rows_after_filter=rows_kept,
        excluded=dict(excluded.most_common()),
        contexts=contexts if context_column is not None else None,
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
        bar = _progress_bar(len(claims), enabled=progress)
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


def _progress_bar(total: int, enabled: bool) -> Any:
    from tqdm.auto import tqdm

    return tqdm(
        total=total,
        unit=" pairs",
        file=sys.stderr,
        dynamic_ncols=True,
        desc="evaluating",
        disable=not enabled,
    )


# --------------------------------------------------------------------------- evaluating


def evaluate(
    model: Any,
    path: str | os.PathLike[str],
    *,
    claim_column: str = "claim",
    response_column: str = "response",
    label_column: str = "label",
    label_map: Mapping[str, Any] | Iterable[str] | None = None,
    filters: Mapping[str, Any] | Iterable[str] | None = None,
    progress: bool = False,
    n_resamples: int = 1000,
    seed: int = 0,
    context_column: str | None = None,
) -> EvalResult:
    """Evaluate ``model`` on the labelled file ``path``; see :func:`read_labelled` for options.

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
    labels = tuple(model.labels)
    use_context = context_column is not None
    if hasattr(model, "uses_context"):
        from stance.model import context_for_model

        use_context = context_for_model(model, use_context, stacklevel=2)
    label_map = _label_map_dict(label_map)
    filter_values = describe_filters(filters)
    data = read_labelled(
        path,
        labels,
        claim_column=claim_column,
        response_column=response_column,
        label_column=label_column,
        label_map=label_map,
        filters=filters,
        context_column=context_column if use_context else None,
    )
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
    info = getattr(model, "info", {}) or {}
    metrics["excluded"] = {"count": data.n_excluded, "reasons": data.excluded}
    metrics["truncated"] = truncated
    metrics["data"] = {
        "path": str(path),
        "rows_read": data.rows_read,
        "rows_after_filter": data.rows_after_filter,
        "filters": filter_values,
        "claim_column": claim_column,
        "response_column": response_column,
        "label_column": label_column,
        "label_map": label_map,
    }
    if context_column is not None:
        metrics["data"]["context_column"] = context_column
        metrics["data"]["context_used"] = use_context
        metrics["data"]["rows_with_context"] = sum(c is not None for c in data.contexts or [])
    metrics["model"] = {
        "source": str(info.get("source", getattr(model, "name", type(model).__name__))),
        "labels": list(labels),
        "temperature": float(getattr(model, "temperature", 1.0)),
        "precision": getattr(model, "precision", None),
    }
    metrics["created_at"] = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    predicted = probabilities.argmax(axis=1)
    names = np.asarray(labels, dtype=object)
    predictions = pd.DataFrame(
        {
            "row": data.rows,
            "claim": data.claims,
            "response": data.responses,
            "gold": data.gold,
            "predicted": names[predicted],
            "confidence": probabilities.max(axis=1),
        }
    )
    if data.contexts is not None:
        predictions.insert(3, "context", data.contexts)
    for j, label in enumerate(labels):
        predictions[f"p_{label}"] = probabilities[:, j]
    return EvalResult(metrics=metrics, predictions=predictions, labels=labels, data=data)


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
