"""PairTokenizer: which pairs keep their claim whole, with the fast and the slow tokenizer."""

from __future__ import annotations

import pytest

from stance.inference import PairTokenizer

LONG_CLAIM = (
    "the minister denied the report the police closed the school the storm closed the bridge"
)
PAIRS = [("prices rose", "no it does not"), (LONG_CLAIM, "no"), ("a", "b " * 30)]


def test_only_a_claim_that_leaves_no_room_is_cut(tiny_clf):
    tokenizer = tiny_clf.tokenizer
    encoder = PairTokenizer(tokenizer, 12)
    together = encoder.encode(*zip(*PAIRS, strict=True))
    for i, (claim, response) in enumerate(PAIRS):  # the same as each pair alone
        assert together.input_ids[i] == encoder.encode([claim], [response]).input_ids[0]
    cls, sep = tokenizer.cls_token_id, tokenizer.sep_token_id
    ids = tokenizer([LONG_CLAIM, "no", "a", "b " * 30], add_special_tokens=False)["input_ids"]
    assert together.input_ids[0] == tokenizer("prices rose", "no it does not")["input_ids"]
    assert together.input_ids[1] == [cls, *ids[0][:8], sep, *ids[1], sep]  # both cut
    assert together.input_ids[2] == [cls, *ids[2], sep, *ids[3][:8], sep]  # claim whole
    assert together.truncated.tolist() == [False, True, True]


@pytest.mark.parametrize("pairs", [PAIRS[:1] + PAIRS[2:], PAIRS[1:2]])
def test_the_slow_tokenizer_cuts_as_the_fast_one(tiny_clf, tiny_model_dir, pairs):
    """All claims fitting (only the responses cut) and a claim too long (cut too)."""
    from transformers import BertTokenizerLegacy

    slow = BertTokenizerLegacy(str(tiny_model_dir / "vocab.txt"))
    assert getattr(slow, "backend_tokenizer", None) is None  # really the slow path
    claims, responses = zip(*pairs, strict=True)
    got = PairTokenizer(slow, 12).encode(claims, responses)
    want = PairTokenizer(tiny_clf.tokenizer, 12).encode(claims, responses)
    assert got.input_ids == want.input_ids
    assert got.truncated.tolist() == want.truncated.tolist()
