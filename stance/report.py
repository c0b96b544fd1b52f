"""Human-readable evaluation reports: ``report.md`` tables and PNG plots.

matplotlib is imported inside the plotting functions, which draw on an explicit Agg
canvas: nothing is imported or configured when this module is imported, and a
user's interactive backend (a notebook's, say) is left alone.

>>> text = markdown_report(metrics, errors)  # doctest: +SKIP
>>> plot_confusion_matrix(np.array([[5, 1], [2, 7]]), ["a", "b"], "cm.png")  # doctest: +SKIP
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from stance.errors import ConfigError

__all__ = ["ERRORS_SHOWN", "markdown_report", "plot_confusion_matrix", "plot_reliability"]

ERRORS_SHOWN = 20
"""Misclassified rows listed in ``report.md`` (all of them are in ``errors.jsonl``)."""


def _figure(width: float, height: float) -> Any:
    """A matplotlib Figure on an Agg canvas (headless, no pyplot state)."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise ConfigError("the evaluation plots need matplotlib: pip install matplotlib") from None
    figure = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(figure)  # sets the Agg backend for this figure
    return figure


def plot_confusion_matrix(
    matrix: np.ndarray, labels: Sequence[str], path: str | os.PathLike[str]
) -> None:
    """Save a confusion-matrix heat map (rows gold, columns predicted, counts in cells).

    Colours are row-normalised (recall per gold label), so rare labels stay readable.

    >>> plot_confusion_matrix(np.array([[5, 1], [2, 7]]), ["a", "b"], "cm.png")  # doctest: +SKIP
    """
    matrix = np.asarray(matrix)
    k = len(labels)
    size = max(3.5, 1.0 + 0.9 * k)
    figure = _figure(size + 1.0, size)
    ax = figure.add_subplot(1, 1, 1)
    totals = matrix.sum(axis=1, keepdims=True)
    shares = np.divide(matrix, totals, out=np.zeros(matrix.shape), where=totals > 0)
    image = ax.imshow(shares, cmap="Blues", vmin=0.0, vmax=1.0)
    figure.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="share of gold row")
    ax.set_xticks(range(k), labels=list(labels), rotation=30, ha="right")
    ax.set_yticks(range(k), labels=list(labels))
    ax.set_xlabel("predicted")
    ax.set_ylabel("gold")
    ax.set_title("Confusion matrix")
    for i in range(k):
        for j in range(k):
            colour = "white" if shares[i, j] > 0.5 else "black"
            ax.text(j, i, f"{int(matrix[i, j]):,}", ha="center", va="center", color=colour)
    figure.tight_layout()
    figure.savefig(os.fspath(path), format="png")


def plot_reliability(
    bins: Sequence[Mapping[str, Any]], path: str | os.PathLike[str], ece: float | None = None
) -> None:
    """Save a reliability diagram: accuracy per confidence bin against the diagonal.

    ``bins`` is :func:`stance.metrics.reliability_bins` output; bar widths are the bins,
    and a lower panel shows how many rows fall in each.

    >>> plot_reliability(compute_metrics(g, p, labels)["reliability"], "rel.png")  # doctest: +SKIP
    """
    figure = _figure(5.0, 5.5)
    top = figure.add_axes((0.14, 0.36, 0.8, 0.56))
    bottom = figure.add_axes((0.14, 0.1, 0.8, 0.18), sharex=top)
    lower = np.array([b["lower"] for b in bins])
    width = np.array([b["upper"] - b["lower"] for b in bins])
    accuracy = np.array([b["accuracy"] if b["count"] else 0.0 for b in bins])
    confidence = np.array([b["confidence"] if b["count"] else np.nan for b in bins])
    counts = np.array([b["count"] for b in bins])
    top.bar(lower, accuracy, width=width, align="edge", edgecolor="black", label="accuracy")
    filled = counts > 0
    top.bar(
        lower[filled],
        confidence[filled] - accuracy[filled],
        bottom=accuracy[filled],
        width=width[filled],
        align="edge",
        color="tab:red",
        alpha=0.3,
        edgecolor="tab:red",
        label="gap to confidence",
    )
    top.plot([0, 1], [0, 1], linestyle="--", color="grey", label="perfect calibration")
    top.set_xlim(0, 1)
    top.set_ylim(0, 1)
    top.set_ylabel("accuracy")
    title = "Reliability diagram"
    if ece is not None:
        title += f" (ECE {ece:.3f})"
    top.set_title(title)
    top.legend(loc="upper left", fontsize="small")
    bottom.bar(lower, counts, width=width, align="edge", color="grey", edgecolor="black")
    bottom.set_xlabel("confidence (max probability)")
    bottom.set_ylabel("rows")
    figure.savefig(os.fspath(path), format="png")


