"""training/augment.py's extra pairs for the default model, on hand-made inputs."""

from __future__ import annotations

import json
import re

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


# ------------------------------------------------------------- every pair kind
# main() writes seven kinds, in this order: reported (make_pairs), background,
# quotes, perspectives, negated_claims, number_change and self_negation.

CLAIMS = [
    "The bridge over the river was closed in 2019.",
    "A man is playing a guitar on stage.",
    "The minister resigned on Monday after the vote.",
    "Police have not found the missing boy.",  # a negation: would negate twice
    "Nobody knows what happened?",  # a question
    "Prices rose.",  # too short to read as a clause
]
#: the that-clause each usable claim is put in: first word lower-cased, no full stop
CLAUSES = {
    "The bridge over the river was closed in 2019.": "the bridge over the river was closed in 2019",
    "A man is playing a guitar on stage.": "a man is playing a guitar on stage",
    "The minister resigned on Monday after the vote.": (
        "the minister resigned on Monday after the vote"
    ),
}


def _alternatives(texts) -> str:
    return "(?:" + "|".join(re.escape(t) for t in texts) + ")"


def _template_regex(augment, template: str, **fixed: str) -> re.Pattern:
    """``template`` as a regex: speakers, dismissals, quotes from the module's lists, the
    placeholders in ``fixed`` as exactly that text."""
    speakers = augment.SPEAKERS
    choices = {
        "S": _alternatives(speakers),
        "s": _alternatives(s[0].lower() + s[1:] for s in speakers),
        "dismissal": _alternatives(augment.DISMISSALS),
        "quote": _alternatives(augment.QUOTES),
        **{key: re.escape(value) for key, value in fixed.items()},
    }
    parts = re.split(r"\{(\w+)\}", template)
    pattern = "".join(choices[part] if i % 2 else re.escape(part) for i, part in enumerate(parts))
    return re.compile(pattern)


def _seed_matters(make) -> bool:
    """Whether ``make(seed)`` gives more than one result over ten seeds."""
    return len({json.dumps(make(seed), sort_keys=True) for seed in range(10)}) > 1


def test_reported_pairs_put_each_claim_in_a_denial_a_confirmation_and_a_non_answer(augment):
    rows = augment.make_pairs(CLAIMS, per_label=4, seed=0)
    assert len(rows) == 12
    templates = {
        "denial": augment.DENIAL,
        "support": augment.SUPPORT,
        "neutral": augment.NEUTRAL,
    }
    for i in range(4):
        triple = rows[3 * i : 3 * i + 3]
        assert [r["label"] for r in triple] == ["denial", "support", "neutral"]
        assert len({r["claim"] for r in triple}) == 1  # only the framing differs
        assert [r["id"] for r in triple] == [f"reported-{i}-{label}" for label in templates]
    # Only claims that read as a that-clause are used; 4 > 3 usable claims: they cycle.
    assert {r["claim"] for r in rows} == set(CLAUSES)
    assert rows[9]["claim"] == rows[0]["claim"]
    for row in rows:
        label, clause = row["label"], CLAUSES[row["claim"]]
        assert row["meta"]["kind"] == "reported" and row["split"] == "train"
        template = templates[label][row["meta"]["template"]]
        # The response is that template of the row's own label, around the clause.
        assert _template_regex(augment, template, c=clause).fullmatch(row["response"])
        for other, others in templates.items():
            if other != label:
                assert not any(
                    _template_regex(augment, t, c=clause).fullmatch(row["response"]) for t in others
                )


def test_reported_pairs_repeat_with_the_seed(augment):
    assert augment.make_pairs(CLAIMS, 4, seed=7) == augment.make_pairs(CLAIMS, 4, seed=7)
    assert _seed_matters(lambda seed: augment.make_pairs(CLAIMS, 4, seed))


