"""Evaluate a classifier on a labelled file and write a report folder.

The engine behind ``stance eval``: reads any :mod:`stance.io` table (CSV, JSONL(.gz),
Parquet) in chunks, keeps the rows that match the filters, maps the data's labels onto
the model's (:class:`stance.labels.LabelMapping`), predicts, and computes
:func:`stance.metrics.compute_metrics`. Rows with a missing or empty claim, response or
label are counted per reason and left out of the metrics, never silently.

>>> from stance import StanceClassifier
>>> clf = StanceClassifier.load("path/to/model")  # doctest: +SKIP
>>> result = evaluate(clf, "test.jsonl", filters={"split": "test"})  # doctest: +SKIP
>>> round(result.metrics["accuracy"], 3)  # doctest: +SKIP
0.812
>>> write_report(result, "reports/test")  # doctest: +SKIP
{'metrics': PosixPath('reports/test/metrics.json'), ...}

Any object with a ``labels`` tuple and ``predict_proba(pairs)`` can be evaluated (the
suite runner's scikit-learn baselines are); a :class:`~stance.StanceClassifier` also
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
from stance.data import column_values
from stance.errors import ConfigError, InputDataError, OutputError, did_you_mean
from stance.labels import LabelMapping
from stance.metrics import compute_metrics
from stance.model import text_problem

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
    position of each kept row in the file.
    """

    path: Path
    claims: list[str]
    responses: list[str]
    gold: list[str]
    rows: np.ndarray
    rows_read: int = 0
    rows_after_filter: int = 0
    excluded: dict[str, int] = field(default_factory=dict)

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
    wanted += [("filter", key, "--filter") for key in _filter_dict(filters)]
    for role, name, option in wanted:
        if name not in columns and name.partition(".")[0] not in columns:
            raise InputDataError(
                f"{path} has no {role} column {name!r}; columns found: {columns}."
                f"{did_you_mean(name, columns)} Pass the right name with {option}."
            )


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
) -> LabelledData:
    """Read the rows of ``path`` that match ``filters`` and map their labels onto ``labels``.

    ``filters`` maps a column (dotted names reach into dict columns) to a value or a list
    of values, compared as text; several columns must all match. ``label_map`` maps data
    labels to ``labels`` (labels already in ``labels`` map to themselves); an unmapped
    label fails with its count. Rows with a missing or empty claim, response or label
    are counted in ``excluded`` by reason.

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
    rows: list[np.ndarray] = []
    seen: dict[str, Counter[str]] = {key: Counter() for key in wanted}
    excluded: Counter[str] = Counter()
    rows_read = rows_kept = 0
    for chunk in io.iter_batches(path, chunk_rows):
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
        good = np.ones(len(chunk), dtype=bool)
        for i in range(len(chunk)):
            problems = []
            for role, value in (("claim", c[i]), ("response", r[i]), ("label", y[i])):
                problem = text_problem(value)
                if role == "label" and problem and problem.startswith("is not text"):
                    problem = None  # labels may be numbers: the label map reads them
                if problem:
                    problems.append(f"{role} {problem}")
            if problems:
                excluded["; ".join(problems)] += 1
                good[i] = False
        index = chunk.index.to_numpy()
        rows.append(index[good])
        claims += [v for v, g in zip(c, good, strict=True) if g]
        responses += [v for v, g in zip(r, good, strict=True) if g]
        raw_labels += [v for v, g in zip(y, good, strict=True) if g]
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
    )


# --------------------------------------------------------------------------- predicting


def predict_probabilities(
    model: Any, claims: list[str], responses: list[str], progress: bool = False
) -> tuple[np.ndarray, int]:
    """Probabilities (columns in ``model.labels`` order) and the number of truncated pairs."""
    if hasattr(model, "predict_proba_with_truncation"):
        bar = _progress_bar(len(claims), enabled=progress)
        try:
            probabilities, truncated = model.predict_proba_with_truncation(
                claims, responses, on_batch=bar.update
            )
        finally:
            bar.close()
        return np.asarray(probabilities, dtype=np.float64), int(np.sum(truncated))
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
) -> EvalResult:
    """Evaluate ``model`` on the labelled file ``path``; see :func:`read_labelled` for options.

    >>> result = evaluate(clf, "test.csv", label_map={"agree": "support"})  # doctest: +SKIP
    >>> result.metrics["macro_f1"], result.metrics["macro_f1_ci"]  # doctest: +SKIP
    (0.71, [0.69, 0.73])
    """
    labels = tuple(model.labels)
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
    )
    if not data.gold:
        why = (
            f"; all {data.n_excluded:,} matching rows lack a value ({data.excluded})"
            if data.n_excluded
            else ""
        )
        raise InputDataError(f"{path} has no labelled rows to evaluate{why}")
    probabilities, truncated = predict_probabilities(
        model, data.claims, data.responses, progress=progress
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
    for j, label in enumerate(labels):
        predictions[f"p_{label}"] = probabilities[:, j]
    return EvalResult(metrics=metrics, predictions=predictions, labels=labels, data=data)


def error_rows(result: EvalResult) -> list[dict[str, Any]]:
    """Misclassified rows, most confident first (ties in file order).

    Each: ``row`` (0-based position in the file), ``claim``, ``response``, ``gold``,
    ``predicted``, ``confidence`` (probability of the predicted label), ``probabilities``.
    """
    frame = result.predictions
    wrong = frame[frame["gold"] != frame["predicted"]]
    wrong = wrong.sort_values(["confidence", "row"], ascending=[False, True], kind="stable")
    out = []
    for record in wrong.to_dict("records"):
        out.append(
            {
                "row": int(record["row"]),
                "claim": record["claim"],
                "response": record["response"],
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
