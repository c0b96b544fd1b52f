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
