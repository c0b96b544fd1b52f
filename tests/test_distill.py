"""Distillation: the loss, the teacher's cached probabilities, and a student that learns
what its teacher predicts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from test_training import base_config, synthetic_pairs

from stance import StanceClassifier, distill
from stance.distill import CACHE_FILE, distillation_loss, teacher_proba
from stance.errors import ConfigError
from stance.training import train
from stance.training_config import TrainConfig

LABELS = ("support", "denial", "neutral")


def test_weight_zero_is_plain_cross_entropy():
    logits, labels = torch.tensor([[2.0, 0.5, -1.0], [0.1, 0.2, 0.3]]), torch.tensor([0, 2])
    teacher = torch.tensor([[0.1, 0.8, 0.1], [0.3, 0.3, 0.4]])
    loss = distillation_loss(logits, labels, teacher, weight=0.0, temperature=2.0)
    assert torch.isclose(loss, torch.nn.functional.cross_entropy(logits, labels))


def test_the_teacher_term_vanishes_when_the_student_agrees_and_pulls_towards_the_teacher():
    teacher = torch.tensor([[0.7, 0.2, 0.1]])
    agreeing = teacher.log().clone().requires_grad_(True)
    loss = distillation_loss(agreeing, torch.tensor([0]), teacher, weight=1.0, temperature=3.0)
    assert float(loss.detach()) == pytest.approx(0.0, abs=1e-6)
    student = torch.zeros(1, 3, requires_grad=True)
    distillation_loss(student, torch.tensor([2]), teacher, weight=1.0, temperature=1.0).backward()
    # gradient descent raises the logit the teacher favours, whatever the gold label says
    assert student.grad[0, 0] < 0 < student.grad[0, 2]


def test_teacher_probabilities_follow_the_configs_label_order_and_are_cached(
    tmp_path, tiny_model_dir, monkeypatch
):
    frame = pd.DataFrame({"claim": ["a vote", "the storm"], "response": ["yes", "no it is not"]})
    order = ("neutral", "support", "denial")
    monkeypatch.setattr(distill, "SCORING_CHUNK", 1)  # one row per chunk: order kept
    first = teacher_proba(str(tiny_model_dir), frame, order, tmp_path, precision="fp32")
    clf = StanceClassifier.load(tiny_model_dir, precision="fp32")
    expected = clf.predict_proba(frame)[:, [list(clf.labels).index(label) for label in order]]
    np.testing.assert_allclose(first, expected, rtol=1e-5)
    assert (tmp_path / CACHE_FILE).is_file()

    def no_scoring(*args, **kwargs):
        raise AssertionError("the cached probabilities should have been used")

    monkeypatch.setattr(StanceClassifier, "predict_proba", no_scoring)
    again = teacher_proba(str(tiny_model_dir), frame, order, tmp_path, precision="fp32")
    np.testing.assert_array_equal(again, first)
    with pytest.raises(AssertionError, match="cached"):  # other rows: scored anew
        teacher_proba(str(tiny_model_dir), frame.iloc[:1], order, tmp_path, precision="fp32")


def test_a_teacher_with_other_labels_is_refused(tmp_path, tiny_model_dir):
    frame = pd.DataFrame({"claim": ["a"], "response": ["b"]})
    with pytest.raises(ConfigError, match=r"predicts .* but this config trains \['yes', 'no'\]"):
        teacher_proba(str(tiny_model_dir), frame, ("yes", "no"), tmp_path)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"distill": {"teacher": "large", "weight": 1.5}}, r"distill.weight must be in \[0, 1\]"),
        ({"distill": {"teacher": "large", "temperature": 0}}, "distill.temperature must be > 0"),
        (
            {"distill": {"teacher": "large"}, "focal_gamma": 2.0},
            "focal_gamma and distill each replace the cross-entropy loss",
        ),
    ],
)
def test_distill_settings_are_checked(tmp_path, tiny_base_dir, extra, message):
    with pytest.raises(ConfigError, match=message):
        TrainConfig.from_dict(base_config(tmp_path, tiny_base_dir, **extra))


def test_a_student_learns_what_its_teacher_predicts_not_the_gold_labels(tmp_path, tiny_base_dir):
    teacher_config = base_config(tmp_path, tiny_base_dir)
    teacher_config["output_dir"] = str(tmp_path / "teacher")
    teacher = train(TrainConfig.from_dict(teacher_config), progress=False)
    # the student's gold labels are wrong on every row; only the teacher knows the cue words
    wrong = synthetic_pairs(300, seed=1)
    wrong["stance"] = wrong["stance"].map(dict(zip(LABELS, LABELS[1:] + LABELS[:1], strict=True)))
    wrong.to_csv(tmp_path / "wrong.csv", index=False)
    student_config = base_config(
        tmp_path, tiny_base_dir, distill={"teacher": str(tmp_path / "teacher"), "weight": 1.0}
    )
    student_config["sources"][0]["path"] = str(tmp_path / "wrong.csv")
    student_config["output_dir"] = str(tmp_path / "student")
    student = train(TrainConfig.from_dict(student_config), progress=False)
    dev = synthetic_pairs(60, seed=3)
    pairs = list(zip(dev["claim"], dev["response"], strict=True))
    taught = np.array(teacher.predict(pairs))
    shifted = dict(zip(LABELS, LABELS[1:] + LABELS[:1], strict=True))
    misled = np.array([shifted[label] for label in taught])  # what the gold labels teach
    predicted = np.array(student.predict(pairs))
    # the gold labels alone would teach the shifted labels on every row
    assert np.mean(predicted == taught) >= 0.6
    assert np.mean(predicted == taught) > 2 * np.mean(predicted == misled)
    assert "Distilled from" in (tmp_path / "student" / "README.md").read_text()
