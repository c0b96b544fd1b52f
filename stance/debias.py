"""Claim-only shortcuts: a model that reads only the claim, and losses that train around it.

When a model that never sees the response can guess the label, the data carries a
shortcut: NLI hypotheses with "not" or "failed" are mostly contradictions, COVID-Fact
claims are mostly refuted. A cross-encoder trained on such data learns to judge the
claim instead of the response. This module gives

- :class:`ClaimOnlyModel`: TF-IDF word n-grams of the claim and a logistic regression,
  the classic hypothesis-only baseline (Poliak et al. 2018; Gururangan et al. 2018);
- :func:`cross_fit_proba`: the claim-only probabilities of every training row from a model
  that did not see that row's claim (grouped k-fold), so memorised claims do not look
  like shortcuts;
- :func:`debiased_loss`: the training losses of Clark et al. 2019 ("Don't Take the Easy
  Way Out") against those probabilities: ``reweight`` scales each row's cross-entropy by
  ``1 - p_bias(gold)``; ``product_of_experts`` trains ``log_softmax(logits) + log p_bias``
  so the model only learns what the claim-only model cannot explain.

>>> model = ClaimOnlyModel(("support", "denial", "neutral"))
>>> model = model.fit(["It failed.", "It did not fail.", "It worked."] * 4,
...                   ["denial", "denial", "support"] * 4)
>>> model.predict(["It failed badly."])
['denial']
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from stance.errors import ConfigError
from stance.losses import class_weighted_mean

if TYPE_CHECKING:
    import torch

METHODS = ("reweight", "product_of_experts")


class ClaimOnlyModel:
    """Predict the label from the claim alone (TF-IDF 1-2 grams + logistic regression).

    Follows the scikit-learn contract: the constructor stores, :meth:`fit` learns, and
    :meth:`predict_proba` returns an ``(n, len(labels))`` array in ``labels`` order (a
    label absent from the training rows gets probability 0).
    """

    def __init__(
        self, labels: Sequence[str], *, max_features: int = 100_000, c: float = 1.0
    ) -> None:
        self.labels = tuple(labels)
        self.max_features = max_features
        self.c = c

    def fit(self, claims: Sequence[str], gold: Sequence[str]) -> ClaimOnlyModel:
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression

        unknown = sorted(set(gold) - set(self.labels))
        if unknown:
            raise ConfigError(f"gold labels {unknown} are not among the labels {self.labels}")
        self.vectorizer_ = TfidfVectorizer(
            ngram_range=(1, 2), min_df=2, sublinear_tf=True, max_features=self.max_features
        )
        features = self.vectorizer_.fit_transform(list(claims))
        self.classifier_ = LogisticRegression(C=self.c, max_iter=1000)
        self.classifier_.fit(features, list(gold))
        return self

    def predict_proba(self, claims: Sequence[str]) -> np.ndarray:
        fitted = self.classifier_.predict_proba(self.vectorizer_.transform(list(claims)))
        proba = np.zeros((fitted.shape[0], len(self.labels)))
        for j, label in enumerate(self.classifier_.classes_):
            proba[:, self.labels.index(label)] = fitted[:, j]
        return proba

    def predict(self, claims: Sequence[str]) -> list[str]:
        return [self.labels[i] for i in self.predict_proba(claims).argmax(axis=1)]


def cross_fit_proba(
    claims: Sequence[str], gold: Sequence[str], labels: Sequence[str], *, folds: int = 5
) -> np.ndarray:
    """Claim-only probabilities for every row, each from a model fitted on the other folds.

    Rows are grouped by claim text, so a claim is never scored by a model that saw it.

    >>> claims = ["cats sleep", "dogs bark", "cats bark", "dogs sleep"] * 3
    >>> p = cross_fit_proba(claims, ["support", "denial"] * 6, ("support", "denial"), folds=2)
    >>> p.shape
    (12, 2)
    """
    from sklearn.model_selection import GroupKFold

    claims, gold = list(claims), list(gold)
    if folds < 2:
        raise ConfigError(f"debias.folds must be >= 2, got {folds}")
    if len(set(claims)) < folds:
        raise ConfigError(
            f"cross-fitting the claim-only model needs at least {folds} distinct claims, "
            f"got {len(set(claims))}; lower debias.folds or add data"
        )
    proba = np.zeros((len(claims), len(labels)))
    for fit_rows, score_rows in GroupKFold(n_splits=folds).split(claims, groups=claims):
        model = ClaimOnlyModel(labels).fit(
            [claims[i] for i in fit_rows], [gold[i] for i in fit_rows]
        )
        proba[score_rows] = model.predict_proba([claims[i] for i in score_rows])
    return proba


def claim_only_proba(
    claims: Sequence[str],
    gold: Sequence[str],
    labels: Sequence[str],
    folds: int,
    scored: np.ndarray,
) -> np.ndarray:
    """Cross-fitted claim-only probabilities of every row; rows where the boolean mask
    ``scored`` is false are left out of the fit and get ``1 / len(labels)`` for every
    label (chance: nothing to train around)."""
    proba = np.full((len(claims), len(labels)), 1.0 / len(labels))
    rows = np.flatnonzero(scored)
    if len(rows):
        proba[rows] = cross_fit_proba(
            [claims[i] for i in rows], [gold[i] for i in rows], labels, folds=folds
        )
    return proba


def debiased_loss(
    method: str,
    logits: torch.Tensor,
    labels: torch.Tensor,
    bias_proba: torch.Tensor,
    class_weights: torch.Tensor | None = None,
) -> torch.Tensor:
    """The batch loss of ``method`` given the claim-only probabilities of each row.

    ``reweight``: cross-entropy weighted by ``1 - p_bias(gold)`` (normalised by the sum of
    the weights); ``product_of_experts``: cross-entropy of ``log_softmax(logits) + log
    p_bias``. ``class_weights`` (one per label) multiply in as usual.
    """
    import torch.nn.functional as F

    logits = logits.float()
    bias_proba = bias_proba.float().clamp_min(1e-6)
    row_weight = None
    if method == "reweight":
        row_weight = 1.0 - bias_proba.gather(1, labels[:, None]).squeeze(1)
        per_row = F.cross_entropy(logits, labels, reduction="none")
    elif method == "product_of_experts":
        combined = F.log_softmax(logits, dim=-1) + bias_proba.log()
        per_row = F.cross_entropy(combined, labels, reduction="none")
    else:
        raise ConfigError(f"debias.method must be one of {METHODS}, got {method!r}")
    return class_weighted_mean(per_row, labels, class_weights, row_weight)
