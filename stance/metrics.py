"""Evaluation metrics: pure functions on numpy arrays.

Gold labels are given as label strings or as integer indices into ``labels``;
probabilities have one column per label, in ``labels`` order (the column order of
:meth:`stance.StanceClassifier.predict_proba`). Point estimates come from
:mod:`sklearn.metrics` where it has them; ECE, the bootstrap and the FNC-1 score are
computed here.

>>> import numpy as np
>>> probs = np.array([[0.9, 0.05, 0.05], [0.2, 0.7, 0.1], [0.3, 0.3, 0.4]])
>>> m = compute_metrics(["support", "denial", "support"], probs, ("support", "denial", "neutral"))
>>> round(m["accuracy"], 4), m["macro_f1_labels"]
(0.6667, ['support', 'denial'])
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from stance.errors import ConfigError, InputDataError
from stance.labels import FNC1_LABELS, RUMOUREVAL_LABELS

__all__ = [
    "ECE_BINS",
    "accuracy",
    "bootstrap_ci",
    "brier",
    "compute_metrics",
    "confusion",
    "ece",
    "fnc_score",
    "label_indices",
    "macro_f1",
    "nll",
    "per_class",
    "reliability_bins",
]

ECE_BINS = 15
"""Equal-width confidence bins used for ECE and the reliability diagram."""

BOOTSTRAP_RESAMPLES = 1000
BOOTSTRAP_SEED = 0
CONFIDENCE = 0.95


def _sk() -> Any:
    """``sklearn.metrics``, or a ConfigError saying how to install it."""
    try:
        import sklearn.metrics
    except ImportError:
        raise ConfigError(
            "evaluation needs scikit-learn: pip install scikit-learn (or claimstance[train])"
        ) from None
    return sklearn.metrics


def label_indices(gold: Sequence[Any] | np.ndarray, labels: Sequence[str]) -> np.ndarray:
    """Gold labels as integer indices into ``labels`` (strings are looked up, ints checked).

    >>> label_indices(["denial", "support"], ("support", "denial")).tolist()
    [1, 0]
    """
    array = np.asarray(gold)
    if array.ndim != 1:
        raise InputDataError(f"gold labels must be one-dimensional, got shape {array.shape}")
    if array.size and np.issubdtype(array.dtype, np.integer):
        if array.min() < 0 or array.max() >= len(labels):
            raise InputDataError(
                f"gold label indices must be in 0..{len(labels) - 1}, got {sorted(set(array))}"
            )
        return array.astype(np.int64)
    index = {label: i for i, label in enumerate(labels)}
    unknown = sorted({str(g) for g in array if g not in index})
    if unknown:
        raise InputDataError(
            f"gold labels {unknown} are not among the labels {list(labels)}; map them first"
        )
    return np.fromiter((index[g] for g in array), dtype=np.int64, count=array.size)


def _check_probabilities(probabilities: np.ndarray, n: int, k: int) -> np.ndarray:
    probabilities = np.asarray(probabilities, dtype=np.float64)
    if probabilities.shape != (n, k):
        raise InputDataError(
            f"probabilities must have shape (n_rows, n_labels) = ({n}, {k}), "
            f"got {probabilities.shape}"
        )
    return probabilities


def accuracy(gold: np.ndarray, predicted: np.ndarray) -> float:
    """Fraction of rows whose predicted index equals the gold index.

    >>> accuracy(np.array([0, 1, 2, 2]), np.array([0, 1, 1, 2]))
    0.75
    """
    return float(_sk().accuracy_score(gold, predicted))


def macro_f1(gold: np.ndarray, predicted: np.ndarray, labels: Sequence[Any] | None = None) -> float:
    """Unweighted mean F1 over ``labels`` (default: the labels present in ``gold``); labels
    may be indices or names.

    Predictions of a label outside ``labels`` still count as errors (they lower recall).

    >>> round(macro_f1(np.array([0, 0, 1, 1]), np.array([0, 2, 1, 1])), 4)  # F1 2/3 and 1
    0.8333
    """
    labels = sorted(set(np.asarray(gold).tolist())) if labels is None else list(labels)
    return float(_sk().f1_score(gold, predicted, labels=labels, average="macro", zero_division=0))


def per_class(
    gold: np.ndarray, predicted: np.ndarray, labels: Sequence[str]
) -> dict[str, dict[str, float]]:
    """Precision, recall, F1 and support of every label (0 where undefined).

    >>> per_class(np.array([0, 1]), np.array([0, 0]), ("a", "b"))["a"]
    {'precision': 0.5, 'recall': 1.0, 'f1': 0.6666666666666666, 'support': 1}
    """
    p, r, f, s = _sk().precision_recall_fscore_support(
        gold, predicted, labels=list(range(len(labels))), zero_division=0
    )
    return {
        label: {
            "precision": float(p[i]),
            "recall": float(r[i]),
            "f1": float(f[i]),
            "support": int(s[i]),
        }
        for i, label in enumerate(labels)
    }


def confusion(gold: np.ndarray, predicted: np.ndarray, n_labels: int) -> np.ndarray:
    """Confusion matrix, rows = gold, columns = predicted, in label-index order.

    >>> confusion(np.array([0, 1, 1]), np.array([0, 0, 1]), 2).tolist()
    [[1, 0], [1, 1]]
    """
    return _sk().confusion_matrix(gold, predicted, labels=list(range(n_labels)))


def _bin_of(confidence: np.ndarray, n_bins: int) -> np.ndarray:
    """Bin ``i`` holds confidences in ``(i/n_bins, (i+1)/n_bins]`` (0 goes to bin 0)."""
    return np.clip(np.ceil(confidence * n_bins).astype(np.int64) - 1, 0, n_bins - 1)


def reliability_bins(
    probabilities: np.ndarray, gold: np.ndarray, n_bins: int = ECE_BINS
) -> list[dict[str, float]]:
    """Per equal-width bin of the max probability: range, count, mean confidence, accuracy.

    Empty bins have ``count`` 0 and ``None`` confidence and accuracy.

    >>> bins = reliability_bins(np.array([[0.9, 0.1], [0.6, 0.4]]), np.array([0, 1]), 2)
    >>> [(b["count"], b["accuracy"]) for b in bins]
    [(0, None), (2, 0.5)]
    """
    probabilities = np.asarray(probabilities, dtype=np.float64)
    gold = np.asarray(gold)
    confidence = probabilities.max(axis=1)
    correct = probabilities.argmax(axis=1) == gold
    bins = _bin_of(confidence, n_bins)
    out = []
    for b in range(n_bins):
        mask = bins == b
        count = int(mask.sum())
        out.append(
            {
                "lower": b / n_bins,
                "upper": (b + 1) / n_bins,
                "count": count,
                "confidence": float(confidence[mask].mean()) if count else None,
                "accuracy": float(correct[mask].mean()) if count else None,
            }
        )
    return out


def ece(probabilities: np.ndarray, gold: np.ndarray, n_bins: int = ECE_BINS) -> float:
    """Expected calibration error: sum over bins of (bin share) x |accuracy - confidence|.

    Confidence is the max probability of a row, binned into ``n_bins`` equal-width bins.

    >>> ece(np.array([[0.9, 0.1], [0.6, 0.4]]), np.array([0, 1]), n_bins=2)  # |0.5 - 0.75|
    0.25
    """
    probabilities = np.asarray(probabilities, dtype=np.float64)
    n = len(probabilities)
    if n == 0:
        return float("nan")
    total = 0.0
    for b in reliability_bins(probabilities, gold, n_bins):
        if b["count"]:
            total += b["count"] / n * abs(b["accuracy"] - b["confidence"])
    return float(total)


def brier(probabilities: np.ndarray, gold: np.ndarray) -> float:
    """Multi-class Brier score: mean over rows of sum over labels of (p - one-hot)^2.

    Ranges over [0, 2] (not halved, also for two labels).

    >>> round(brier(np.array([[0.8, 0.2], [0.5, 0.5]]), np.array([0, 1])), 4)
    0.29
    """
    probabilities = np.asarray(probabilities, dtype=np.float64)
    gold = np.asarray(gold)
    k = probabilities.shape[1]
    try:
        return float(
            _sk().brier_score_loss(gold, probabilities, labels=list(range(k)), scale_by_half=False)
        )
    except TypeError:  # pragma: no cover - scikit-learn < 1.7 has no multi-class Brier
        onehot = np.eye(k)[gold]
        return float(((probabilities - onehot) ** 2).sum(axis=1).mean())


def nll(probabilities: np.ndarray, gold: np.ndarray) -> float:
    """Mean negative log-likelihood of the gold labels (``sklearn.metrics.log_loss``).

    >>> round(nll(np.array([[0.5, 0.5], [0.25, 0.75]]), np.array([0, 1])), 4)
    0.4904
    """
    probabilities = np.asarray(probabilities, dtype=np.float64)
    return float(_sk().log_loss(gold, probabilities, labels=list(range(probabilities.shape[1]))))


def fnc_score(
    gold: Sequence[str] | np.ndarray, predicted: Sequence[str] | np.ndarray
) -> tuple[float, float]:
    """The FNC-1 weighted score and its maximum, as ``(raw, max)``, on label strings.

    +0.25 for each correct related/unrelated decision; +0.75 more when a related row's
    label (agree, disagree, discuss) is also exactly right. The maximum scores every
    row as right: 0.25 per unrelated row, 1.0 per related row.

    >>> fnc_score(["agree", "unrelated", "discuss"], ["disagree", "unrelated", "discuss"])
    (1.5, 2.25)
    """
    related = set(FNC1_LABELS) - {"unrelated"}
    raw = best = 0.0
    for g, p in zip(gold, predicted, strict=True):
        g_related, p_related = g in related, p in related
        best += 1.0 if g_related else 0.25
        if g_related == p_related:
            raw += 0.25
            if g_related and g == p:
                raw += 0.75
    return raw, best


def _fast_stat(codes: np.ndarray, k: int, metric: str, present: np.ndarray) -> np.ndarray:
    """Accuracy or macro-F1 of each row of ``codes`` (gold * k + predicted), vectorised."""
    b, n = codes.shape
    offsets = (np.arange(b) * k * k)[:, None]
    cm = np.bincount((codes + offsets).ravel(), minlength=b * k * k).reshape(b, k, k)
    tp = np.diagonal(cm, axis1=1, axis2=2).astype(np.float64)
    if metric == "accuracy":
        return tp.sum(axis=1) / n
    gold_counts = cm.sum(axis=2)
    pred_counts = cm.sum(axis=1)
    denominator = gold_counts + pred_counts  # F1 = 2TP / (2TP + FP + FN)
    f1 = np.divide(2 * tp, denominator, out=np.zeros_like(tp), where=denominator > 0)
    return f1[:, present].mean(axis=1)


def bootstrap_ci(
    gold: np.ndarray,
    predicted: np.ndarray,
    metric: str | Callable[[np.ndarray, np.ndarray], float] = "accuracy",
    *,
    labels: Sequence[int] | None = None,
    n_resamples: int = BOOTSTRAP_RESAMPLES,
    confidence: float = CONFIDENCE,
    seed: int = BOOTSTRAP_SEED,
) -> tuple[float, float]:
    """Percentile bootstrap interval of a metric over rows resampled with replacement.

    ``metric`` is ``"accuracy"``, ``"macro_f1"`` (over ``labels``, default the labels
    present in the full ``gold``, kept fixed across resamples) or a callable
    ``f(gold, predicted) -> float``. The same ``seed`` gives the same interval.

    >>> gold = np.array([0, 1] * 50); pred = np.array([0, 1] * 40 + [1, 0] * 10)
    >>> lo, hi = bootstrap_ci(gold, pred, "accuracy", seed=1)
    >>> lo < 0.8 < hi
    True
    """
    gold = np.asarray(gold)
    predicted = np.asarray(predicted)
    n = len(gold)
    if n == 0:
        return float("nan"), float("nan")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    rng = np.random.default_rng(seed)
    values = np.empty(n_resamples, dtype=np.float64)
    if callable(metric):
        for i in range(n_resamples):
            rows = rng.integers(0, n, n)
            values[i] = metric(gold[rows], predicted[rows])
    elif metric in ("accuracy", "macro_f1"):
        k = int(max(gold.max(), predicted.max())) + 1
        present_labels = sorted(set(gold.tolist())) if labels is None else list(labels)
        k = max(k, max(present_labels) + 1)
        present = np.array(present_labels, dtype=np.int64)
        codes = gold.astype(np.int64) * k + predicted.astype(np.int64)
        chunk = max(1, min(n_resamples, 2_000_000 // n))  # bound memory: ~16 MB of indices
        for start in range(0, n_resamples, chunk):
            size = min(chunk, n_resamples - start)
            rows = rng.integers(0, n, (size, n))
            values[start : start + size] = _fast_stat(codes[rows], k, metric, present)
    else:
        raise ValueError(f"metric must be 'accuracy', 'macro_f1' or a callable, got {metric!r}")
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(values, [tail, 100 - tail])
    return float(low), float(high)


def compute_metrics(
    gold: Sequence[Any] | np.ndarray,
    probabilities: np.ndarray,
    labels: Sequence[str],
    *,
    n_resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = BOOTSTRAP_SEED,
    n_bins: int = ECE_BINS,
) -> dict[str, Any]:
    """Every metric of one evaluation, as a JSON-ready dict.

    ``gold``: label strings or indices; ``probabilities``: shape ``(n, len(labels))``.
    Macro-F1 is averaged over the labels present in ``gold`` (``macro_f1_labels``); the
    predicted label is the argmax. FNC-1 models (labels agree/disagree/discuss/unrelated)
    also get ``fnc_score`` (raw / max), RumourEval models (support/deny/query/comment)
    ``rumoureval_macro_f1`` over all four labels.

    >>> m = compute_metrics([0, 1], np.array([[0.7, 0.3], [0.4, 0.6]]), ("a", "b"))
    >>> m["accuracy"], m["confusion_matrix"]["matrix"]
    (1.0, [[1, 0], [0, 1]])
    """
    labels = tuple(labels)
    k = len(labels)
    gold_idx = label_indices(gold, labels)
    n = len(gold_idx)
    if n == 0:
        raise InputDataError("no rows to compute metrics on")
    probabilities = _check_probabilities(probabilities, n, k)
    predicted = probabilities.argmax(axis=1)
    present = sorted(set(gold_idx.tolist()))
    present_names = [labels[i] for i in present]
    absent = [label for label in labels if label not in present_names]
    acc_ci = bootstrap_ci(gold_idx, predicted, "accuracy", n_resamples=n_resamples, seed=seed)
    f1_ci = bootstrap_ci(
        gold_idx, predicted, "macro_f1", labels=present, n_resamples=n_resamples, seed=seed
    )
    matrix = confusion(gold_idx, predicted, k)
    out: dict[str, Any] = {
        "n": n,
        "labels": list(labels),
        "accuracy": accuracy(gold_idx, predicted),
        "accuracy_ci": list(acc_ci),
        "macro_f1": macro_f1(gold_idx, predicted, present),
        "macro_f1_ci": list(f1_ci),
        "macro_f1_labels": present_names,
        "labels_absent_from_gold": absent,
        "per_class": per_class(gold_idx, predicted, labels),
        "confusion_matrix": {
            "labels": list(labels),
            "rows": "gold",
            "columns": "predicted",
            "matrix": matrix.tolist(),
        },
        "ece": ece(probabilities, gold_idx, n_bins),
        "ece_bins": n_bins,
        "reliability": reliability_bins(probabilities, gold_idx, n_bins),
        "brier": brier(probabilities, gold_idx),
        "nll": nll(probabilities, gold_idx),
        "bootstrap": {
            "resamples": n_resamples,
            "confidence": CONFIDENCE,
            "seed": seed,
            "method": "percentile",
        },
        "gold_counts": {labels[i]: int(c) for i, c in enumerate(matrix.sum(axis=1))},
        "predicted_counts": {labels[i]: int(c) for i, c in enumerate(matrix.sum(axis=0))},
    }
    if absent:
        out["macro_f1_note"] = (
            f"macro-F1 is averaged over the {len(present_names)} labels present in the gold "
            f"data {present_names}; {absent} never occur there"
        )
    if set(labels) == set(FNC1_LABELS):
        names = np.asarray(labels, dtype=object)
        raw, best = fnc_score(names[gold_idx], names[predicted])
        out["fnc_score"] = raw / best if best else float("nan")
        out["fnc_score_raw"] = raw
        out["fnc_score_max"] = best
    if set(labels) == set(RUMOUREVAL_LABELS):
        four = [labels.index(label) for label in RUMOUREVAL_LABELS]
        out["rumoureval_macro_f1"] = macro_f1(gold_idx, predicted, four)
    return out
