"""Focal loss: cross-entropy at gamma 0, easy rows discounted above it."""

from __future__ import annotations

import pytest
import torch

from stance.losses import focal_loss

LOGITS = torch.tensor([[4.0, 0.0, 0.0], [0.0, 0.5, 0.0], [0.2, 0.1, 3.0], [1.0, 1.0, 1.0]])
LABELS = torch.tensor([0, 1, 0, 2])
WEIGHT = torch.tensor([0.5, 2.0, 1.0])


@pytest.mark.parametrize("weight", [None, WEIGHT])
def test_gamma_zero_is_cross_entropy(weight):
    expected = torch.nn.functional.cross_entropy(LOGITS, LABELS, weight=weight)
    assert torch.isclose(focal_loss(LOGITS, LABELS, 0.0, weight), expected)


def test_each_row_is_scaled_by_one_minus_its_gold_probability():
    p_gold = torch.softmax(LOGITS, dim=-1)[torch.arange(4), LABELS]
    rows = -((1 - p_gold) ** 2) * torch.log(p_gold)
    assert torch.isclose(focal_loss(LOGITS, LABELS, 2.0), rows.mean())
    weighted = (WEIGHT[LABELS] * rows).sum() / WEIGHT[LABELS].sum()
    assert torch.isclose(focal_loss(LOGITS, LABELS, 2.0, WEIGHT), weighted)


def test_an_easy_row_counts_far_less_than_a_hard_one():
    easy, hard = LOGITS[:1], LOGITS[2:3]  # gold probability about 0.96 and about 0.05
    ratio_ce = focal_loss(hard, LABELS[2:3], 0.0) / focal_loss(easy, LABELS[:1], 0.0)
    ratio_focal = focal_loss(hard, LABELS[2:3], 2.0) / focal_loss(easy, LABELS[:1], 2.0)
    assert ratio_focal > 100 * ratio_ce