def test_quote_pairs_answer_with_a_quote_of_the_rows_label_that_does_not_repeat_the_claim(
    augment,
):
    rows = augment.quote_pairs(CLAIMS, n=5, seed=0)
    assert len(rows) == 15
    quotes = {
        "denial": augment.DENIAL_QUOTES,
        "support": augment.SUPPORT_QUOTES,
        "neutral": augment.NEUTRAL_QUOTES,
    }
    for i in range(5):
        triple = rows[3 * i : 3 * i + 3]
        assert [r["label"] for r in triple] == ["denial", "support", "neutral"]
        assert len({r["claim"] for r in triple}) == 1
        assert [r["id"] for r in triple] == [f"quotes-{i}-{label}" for label in quotes]
    assert {r["claim"] for r in rows} == set(CLAUSES)
    for row in rows:
        assert row["meta"] == {"kind": "quotes"}
        label = row["label"]
        own = [
            _template_regex(augment, attribution, q=quote)
            for attribution in augment.ATTRIBUTIONS
            for quote in quotes[label]
        ]
        assert any(p.fullmatch(row["response"]) for p in own), row
        for other, other_quotes in quotes.items():
            if other != label:
                assert not any(quote in row["response"] for quote in other_quotes)
        assert CLAUSES[row["claim"]].lower() not in row["response"].lower()


def test_quote_pairs_repeat_with_the_seed(augment):
    assert augment.quote_pairs(CLAIMS, 5, seed=3) == augment.quote_pairs(CLAIMS, 5, seed=3)
    assert _seed_matters(lambda seed: augment.quote_pairs(CLAIMS, 5, seed))


# Background: an article body's sentences, and which of them each headline may get.
EUROPE = "The company sold more phones in Europe than in any previous quarter this year."
SCREEN = "The screen of the foldable device is made of thin flexible glass sheets."
RELEASE = "Apple plans to release a foldable iPhone next year with a larger screen."
LONG = (
    "The foldable prototype was shown to a small group of engineers, designers, testers, "
    "suppliers, partners, journalists, investors, developers, retailers, carriers and "
    "officials from many countries in a long and careful private meeting held at a large "
    "hotel near the airport on a cold and rainy morning."
)
IPHONE_BODY = " ".join(
    [
        EUROPE,
        "Analysts said the foldable device would cost more than two thousand dollars.",
        RELEASE,
        "The foldable iPhone.",  # too short
        SCREEN,
        "The foldable device isn't ready for mass production in the factories yet.",
        "The foldable phone market is not large compared with the market for tablets.",
        LONG,  # over forty words
    ]
)
FLOOD = "The river flooded the old town after three days of storms in the spring."
FLOOD_BODY = f"{FLOOD} Officials said the bridge was closed for a week after the storm."
BACKGROUND = {  # headline -> (body, the sentences it may be paired with)
    # shares "year" with EUROPE, "foldable" with SCREEN; RELEASE restates it
    "Apple plans to release a foldable iPhone next year": (IPHONE_BODY, {EUROPE, SCREEN}),
    # RELEASE shares 3 of its 5 content words: more than half
    "Apple will sell a foldable iPhone in Europe": (IPHONE_BODY, {EUROPE, SCREEN}),
    "Apple foldable iPhone delayed until next spring": (IPHONE_BODY, {SCREEN}),
    # RELEASE shares 2 of its 6 content words: on topic, not a restatement
    "Apple iPhone sales in Europe fell this quarter": (IPHONE_BODY, {EUROPE, RELEASE}),
    "Heavy rain closes the town bridge": (FLOOD_BODY, {FLOOD}),
    "The town closes": (FLOOD_BODY, set()),  # under three content words: never used
}
# Every excluded sentence but the restatement shares "foldable" with the first three
# headlines, so dropping any one rule of background_pairs lets it in.


def test_background_pairs_take_an_on_topic_sentence_that_neither_restates_nor_reports(augment):
    pairs = [(headline, body) for headline, (body, _) in BACKGROUND.items()]
    for seed in range(10):
        rows = augment.background_pairs(pairs, n=10, seed=seed)
        # Four iPhone headlines share one body, which gives at most three pairs.
        assert [BACKGROUND[r["claim"]][0] for r in rows].count(IPHONE_BODY) == 3
        assert [r["claim"] for r in rows].count("Heavy rain closes the town bridge") == 1
        assert len(rows) == 4
        for i, row in enumerate(rows):
            assert row["label"] == "neutral" and row["meta"] == {"kind": "background"}
            assert row["id"] == f"background-{i}"
            assert row["response"] in BACKGROUND[row["claim"]][1], (seed, row)
        assert len(augment.background_pairs(pairs, n=2, seed=seed)) == 2


