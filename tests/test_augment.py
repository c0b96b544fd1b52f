"""training/augment.py's extra pairs for the default model, on hand-made inputs."""

from __future__ import annotations

import pandas as pd
import pytest
from conftest import import_script


@pytest.fixture(scope="module")
def augment():
    return import_script("training/augment.py")


def _perspectives() -> pd.DataFrame:
    rows = [
        # debate 1: cluster 0 holds two paraphrases, cluster 1 another pro argument,
        # cluster 2 a con argument
        (1, 0, "support", "The death penalty deters murder."),
        (1, 0, "support", "Fewer people kill when they can be executed for it."),
        (1, 1, "support", "Victims' families deserve justice."),
        (1, 2, "denial", "Innocent people have been executed."),
        # debate 2: one cluster of three paraphrases
        (2, 0, "denial", "School uniforms stifle expression."),
        (2, 0, "denial", "Uniforms stop pupils expressing themselves."),
        (2, 0, "denial", "Pupils cannot show who they are in a uniform."),
    ]
    return pd.DataFrame(rows, columns=["claim_id", "cluster", "side", "text"])


def test_perspective_pairs_pair_paraphrases_as_support_and_same_side_arguments_as_neutral(
    augment,
):
    frame = _perspectives()
    where = {row.text: (row.claim_id, row.cluster, row.side) for row in frame.itertuples()}
    rows = augment.perspective_pairs(frame, n=10, seed=0)

    support = [r for r in rows if r["label"] == "support"]
    neutral = [r for r in rows if r["label"] == "neutral"]
    assert len(support) == 4  # 1 pair in debate 1, 3 in debate 2: every pair, once
    assert len(neutral) == 2  # the two pro arguments of cluster 0 with cluster 1's
    for row in support:
        assert where[row["claim"]][:2] == where[row["response"]][:2]
    for row in neutral:
        claim, response = where[row["claim"]], where[row["response"]]
        assert claim[0] == response[0] and claim[2] == response[2]
        assert claim[1] != response[1]
    # arguments on opposite sides are never paired: not a contradiction, not neutral
    assert not any("executed." in r["claim"] + r["response"] for r in rows)
    assert {r["meta"]["kind"] for r in rows} == {"perspectives"}
    assert len({r["id"] for r in rows}) == len(rows)


def test_perspective_pairs_draw_at_most_n_per_label_and_repeat_with_the_seed(augment):
    frame = _perspectives()
    rows = augment.perspective_pairs(frame, n=1, seed=3)
    assert [r["label"] for r in rows] == ["support", "neutral"]
    assert rows == augment.perspective_pairs(frame, n=1, seed=3)


@pytest.mark.parametrize(
    "sentence, flipped",
    [
        ("A man is playing a guitar.", "A man is not playing a guitar."),
        ("The bridge was not closed in 2019.", "The bridge was closed in 2019."),
        ("The council has approved the budget.", "The council has not approved the budget."),
        ("Two dogs run in a field.", None),  # no auxiliary to negate
        ("The man who is running is tired.", None),  # the auxiliary is in a relative clause
        ("Nobody is not happy.", None),  # two negations
        ("No children are playing.", None),  # a negation that is not "aux not"
    ],
)
def test_flip_negation(augment, sentence, flipped):
    assert augment.flip_negation(sentence) == flipped


def test_negated_claim_pairs_flip_the_label_by_logic(augment, tmp_path):
    rows = [
        ("A man is sleeping.", "A man sleeps on a couch.", "support"),
        ("A woman is singing.", "A woman sits in silence.", "denial"),
        ("A child is happy.", "A child holds a balloon.", "neutral"),
        ("Dogs run.", "Two dogs run.", "support"),  # no auxiliary: skipped
    ]
    for name, split in augment.NEGATION_SOURCES:
        folder = tmp_path / name
        folder.mkdir()
        frame = pd.DataFrame(rows, columns=["claim", "response", "label"]).assign(split=split)
        frame.to_json(folder / "pairs.jsonl", orient="records", lines=True)
    pairs = augment.negated_claim_pairs(tmp_path, n=30, seed=0)
    got = {(p["claim"], p["response"], p["label"]) for p in pairs}
    assert got == {
        ("A man is not sleeping.", "A man sleeps on a couch.", "denial"),
        ("A woman is not singing.", "A woman sits in silence.", "support"),
        ("A child is not happy.", "A child holds a balloon.", "neutral"),
    }
    assert {p["meta"]["kind"] for p in pairs} == {"negated_claims"}


def test_number_pairs_change_the_number_and_deny(augment):
    import random

    claims = [
        "Twelve people died.",
        "The flood killed 12 people in 2019.",
        "Sales hit 1,200 units.",
    ]
    pairs = augment.number_pairs(claims, n=10, seed=0)
    assert len(pairs) == 2 and {p["label"] for p in pairs} == {"denial"}
    for p in pairs:
        assert p["claim"] != p["response"]
        assert p["claim"].split()[0] == p["response"].split()[0]
    rng = random.Random(0)
    assert augment.change_number("The treaty was signed on May 8, 1969.", rng).startswith(
        "The treaty was signed on May "
    )
    assert augment.change_number("Covid-19 cases rose.", rng) is None  # part of a name
