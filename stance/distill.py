"""Knowledge distillation: train a model on a teacher model's probabilities as well as on
the gold labels.

A teacher (``"large"``, ``"default"``, a model folder: anything
:meth:`StanceClassifier.load` takes) scores every training row once, before training; the
probabilities are kept in the run folder, so a run continued with ``--resume`` does not
score again. The loss is Hinton et al.'s (2015, "Distilling the Knowledge in a Neural
Network")::

    weight * T^2 * KL(teacher_T || student_T) + (1 - weight) * cross_entropy(gold)

where ``_T`` is a distribution softened by the temperature ``T``. The teacher's soft
probabilities carry what it knows beyond the argmax (how close a reply came to a denial),
which a smaller student learns more from than from the gold label alone.

>>> import torch
>>> logits = torch.tensor([[2.0, 0.0, 0.0]])
>>> teacher = torch.tensor([[0.8, 0.1, 0.1]])
>>> float(distillation_loss(logits, torch.tensor([0]), teacher, weight=1.0, temperature=1.0))
0.0005...
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from stance.errors import ConfigError
from stance.losses import class_weighted_mean

if TYPE_CHECKING:
    import pandas as pd
    import torch

    from stance.model import StanceClassifier

CACHE_FILE = "teacher_proba.npz"
"""Where a run folder keeps its teacher's probabilities while it trains."""
SCORING_CHUNK = 4096
"""Rows the teacher scores between two moves of the progress bar."""


def teacher_proba(
    teacher: str,
    frame: pd.DataFrame,
    labels: tuple[str, ...],
    cache_dir: str | os.PathLike[str],
    *,
    precision: str = "auto",
    batch_size: int | None = None,
    progress: bool = False,
) -> np.ndarray:
    """The teacher's probabilities of every row of ``frame`` (``claim``, ``response`` and,
    when present, ``context``), columns in ``labels`` order; read from ``cache_dir`` when
    the same teacher already scored the same rows there.

    >>> teacher_proba("large", frame, ("support", "denial", "neutral"), "run")  # doctest: +SKIP
    array([[0.91, 0.02, 0.07], ...], dtype=float32)
    """
    from stance.model import StanceClassifier

    clf = StanceClassifier.load(teacher, precision=precision)
    if sorted(clf.labels) != sorted(labels):
        raise ConfigError(
            f"distill.teacher {teacher!r} predicts {list(clf.labels)}, but this config trains "
            f"{list(labels)}; pick a teacher with the same labels or set labels to match it"
        )
    # a context column that holds no context (training without it) is left out
    has_context = "context" in frame.columns and frame["context"].notna().any()
    columns = ["claim", "response", *(["context"] if has_context else [])]
    rows = frame[columns]
    key = _cache_key(teacher, clf.config.provenance.get("trained_at"), rows, labels)
    cache = Path(cache_dir) / CACHE_FILE
    if cache.is_file():
        with np.load(cache, allow_pickle=False) as stored:
            if str(stored["key"]) == key:
                return stored["proba"]
    if batch_size is not None:
        clf = clf.with_settings(batch_size=batch_size)
    proba = _scored(clf, rows, progress)[:, [list(clf.labels).index(label) for label in labels]]
    cache.parent.mkdir(parents=True, exist_ok=True)
    partial = cache.with_suffix(".partial.npz")
    np.savez(partial, proba=proba, key=np.array(key))
    os.replace(partial, cache)
    return proba


def _scored(clf: StanceClassifier, rows: pd.DataFrame, progress: bool) -> np.ndarray:
    """``clf``'s probabilities of ``rows``, in chunks that move a progress bar."""
    from stance.progress import progress_bar

    bar = progress_bar(len(rows), desc="teacher", unit="pairs", enabled=progress)
    chunks = []
    for start in range(0, len(rows), SCORING_CHUNK):
        chunks.append(clf.predict_proba(rows.iloc[start : start + SCORING_CHUNK]))
        bar.update(len(chunks[-1]))
    bar.close()
    if not chunks:
        return np.zeros((0, len(clf.labels)), np.float32)
    return np.concatenate(chunks).astype(np.float32)


def _cache_key(teacher: str, trained_at: object, rows: pd.DataFrame, labels: tuple) -> str:
    digest = hashlib.sha1(json.dumps([teacher, str(trained_at), list(labels)]).encode())
    for row in rows.itertuples(index=False):
        digest.update(json.dumps([None if v != v else v for v in row]).encode())  # NaN -> None
    return digest.hexdigest()


def distillation_loss(
    logits: torch.Tensor,
    labels: torch.Tensor,
    teacher_proba: torch.Tensor,
    *,
    weight: float,
    temperature: float,
    class_weights: torch.Tensor | None = None,
) -> torch.Tensor:
    """The batch loss: ``weight`` on the temperature-softened KL divergence to the
    teacher (times ``T^2``, so its gradients keep their scale), ``1 - weight`` on the
    cross-entropy to the gold labels; ``class_weights`` weight the rows by gold label."""
    import torch.nn.functional as F

    logits = logits.float()
    teacher_log = teacher_proba.float().clamp_min(1e-8).log()
    soft_teacher = F.log_softmax(teacher_log / temperature, dim=-1)
    soft_student = F.log_softmax(logits / temperature, dim=-1)
    kl = (soft_teacher.exp() * (soft_teacher - soft_student)).sum(dim=-1) * temperature**2
    per_row = weight * kl
    if weight < 1:
        per_row = per_row + (1 - weight) * F.cross_entropy(logits, labels, reduction="none")
    return class_weighted_mean(per_row, labels, class_weights)