def test_background_pairs_repeat_with_the_seed(augment):
    pairs = [(headline, body) for headline, (body, _) in BACKGROUND.items()]
    assert augment.background_pairs(pairs, 10, seed=5) == augment.background_pairs(
        pairs, 10, seed=5
    )
    assert _seed_matters(lambda seed: augment.background_pairs(pairs, 10, seed))


def _write_nli(tmp_path, augment, rows) -> None:
    """The same (claim, response, label) rows in each negation source's training split,
    and in another split that must not be read."""
    for name, split in augment.NEGATION_SOURCES:
        folder = tmp_path / name
        folder.mkdir()
        frame = pd.DataFrame(rows, columns=["claim", "response", "label"]).assign(split=split)
        held_out = pd.DataFrame(
            [("A bird is flying.", "A bird flies over the sea.", "support")],
            columns=["claim", "response", "label"],
        ).assign(split="held-out")
        pd.concat([frame, held_out]).to_json(folder / "pairs.jsonl", orient="records", lines=True)


NLI_ROWS = [
    ("A man is not sleeping.", "A man sleeps on a couch.", "denial"),
    ("A woman was not singing.", "A woman sings a song.", "denial"),
    ("A child is not happy.", "A child cries.", "support"),
    ("The shop will not open.", "The shop opens at nine.", "denial"),
    ("A dog is not barking.", "A dog sits in a garden.", "neutral"),
    ("A boy is running.", "A boy stands still.", "denial"),
]


def test_negated_claim_pairs_remove_a_negation_and_flip_the_label(augment, tmp_path):
    _write_nli(tmp_path, augment, NLI_ROWS)
    rows = augment.negated_claim_pairs(tmp_path, n=300, seed=0)
    got = {(r["claim"], r["response"], r["label"]) for r in rows}
    assert got == {
        ("A man is sleeping.", "A man sleeps on a couch.", "support"),
        ("A woman was singing.", "A woman sings a song.", "support"),
        ("A child is happy.", "A child cries.", "denial"),
        ("The shop will open.", "The shop opens at nine.", "support"),
        ("A dog is barking.", "A dog sits in a garden.", "neutral"),
        ("A boy is not running.", "A boy stands still.", "support"),
    }
    # every source's training split is read (each holds the rows once), no other split
    assert len(rows) == 4 * len(NLI_ROWS)
    sources = {name for name, _ in augment.NEGATION_SOURCES}
    assert {r["meta"]["source"] for r in rows} == sources
    assert all(r["meta"]["kind"] == "negated_claims" for r in rows)
    assert len({r["id"] for r in rows}) == len(rows)


def test_negated_claim_pairs_take_a_third_per_label_and_repeat_with_the_seed(augment, tmp_path):
    _write_nli(tmp_path, augment, NLI_ROWS)
    rows = augment.negated_claim_pairs(tmp_path, n=6, seed=0)
    assert [r["label"] for r in rows] == ["support"] * 2 + ["denial"] * 2 + ["neutral"] * 2
    assert [r["id"] for r in rows] == [
        f"negated-{label}-{i}" for label in ("support", "denial", "neutral") for i in (0, 1)
    ]
    assert rows == augment.negated_claim_pairs(tmp_path, n=6, seed=0)
    assert _seed_matters(lambda seed: augment.negated_claim_pairs(tmp_path, 6, seed))