# --------------------------------------------------------------------------- markdown


def _cell(text: Any, limit: int = 120) -> str:
    """Text fit for one Markdown table cell: one line, pipes escaped, cut to ``limit``."""
    text = " ".join(str(text).split())
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return text.replace("|", "\\|")


def _ci(values: Sequence[float] | None) -> str:
    if not values:
        return ""
    return f"{values[0]:.3f} – {values[1]:.3f}"


def markdown_report(
    metrics: Mapping[str, Any],
    errors: Sequence[Mapping[str, Any]] = (),
    files: Mapping[str, str] | None = None,
    errors_shown: int = ERRORS_SHOWN,
) -> str:
    """The ``report.md`` text: data and model, summary, per-class, confusion, calibration,
    excluded rows and the most confident errors.

    >>> text = markdown_report(compute_metrics(gold, probs, labels))  # doctest: +SKIP
    """
    files = dict(files or {})
    labels = list(metrics["labels"])
    lines = ["# Evaluation report", ""]
    data = metrics.get("data") or {}
    model = metrics.get("model") or {}
    if data:
        filters = ", ".join(f"{k}={'|'.join(v)}" for k, v in data.get("filters", {}).items())
        lines.append(
            f"- data: `{data.get('path')}`"
            + (f" where {filters}" if filters else "")
            + f" ({data.get('rows_read', 0):,} rows read, "
            f"{data.get('rows_after_filter', 0):,} matching)"
        )
        if data.get("label_map"):
            mapped = ", ".join(f"{k} → {v}" for k, v in data["label_map"].items())
            lines.append(f"- label mapping: {mapped}")
        if data.get("context_column"):
            how = "used" if data.get("context_used") else "ignored: model trained without context"
            lines.append(
                f"- context: `{data['context_column']}` ({data.get('rows_with_context', 0):,} "
                f"rows with a context; {how})"
            )
    if model:
        lines.append(
            f"- model: `{model.get('source')}` (labels {', '.join(model.get('labels', labels))}; "
            f"temperature {model.get('temperature', 1.0):g})"
        )
    excluded = metrics.get("excluded") or {"count": 0, "reasons": {}}
    lines.append(f"- rows evaluated: {metrics['n']:,}")
    if excluded["count"]:
        reasons = "; ".join(f"{r}: {n:,}" for r, n in excluded["reasons"].items())
        lines.append(
            f"- **rows excluded from the metrics: {excluded['count']:,}** (missing or empty "
            f"values: {reasons})"
        )
    else:
        lines.append("- rows excluded from the metrics: 0")
    if metrics.get("truncated"):
        lines.append(
            f"- pairs longer than the model's max_length (response cut): {metrics['truncated']:,}"
        )
    if metrics.get("created_at"):
        lines.append(f"- created: {metrics['created_at']}")
    boot = metrics.get("bootstrap", {})
    f1_labels = metrics.get("macro_f1_labels", labels)
    lines += [
        "",
        "## Summary",
        "",
        f"| metric | value | {int(boot.get('confidence', 0.95) * 100)}% bootstrap CI |",
        "|---|---:|---|",
        f"| accuracy | {metrics['accuracy']:.4f} | {_ci(metrics.get('accuracy_ci'))} |",
        f"| macro-F1 over {', '.join(f1_labels)} | {metrics['macro_f1']:.4f} | "
        f"{_ci(metrics.get('macro_f1_ci'))} |",
    ]
    if "fnc_score" in metrics:
        lines.append(
            f"| FNC-1 score (share of max) | {metrics['fnc_score']:.4f} | raw "
            f"{metrics['fnc_score_raw']:,.2f} of {metrics['fnc_score_max']:,.2f} |"
        )
    if "rumoureval_macro_f1" in metrics:
        lines.append(
            f"| RumourEval macro-F1 (support, deny, query, comment) | "
            f"{metrics['rumoureval_macro_f1']:.4f} | |"
        )
    lines += [
        f"| ECE ({metrics.get('ece_bins', 15)} equal-width bins) | {metrics['ece']:.4f} | |",
        f"| Brier (multi-class, 0–2) | {metrics['brier']:.4f} | |",
        f"| NLL | {metrics['nll']:.4f} | |",
        "",
    ]
    if boot:
        lines.append(
            f"Intervals: {boot.get('method', 'percentile')} bootstrap, "
            f"{boot.get('resamples'):,} resamples of rows, seed {boot.get('seed')}."
        )
    if metrics.get("macro_f1_note"):
        lines += ["", f"**Note:** {metrics['macro_f1_note']}."]
    lines += [
        "",
        "## Per class",
        "",
        "| label | precision | recall | F1 | support (gold) | predicted |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    predicted_counts = metrics.get("predicted_counts", {})
    for label in labels:
        row = metrics["per_class"][label]
        lines.append(
            f"| {label} | {row['precision']:.4f} | {row['recall']:.4f} | {row['f1']:.4f} | "
            f"{row['support']:,} | {predicted_counts.get(label, 0):,} |"
        )
    matrix = metrics["confusion_matrix"]["matrix"]
    lines += [
        "",
        "## Confusion matrix",
        "",
        "Rows are gold labels, columns predicted labels.",
        "",
        "| gold \\ predicted | " + " | ".join(labels) + " |",
        "|---|" + "---:|" * len(labels),
    ]
    for label, row in zip(labels, matrix, strict=True):
        lines.append(f"| **{label}** | " + " | ".join(f"{int(v):,}" for v in row) + " |")
    if files.get("confusion_matrix"):
        lines += ["", f"![confusion matrix]({files['confusion_matrix']})"]
    lines += [
        "",
        "## Calibration",
        "",
        "Confidence is the probability of the predicted label. ECE is the row-weighted mean "
        "gap between accuracy and confidence over the bins.",
        "",
        "| confidence | rows | mean confidence | accuracy |",
        "|---|---:|---:|---:|",
    ]
    for b in metrics.get("reliability", []):
        if not b["count"]:
            continue
        lines.append(
            f"| {b['lower']:.3f} – {b['upper']:.3f} | {b['count']:,} | {b['confidence']:.3f} | "
            f"{b['accuracy']:.3f} |"
        )
    if files.get("reliability"):
        lines += ["", f"![reliability diagram]({files['reliability']})"]
    n_errors = len(errors)
    shown = list(errors[:errors_shown])
    where = f"; all are in `{files['errors']}`" if files.get("errors") else ""
    lines += [
        "",
        "## Most confident errors",
        "",
        f"{n_errors:,} misclassified rows; the {len(shown)} most confident{where}. "
        "`row` is the 0-based data row in the file.",
        "",
    ]
    if shown:
        lines += [
            "| row | gold | predicted | confidence | claim | response |",
            "|---:|---|---|---:|---|---|",
        ]
        for e in shown:
            lines.append(
                f"| {e['row']} | {e['gold']} | {e['predicted']} | {e['confidence']:.3f} | "
                f"{_cell(e['claim'])} | {_cell(e['response'])} |"
            )
    return "\n".join(lines) + "\n"
