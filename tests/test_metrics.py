"""stance.metrics against values computed by hand on tiny arrays."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import f1_score

from stance.errors import InputDataError
from stance.metrics import (
    accuracy,
    bootstrap_ci,
    brier,
    compute_metrics,
    confusion,
    ece,
    fnc_score,
    label_indices,
    macro_f1,
    nll,
    per_class,
    reliability_bins,
)

LABELS = ("support", "denial", "neutral")

# Four rows; confidences 0.9, 0.9, 0.55, 0.7 (no value on a 1/15 bin edge).
PROBS = np.array(
    [
        [0.9, 0.05, 0.05],  # gold support: right
        [0.9, 0.05, 0.05],  # gold denial: wrong
        [0.2, 0.55, 0.25],  # gold denial: right
        [0.1, 0.2, 0.7],  # gold support: wrong
    ]
)
GOLD = np.array([0, 1, 1, 0])


def test_accuracy_by_hand():
    assert accuracy(np.array([0, 1, 2, 2]), np.array([0, 1, 1, 2])) == 0.75


def test_macro_f1_over_present_labels_by_hand():
    gold = np.array([0, 0, 1, 1])  # label 2 (neutral) never occurs in gold
    pred = np.array([0, 2, 1, 0])
    # support: TP 1, FP 1, FN 1 -> F1 0.5; denial: TP 1, FP 0, FN 1 -> F1 2/3
    assert macro_f1(gold, pred) == pytest.approx((0.5 + 2 / 3) / 2)
    # over all three labels neutral's F1 of 0 would drag it down
    assert macro_f1(gold, pred, [0, 1, 2]) == pytest.approx((0.5 + 2 / 3) / 3)


def test_per_class_and_confusion_by_hand():
    gold = np.array([0, 0, 1, 1])
    pred = np.array([0, 2, 1, 0])
    rows = per_class(gold, pred, LABELS)
    assert rows["support"] == {"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 2}
    assert rows["denial"]["precision"] == 1.0
    assert rows["denial"]["recall"] == 0.5
    assert rows["neutral"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}
    # rows gold, columns predicted
    assert confusion(gold, pred, 3).tolist() == [[1, 0, 1], [1, 1, 0], [0, 0, 0]]


def test_ece_by_hand():
    # bin 13 (0.867, 0.933]: two rows, accuracy 0.5, confidence 0.9 -> 2/4 * 0.4
    # bin 8 (0.533, 0.6]: one row right, confidence 0.55 -> 1/4 * 0.45
    # bin 10 (0.667, 0.733]: one row wrong, confidence 0.7 -> 1/4 * 0.7
    assert ece(PROBS, GOLD) == pytest.approx(0.2 + 0.1125 + 0.175)
    bins = reliability_bins(PROBS, GOLD)
    assert len(bins) == 15
    assert [b["count"] for b in bins].count(0) == 12
    assert bins[13]["count"] == 2 and bins[13]["accuracy"] == 0.5
    assert bins[13]["confidence"] == pytest.approx(0.9)


def test_ece_of_perfectly_calibrated_and_overconfident():
    one_hot = np.eye(3)[[0, 1, 2]]
    assert ece(one_hot, np.array([0, 1, 2])) == 0.0
    assert ece(one_hot, np.array([1, 2, 0])) == 1.0


def test_brier_by_hand():
    # rows: 0.015, 1.715, 0.305, 1.34 -> mean 0.84375
    assert brier(PROBS, GOLD) == pytest.approx(0.84375)
    # two labels: not halved (the multi-class definition, range 0..2)
    assert brier(np.array([[0.8, 0.2], [0.5, 0.5]]), np.array([0, 1])) == pytest.approx(0.29)


def test_nll_by_hand():
    expected = -np.mean(np.log([0.9, 0.05, 0.55, 0.1]))
    assert nll(PROBS, GOLD) == pytest.approx(expected)


def test_fnc_score_by_hand():
    gold = ["agree", "disagree", "discuss", "unrelated", "unrelated", "agree"]
    pred = ["agree", "discuss", "unrelated", "unrelated", "agree", "disagree"]
    # 1.0 (exact related) + 0.25 (related, wrong label) + 0 (related called unrelated)
    # + 0.25 (unrelated right) + 0 (unrelated called related) + 0.25 (related, wrong label)
    raw, best = fnc_score(gold, pred)
    assert raw == 1.75
    assert best == 4 * 1.0 + 2 * 0.25
    assert fnc_score(gold, gold) == (best, best)


def test_compute_metrics_adds_fnc_score_for_fnc_models():
    labels = ("agree", "disagree", "discuss", "unrelated")
    gold = ["agree", "disagree", "discuss", "unrelated", "unrelated", "agree"]
    predicted = [0, 2, 3, 3, 0, 1]
    probs = np.full((6, 4), 0.1)
    probs[np.arange(6), predicted] = 0.7
    m = compute_metrics(gold, probs, labels, n_resamples=50)
    assert m["fnc_score_raw"] == 1.75
    assert m["fnc_score_max"] == 4.5
    assert m["fnc_score"] == pytest.approx(1.75 / 4.5)
    assert "rumoureval_macro_f1" not in m


def test_compute_metrics_rumoureval_macro_f1_uses_all_four_labels():
    labels = ("support", "deny", "query", "comment")
    gold = ["support", "deny", "comment", "comment"]  # no query in the gold data
    probs = np.eye(4)[[0, 1, 3, 2]] * 0.7 + 0.075
    m = compute_metrics(gold, probs, labels, n_resamples=50)
    # support 1, deny 1, comment 2/3 (TP 1, FN 1), query 0 (one false positive)
    assert m["macro_f1"] == pytest.approx((1 + 1 + 2 / 3) / 3)
    assert m["rumoureval_macro_f1"] == pytest.approx((1 + 1 + 2 / 3 + 0) / 4)
    assert "fnc_score" not in m


def test_compute_metrics_label_subset_is_reported():
    gold = ["support", "support", "denial", "denial"]
    probs = np.array(
        [[0.8, 0.1, 0.1], [0.2, 0.2, 0.6], [0.1, 0.8, 0.1], [0.5, 0.3, 0.2]]
    )  # predicted support, neutral, denial, support
    m = compute_metrics(gold, probs, LABELS, n_resamples=100)
    assert m["n"] == 4
    assert m["accuracy"] == 0.5
    assert m["macro_f1_labels"] == ["support", "denial"]
    assert m["labels_absent_from_gold"] == ["neutral"]
    assert m["macro_f1"] == pytest.approx((0.5 + 2 / 3) / 2)
    assert "neutral" in m["macro_f1_note"]
    assert m["confusion_matrix"]["labels"] == list(LABELS)
    assert m["confusion_matrix"]["matrix"] == [[1, 0, 1], [1, 1, 0], [0, 0, 0]]
    assert m["gold_counts"] == {"support": 2, "denial": 2, "neutral": 0}
    assert m["predicted_counts"] == {"support": 2, "denial": 1, "neutral": 1}
    for key in ("precision", "recall", "f1", "support"):
        assert key in m["per_class"]["neutral"]


def test_compute_metrics_rejects_unknown_labels_and_bad_shapes():
    with pytest.raises(InputDataError, match="agree"):
        compute_metrics(["agree"], np.array([[1.0, 0.0, 0.0]]), LABELS)
    with pytest.raises(InputDataError, match="shape"):
        compute_metrics(["support"], np.array([[1.0, 0.0]]), LABELS)
    assert label_indices(["neutral", "support"], LABELS).tolist() == [2, 0]


def _noisy(n: int, seed: int = 3) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    gold = rng.integers(0, 3, n)
    pred = np.where(rng.random(n) < 0.7, gold, rng.integers(0, 3, n))
    return gold, pred


def test_bootstrap_ci_contains_estimate_and_is_seeded():
    gold, pred = _noisy(300)
    for metric, point in (
        ("accuracy", accuracy(gold, pred)),
        ("macro_f1", macro_f1(gold, pred)),
    ):
        low, high = bootstrap_ci(gold, pred, metric, seed=7)
        assert low < point < high
        assert high - low < 0.2
        assert bootstrap_ci(gold, pred, metric, seed=7) == (low, high)
        assert bootstrap_ci(gold, pred, metric, seed=8) != (low, high)


def test_bootstrap_fast_path_matches_sklearn_on_every_resample():
    gold, pred = _noisy(120, seed=11)

    def sk_macro(g: np.ndarray, p: np.ndarray) -> float:
        return f1_score(g, p, labels=[0, 1, 2], average="macro", zero_division=0)

    fast = bootstrap_ci(gold, pred, "macro_f1", n_resamples=200, seed=5)
    slow = bootstrap_ci(gold, pred, sk_macro, n_resamples=200, seed=5)
    assert fast == pytest.approx(slow)
    acc = bootstrap_ci(gold, pred, "accuracy", n_resamples=200, seed=5)
    assert acc == pytest.approx(
        bootstrap_ci(gold, pred, lambda g, p: float(np.mean(g == p)), n_resamples=200, seed=5)
    )


def test_compute_metrics_intervals_are_1000_seeded_resamples():
    gold, pred = _noisy(200)
    probs = np.eye(3)[pred] * 0.6 + 0.4 / 3
    m = compute_metrics(gold, probs, LABELS)
    assert m["bootstrap"]["resamples"] == 1000
    assert m["bootstrap"]["confidence"] == 0.95
    assert m["accuracy_ci"][0] <= m["accuracy"] <= m["accuracy_ci"][1]
    assert m["macro_f1_ci"][0] <= m["macro_f1"] <= m["macro_f1_ci"][1]
    again = compute_metrics(gold, probs, LABELS)
    assert again["accuracy_ci"] == m["accuracy_ci"]
    assert again["macro_f1_ci"] == m["macro_f1_ci"]