NUMBER_CLAIMS = [
    "The flood killed 12 people in 2019.",  # a count; the year after it stays
    "Sales hit 1,200 units.",  # thousands keep their comma
    "The treaty was signed on May 8, 1969.",  # a day of the month stays a day
    "The bridge was built in 1932.",  # a year moves by a few years
    "Only 1 person came.",
    "Twelve people died.",  # no digits
    "Covid-19 cases rose.",  # part of a name
    "Prices rose by 3.5 percent.",  # a decimal
]
#: claim -> the values its number may become
NUMBER_CHANGES = {
    "The flood killed 12 people in 2019.": {"3", "5", "30", "36", "48"},
    "Sales hit 1,200 units.": {"300", "480", "3,000", "3,600", "4,800"},
    "The treaty was signed on May 8, 1969.": {"5", "6", "10", "11"},
    "The bridge was built in 1932.": {"1929", "1930", "1931", "1933", "1934", "1935"},
    "Only 1 person came.": {"7"},
}


@pytest.mark.parametrize("seed", range(5))
def test_number_pairs_change_only_the_first_number_and_deny(augment, seed):
    rows = augment.number_pairs(NUMBER_CLAIMS, n=10, seed=seed)
    assert {r["claim"] for r in rows} == set(NUMBER_CHANGES)
    assert len(rows) == len(NUMBER_CHANGES)
    for row in rows:
        assert row["label"] == "denial" and row["meta"] == {"kind": "number_change"}
        claim, response = row["claim"].split(), row["response"].split()
        assert len(claim) == len(response)
        changed = [i for i, (a, b) in enumerate(zip(claim, response, strict=True)) if a != b]
        assert len(changed) == 1, row  # one word changed, everything else kept
        first_number = next(i for i, word in enumerate(claim) if re.search(r"\d", word))
        assert changed == [first_number]
        new = response[first_number].rstrip(".,")
        assert new in NUMBER_CHANGES[row["claim"]], row
    assert len(augment.number_pairs(NUMBER_CLAIMS, n=2, seed=seed)) == 2


def test_number_pairs_repeat_with_the_seed(augment):
    assert augment.number_pairs(NUMBER_CLAIMS, 10, seed=4) == augment.number_pairs(
        NUMBER_CLAIMS, 10, seed=4
    )
    assert _seed_matters(lambda seed: augment.number_pairs(NUMBER_CLAIMS, 10, seed))


def test_self_negation_pairs_deny_each_sentence_with_its_own_negation_both_ways(augment):
    sentences = CLAIMS + ["A man is playing a guitar on stage."]  # a repeat: drawn once
    rows = augment.self_negation_pairs(sentences, n=10, seed=0)
    # Three sentences take one flip ("Prices rose." has no auxiliary, the question and
    # the relative clause none near the start); the negated one is un-negated.
    flips = {
        "The bridge over the river was closed in 2019.": (
            "The bridge over the river was not closed in 2019."
        ),
        "A man is playing a guitar on stage.": "A man is not playing a guitar on stage.",
        "Police have not found the missing boy.": "Police have found the missing boy.",
    }
    pairs = {frozenset((r["claim"], r["response"])) for r in rows}
    assert pairs == {frozenset(pair) for pair in flips.items()}
    assert {r["label"] for r in rows} == {"denial"}
    assert {r["meta"]["kind"] for r in rows} == {"self_negation"}
    # Half each way round: the plain sentence is the claim in every other row.
    assert [r["claim"] in flips for r in rows] == [True, False, True]
    assert rows == augment.self_negation_pairs(sentences, n=10, seed=0)
    assert _seed_matters(lambda seed: augment.self_negation_pairs(sentences, 10, seed))
    assert len(augment.self_negation_pairs(sentences, n=2, seed=0)) == 2


RECALL = "Acme recalls its Zephyr phone after battery fires"
FACTORY = "Acme opens a new phone factory near Lisbon"
RECALL_BODY = (
    "Owners of the Zephyr phone built by Acme were told to switch it off at once. "
    "Engineers at Acme traced the fires to a faulty battery cell from one supplier. "
    "Retail stores run by Acme will swap every phone for a new model within weeks. "
    "Police said the fires had injured two people in small towns near the coast. "
    "The Zephyr was not sold outside Europe and the recall covers every country there."
)
FACTORY_BODY = (
    "The plant run by Acme near Lisbon will employ three thousand workers from next year. "
    "Building work for Acme started in the spring on land bought from the city council. "
    "Officials in Lisbon expect the site to produce ten million phones each year. "
    "Shares in Acme rose by four percent after the company announced the new plant."
)


