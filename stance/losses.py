"""Training losses beside plain cross-entropy (the claim-only debiasing losses live in
:mod:`stance.debias`).

>>> import torch
>>> logits, labels = torch.tensor([[2.0, 0.0], [0.0, 1.0]]), torch.tensor([0, 1])
>>> bool(torch.isclose(focal_loss(logits, labels, gamma=0.0),
...                    torch.nn.functional.cross_entropy(logits, labels)))
True
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch


def class_weighted_mean(
    per_row: torch.Tensor,
    labels: torch.Tensor,
    class_weights: torch.Tensor | None = None,
    row_weight: torch.Tensor | None = None,
) -> torch.Tensor:
    """The mean of ``per_row`` losses weighted by each row's class weight (times
    ``row_weight``, when given), normalised by the sum of the weights, as
    ``torch.nn.functional.cross_entropy`` does with ``weight``."""
    import torch

    weight = (
        class_weights.to(per_row.device)[labels]
        if class_weights is not None
        else torch.ones_like(per_row)
    )
    if row_weight is not None:
        weight = weight * row_weight
    return (per_row * weight).sum() / weight.sum().clamp_min(1e-6)


def focal_loss(
    logits: torch.Tensor,
    labels: torch.Tensor,
    gamma: float,
    weight: torch.Tensor | None = None,
) -> torch.Tensor:
    """Multi-class focal loss (Lin et al. 2017): each row's cross-entropy scaled by
    ``(1 - p_gold) ** gamma``, so rows the model already gets right count less and the
    rare, hard ones more. ``gamma=0`` is cross-entropy; ``weight`` (per class) weights
    rows as ``torch.nn.functional.cross_entropy`` does, a mean over the rows' weights.
    """
    import torch

    log_p = torch.log_softmax(logits.float(), dim=-1).gather(1, labels[:, None]).squeeze(1)
    return class_weighted_mean(-((1.0 - log_p.exp()) ** gamma) * log_p, labels, weight)
