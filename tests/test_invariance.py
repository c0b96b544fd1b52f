"""The invariance suite (eval/invariance.py): held-out counterfactual and off-topic pairs."""

from __future__ import annotations

import pandas as pd
import pytest
from conftest import import_script

from stance.documents import content_words


@pytest.fixture(scope="module")
def invariance():
    return import_script("eval/invariance.py")


def test_the_suite_has_every_kind_with_the_right_labels(invariance):
    frame = invariance.load_invariance_suite()
    labels = frame.groupby("capability")["label"].unique().map(sorted).to_dict()
    assert labels == {
        "cf_negated_claim": ["denial"],
        "cf_negation": ["denial"],
        "cf_number_change": ["denial"],
        "cf_paraphrase": ["support"],
        "issue_probe": ["denial", "neutral", "support"],
        "offtopic": ["neutral"],
    }
    assert frame["id"].is_unique
    items = pd.read_json(invariance.COUNTERFACTUAL, lines=True)
    assert len(items) >= 50 and items["topic"].is_unique


def test_offtopic_responses_share_no_content_word_with_the_claim(invariance):
    frame = invariance.load_invariance_suite()
    offtopic = frame[frame["capability"] == "offtopic"]
    assert len(offtopic) > 1000
    for claim, response in zip(offtopic["claim"], offtopic["response"], strict=True):
        assert not content_words(claim) & content_words(response)


def test_held_out_files_are_not_in_the_suite_or_training(invariance):
    behavioural = import_script("eval/behavioural.py")
    frame = invariance.load_invariance_suite()
    behavioural.check_no_leak(behavioural.load_suite(), frame, "the behavioural suite")


def test_flip_rate_counts_items_where_both_directions_are_right(invariance):
    items = pd.DataFrame(
        {
            "id": ["a", "b"],
            "topic": ["x", "y"],
            "claim": ["C1", "C2"],
            "paraphrase": ["P1", "P2"],
            "negation": ["N1", "N2"],
            "number_change": [None, "M2"],
        }
    )
    frame = invariance.counterfactual_pairs(items)
    assert len(frame) == 7  # three kinds each, plus one number change
    assert invariance.flip_rate({"b-cf_negated_claim"}, frame) == 0.5
