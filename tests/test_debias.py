"""Claim-only model, cross-fitting, the debiased losses, off-topic pairs and training with them."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch
from test_training import base_config, synthetic_pairs

from stance.data import offtopic_pairs
from stance.debias import ClaimOnlyModel, claim_only_proba, cross_fit_proba, debiased_loss
from stance.documents import content_words
from stance.errors import ConfigError, InputDataError
from stance.training import train
from stance.training_config import TrainConfig

LABELS = ("support", "denial", "neutral")


def test_claim_only_model_columns_follow_the_labels_and_absent_labels_get_zero():
    claims = ["prices rose sharply", "prices fell sharply", "prices rose again"] * 5
    gold = ["support", "denial", "support"] * 5
    model = ClaimOnlyModel(LABELS).fit(claims, gold)
    proba = model.predict_proba(["prices fell", "prices rose"])
    assert proba.shape == (2, 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert (proba[:, LABELS.index("neutral")] == 0).all()  # never seen in training
    assert model.predict(["prices fell", "prices rose"]) == ["denial", "support"]


def test_claim_only_model_refuses_labels_outside_its_scheme():
    with pytest.raises(ConfigError, match=r"\['maybe'\] are not among the labels"):
        ClaimOnlyModel(LABELS).fit(["a b", "c d"], ["support", "maybe"])


def test_cross_fitting_never_scores_a_claim_with_a_model_that_saw_it():
    # each claim is its own word, repeated with one label: memorised, it would be certain
    claims = [f"claimword{i}" for i in range(40) for _ in range(3)]
    gold = ["support" if i % 2 else "denial" for i in range(40) for _ in range(3)]
    seen = ClaimOnlyModel(("support", "denial")).fit(claims, gold).predict_proba(claims)
    assert seen.max(axis=1).mean() > 0.7
    held_out = cross_fit_proba(claims, gold, ("support", "denial"), folds=5)
    assert held_out.max(axis=1).max() < 0.6  # nothing to go on but the prior


def test_cross_fitting_needs_enough_claims():
    with pytest.raises(ConfigError, match="at least 5 distinct claims"):
        cross_fit_proba(["a", "b", "a"], ["support", "denial", "support"], LABELS, folds=5)


def test_reweight_ignores_rows_the_claim_alone_explains():
    logits = torch.tensor([[2.0, 0.0, 0.0], [0.0, 0.0, 3.0]])
    labels = torch.tensor([1, 0])
    bias = torch.tensor([[0.0, 1.0, 0.0], [0.2, 0.4, 0.4]])  # row 0: claim-only is certain
    loss = debiased_loss("reweight", logits, labels, bias)
    second_row = torch.nn.functional.cross_entropy(logits[1:], labels[1:])
    torch.testing.assert_close(loss, second_row, atol=1e-4, rtol=0)


def test_product_of_experts_with_an_uninformative_claim_model_is_cross_entropy():
    logits = torch.tensor([[2.0, 0.0, -1.0], [0.5, 0.0, 3.0]])
    labels = torch.tensor([1, 2])
    uniform = torch.full((2, 3), 1 / 3)
    torch.testing.assert_close(
        debiased_loss("product_of_experts", logits, labels, uniform),
        torch.nn.functional.cross_entropy(logits, labels),
    )
    confident = torch.tensor([[0.05, 0.9, 0.05], [0.05, 0.05, 0.9]])  # agrees with gold
    assert debiased_loss("product_of_experts", logits, labels, confident) < (
        torch.nn.functional.cross_entropy(logits, labels)
    )


def test_unknown_method_says_which_exist():
    with pytest.raises(ConfigError, match="one of .*reweight"):
        debiased_loss("poe", torch.zeros(1, 3), torch.tensor([0]), torch.full((1, 3), 1 / 3))


def test_offtopic_pairs_come_from_other_sources_and_share_no_content_word():
    frame = pd.DataFrame(
        {
            "claim": [f"The {w} report was published." for w in ("budget", "river", "school")] * 4,
            "response": [f"{w} answer number {i}" for i, w in enumerate(["storm", "vote"] * 6)],
            "label": "support",
            "source": ["a", "b", "c"] * 4,
        }
    )
    pairs = offtopic_pairs(frame, rows=3, label="neutral", seed=1, min_content_words=1)
    assert len(pairs) == 3 and set(pairs["label"]) == {"neutral"}
    assert set(pairs["source"]) == {"offtopic"}
    assert pairs["claim"].is_unique
    origin = dict(zip(frame["response"], frame["source"], strict=True))
    claim_source = dict(zip(frame["claim"], frame["source"], strict=True))
    for claim, response in zip(pairs["claim"], pairs["response"], strict=True):
        assert origin[response] != claim_source[claim]
        assert not content_words(claim) & content_words(response)


def test_offtopic_responses_state_something():
    frame = pd.DataFrame(
        {
            "claim": ["The budget passed.", "The river flooded."] * 3,
            "response": ["Nonsense.", "Not true at all.", "Fake."] * 2,
            "label": "denial",
            "source": ["a", "b"] * 3,
        }
    )
    stating = "Engineers finished repairing the northern railway tunnel yesterday evening."
    frame.loc[5, "response"] = stating
    pairs = offtopic_pairs(frame, rows=2, label="neutral")
    assert list(pairs["response"]) == [stating]  # the river claim shares its source
    with pytest.raises(InputDataError, match="at least 5 content words"):
        offtopic_pairs(frame.iloc[:5], rows=2, label="neutral")


def test_offtopic_pairs_need_two_sources():
    frame = pd.DataFrame({"claim": ["a b"], "response": ["c"], "label": ["support"]})
    with pytest.raises(InputDataError, match="one source .*remove `offtopic`"):
        offtopic_pairs(frame.assign(source="only"), rows=1, label="neutral")


@pytest.mark.parametrize(
    "change, message",
    [
        ({"debias": {"method": "reweigh"}}, "Did you mean 'reweight'"),
        ({"debias": {"folds": 1}}, "debias.folds must be >= 2"),
        ({"offtopic": {"rows": 10, "label": "unrelated"}}, "offtopic.label must be one of"),
        ({"offtopic": {"rows": 0}}, "offtopic.rows must be >= 1"),
        ({"offtopic": {"label": "neutral"}}, "missing the required key"),
    ],
)
def test_debias_and_offtopic_config_errors(tmp_path, tiny_base_dir, change, message):
    with pytest.raises(ConfigError, match=message):
        TrainConfig.from_dict(base_config(tmp_path, tiny_base_dir, **change))


@pytest.mark.parametrize("method", ["reweight", "product_of_experts"])
def test_debiased_training_with_offtopic_pairs_learns_and_records_them(
    tmp_path, tiny_base_dir, method
):
    second = tmp_path / "second.csv"
    synthetic_pairs(60, seed=4).to_csv(second, index=False)
    config = base_config(
        tmp_path,
        tiny_base_dir,
        debias={"method": method, "folds": 3},
        offtopic={"rows": 30, "label": "neutral", "min_content_words": 1},
    )
    config["sources"].append({"path": str(second), "label_column": "stance", "name": "second"})
    clf = train(TrainConfig.from_dict(config), progress=False)
    held_out = synthetic_pairs(90, seed=3)
    accuracy = np.mean(np.array(clf.predict(held_out[["claim", "response"]])) == held_out["stance"])
    assert accuracy > 0.8  # the response cue is still learned
    info = json.loads((tmp_path / "out" / "stance_config.json").read_text())
    provenance = info["provenance"]
    assert 0 <= provenance["metrics"]["claim_only_cross_fit_accuracy"] <= 1
    rows = {s["name"]: s["rows"] for s in provenance["sources"]}
    # synthetic claims and responses share filler words: claims with no disjoint response
    # among 20 draws are left out
    assert 15 <= rows["offtopic"] <= 30
    assert provenance["train_rows"] == 300 + 60 + rows["offtopic"]


def test_sources_with_debias_false_are_left_out_of_the_claim_only_model():
    train = pd.DataFrame(
        {
            "claim": [f"Claim {i} failed." for i in range(6)]
            + [f"Claim {i} worked." for i in range(6)]
            + ["It is not so."] * 4,
            "label": ["denial"] * 6 + ["support"] * 6 + ["neutral"] * 4,
            "source": ["nli"] * 12 + ["negations"] * 4,
        }
    )
    labels = ("support", "denial", "neutral")
    claims, gold = train["claim"].tolist(), train["label"].tolist()
    scored = (train["source"] != "negations").to_numpy()
    proba = claim_only_proba(claims, gold, labels, 3, scored)
    assert np.allclose(proba[12:], 1 / 3)
    # the exempt rows' neutral labels never reach the fit
    assert np.allclose(proba[:12, 2], 0)
    assert (proba[:6].argmax(axis=1) == 1).all() and (proba[6:12].argmax(axis=1) == 0).all()
    debiased = claim_only_proba(claims, gold, labels, 3, np.ones(len(train), dtype=bool))
    assert debiased[:12, 2].max() > 0 and not np.allclose(debiased[12:], 1 / 3)


@pytest.mark.parametrize(
    "debias, source_debias, message",
    [
        (None, False, r"sources\[0\] \(.*\) sets debias: false, but the config has no debias"),
        ({"method": "reweight"}, "no", r"sources\[0\].debias must be true or false, got 'no'"),
        ({"method": "reweight"}, False, "every source sets debias: false"),
    ],
)
def test_source_debias_flag_errors(tmp_path, tiny_base_dir, debias, source_debias, message):
    config = base_config(tmp_path, tiny_base_dir, debias=debias)
    config["sources"][0]["debias"] = source_debias
    with pytest.raises(ConfigError, match=message):
        TrainConfig.from_dict(config)


def test_training_with_an_exempt_source_trains_on_it(tmp_path, tiny_base_dir):
    second = tmp_path / "second.csv"
    synthetic_pairs(60, seed=4).to_csv(second, index=False)
    config = base_config(
        tmp_path, tiny_base_dir, debias={"method": "product_of_experts", "folds": 3}
    )
    config["sources"].append(
        {"path": str(second), "label_column": "stance", "name": "second", "debias": False}
    )
    train(TrainConfig.from_dict(config), progress=False)
    provenance = json.loads((tmp_path / "out" / "stance_config.json").read_text())["provenance"]
    assert {s["name"]: s["rows"] for s in provenance["sources"]}["second"] == 60
    assert 0 <= provenance["metrics"]["claim_only_cross_fit_accuracy"] <= 1


def test_debiased_training_hands_the_claim_only_probabilities_to_the_loss(
    tmp_path, tiny_base_dir, monkeypatch
):
    # The Trainer drops batch keys the model's forward does not take unless told not to;
    # the claim-only probabilities must still reach the loss, row for row.
    import stance.training

    seen = []

    def spy(method, logits, labels, bias_proba, class_weights=None):
        seen.append(bias_proba.shape)
        return debiased_loss(method, logits, labels, bias_proba, class_weights)

    monkeypatch.setattr(stance.training, "debiased_loss", spy)
    config = base_config(tmp_path, tiny_base_dir, debias={"method": "reweight", "folds": 3})
    train(TrainConfig.from_dict(config), progress=False)
    assert seen and all(shape[1] == 3 for shape in seen)