def _write_fnc1(data, rows: list[tuple[str, str, str, str]]) -> None:
    """An FNC-1 train file under ``data`` of (headline, body, FNC-1 label, body id) rows."""
    frame = pd.DataFrame(rows, columns=["claim", "response", "orig_label", "body"])
    frame = frame.assign(
        label="neutral", split="train", meta=[{"body_id": b} for b in frame.pop("body")]
    )
    (data / "fnc1").mkdir()
    frame.to_json(data / "fnc1" / "pairs.jsonl", orient="records", lines=True)


def test_other_story_pairs_take_a_sentence_naming_the_subject_from_another_story(augment, tmp_path):
    rows = [
        (RECALL, RECALL_BODY, "discuss", "1"),
        (FACTORY, FACTORY_BODY, "agree", "2"),
        (RECALL, FACTORY_BODY, "unrelated", "2"),  # does not join the two stories
    ]
    _write_fnc1(tmp_path, rows)
    assert augment.proper_nouns([RECALL_BODY, FACTORY_BODY]) == {"acme"}

    pairs = augment.other_story_pairs(tmp_path, n=10, seed=0)
    # two headlines, each with one sentence in the first pass and another in the second
    assert len(pairs) == 4 and len({p["response"] for p in pairs}) == 4
    for i, pair in enumerate(pairs):
        assert pair["label"] == "neutral" and pair["meta"] == {"kind": "other_story"}
        assert pair["id"] == f"other-story-{i}"
        other_body = FACTORY_BODY if pair["claim"] == RECALL else RECALL_BODY
        assert pair["response"] in other_body and "Acme" in pair["response"]
        assert "said" not in pair["response"] and " not " not in pair["response"]
    assert augment.other_story_pairs(tmp_path, n=1, seed=0) == pairs[:1]


PULLED = "Zephyr handsets pulled from shops over exploding cells"
SAFE = "Acme says Zephyr batteries are perfectly safe"
RECALL_AGAIN = "Acme recalls its Zephyr phone after the battery fires"


def test_headline_pairs_pair_headlines_by_what_one_article_says_of_them(augment, tmp_path):
    rows = [
        (RECALL, RECALL_BODY, "agree", "1"),
        (PULLED, RECALL_BODY, "agree", "1"),
        (RECALL_AGAIN, RECALL_BODY, "agree", "1"),  # near-identical to RECALL: no pair
        (SAFE, RECALL_BODY, "disagree", "1"),
        # another article calls PULLED wrong and RECALL right: that pair is dropped
        (RECALL, RECALL_BODY, "agree", "3"),
        (PULLED, RECALL_BODY, "disagree", "3"),
        (FACTORY, FACTORY_BODY, "agree", "2"),
    ]
    _write_fnc1(tmp_path, rows)

    pairs = augment.headline_pairs(tmp_path, per_label=10, seed=0)
    found = {(p["label"], frozenset((p["claim"], p["response"]))) for p in pairs}
    assert found == {
        ("support", frozenset((PULLED, RECALL_AGAIN))),
        ("denial", frozenset((RECALL, SAFE))),
        ("denial", frozenset((PULLED, SAFE))),
        ("denial", frozenset((RECALL_AGAIN, SAFE))),
        # another story that names Acme (PULLED does not name it)
        ("neutral", frozenset((RECALL, FACTORY))),
        ("neutral", frozenset((SAFE, FACTORY))),
        ("neutral", frozenset((RECALL_AGAIN, FACTORY))),
    }
    assert len(pairs) == len(found)
    assert all(p["meta"]["kind"] == "headlines" for p in pairs)
    assert augment.headline_pairs(tmp_path, per_label=10, seed=0) == pairs
    assert [p["label"] for p in augment.headline_pairs(tmp_path, per_label=1, seed=0)] == [
        "support",
        "denial",
        "neutral",
    ]
    assert len(augment.headline_pairs(tmp_path, per_label=10, seed=0, per_story=1)) == 3
