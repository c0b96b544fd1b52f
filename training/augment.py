"""Extra training pairs for the default model: reported speech and same-topic background.

News reports a denial as reported speech ("The ministry denied that ..."), and the NLI
data that teaches the default model what "neutral" is calls such a sentence neutral:
that someone denies a claim does not make it false. The default model therefore missed
most explicit denials in the behavioural suite. This script writes pairs that teach the
stance reading: each claim from a training split (ConjNLI train, COVID-Fact train,
Emergent) is put into a denial, a confirmation or an on-topic non-answer by one of a
few dozen templates and speakers.

Pushing denials alone makes the model call any on-topic statement a denial ("The
bridge opened in 2018" against "The bridge was destroyed"), so the script also pairs
FNC-1 train headlines with background sentences from articles that discuss them
(labelled neutral; see :func:`background_pairs`).

Articles quote a spokesman's reply without repeating the claim ('"That is not true,"
police said.'); :func:`quote_pairs` answers claims with such quoted denials,
confirmations and non-answers, so the model reads the reply rather than its overlap with
the claim. The model also called a reworded claim a denial ("The lender went under"
against "Silicon Valley Bank collapsed"); :func:`perspective_pairs` pairs Perspectrum's
human paraphrases as support. v6 and v7 added negated claims in every class, number
changes and sentences against their own negation; v8 adds :func:`other_story_pairs`
(a headline against a sentence about another story with the same subject, neutral) and
:func:`headline_pairs` (FNC-1 headlines against each other: rewordings of one rumour as
support, a confirmed against a contradicted headline as denial).
The output keeps its order (reported speech, background, quoted replies, perspective
pairs, then the later kinds), each drawn with its own generator, so adding a kind leaves
the rows before it unchanged.

    python training/augment.py                # writes runs/data/augment.jsonl
    python training/augment.py --per-label 2500 --background 3000 --quotes 2000 --out FILE

The templates avoid the sentences that ``eval/bench_documents.py`` plants in neutral
FNC-1 bodies ("No, it is not true that ...", "None of that is true") so that benchmark
stays held out, though the quoted replies were written after seeing it miss short quoted
denials and share its form. The
behavioural suite tests the same capabilities with its own hand-written sentences; a
gain there overstates what the templates teach, so judge them on RumourEval, ARC and
FNC-1 as well.
"""

from __future__ import annotations

import argparse
import json
import random
import re
from collections import Counter
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parent.parent
DATA = REPO.parent / "shared" / "data"

#: (dataset, split) whose claims are plain factual statements.
CLAIM_SOURCES = [("conjnli", "train"), ("covidfact", "train"), ("emergent", "train")]

SPEAKERS = [
    "The ministry",
    "A government spokesman",
    "A spokeswoman for the company",
    "Police",
    "Officials",
    "The White House",
    "The club",
    "Her lawyer",
    "His representatives",
    "The army",
    "The mayor's office",
    "The organisers",
    "A senior official",
    "The university",
    "The authors of the study",
    "The regulator",
]

DENIAL = [
    "{S} denied that {c}.",
    "{S} denied reports that {c}.",
    "{S} rejected claims that {c}.",
    "{S} dismissed reports that {c} as {dismissal}.",
    "{S} said reports that {c} were false.",
    '"Reports that {c} are completely false," {s} said.',
    "{S} flatly denied that {c}, calling the reports {dismissal}.",
    "There is no truth to reports that {c}, {s} said.",
    "{S} refuted claims that {c}.",
    '{S} called the claim that {c} "{quote}".',
    "{S} insisted it was untrue that {c}.",
    'Asked whether {c}, {s} said: "Absolutely not."',
]
SUPPORT = [
    "{S} confirmed that {c}.",
    "{S} confirmed reports that {c}.",
    "{S} acknowledged that {c}.",
    "{S} admitted that {c}.",
    "Reports that {c} are accurate, {s} said.",
    "{S} said it could confirm that {c}.",
    'Asked whether {c}, {s} said: "Yes, that is correct."',
    "{S} did not dispute that {c}.",
]
NEUTRAL = [
    "{S} declined to comment on reports that {c}.",
    "{S} said it was looking into reports that {c}.",
    "{S} would neither confirm nor deny that {c}.",
    "Reporters asked {s} whether {c}.",
    "{S} said it had no information about reports that {c}.",
    "{S} is investigating claims that {c}.",
    "{S} did not respond to a request for comment on reports that {c}.",
    "It is not yet clear whether {c}, {s} said.",
]
# Quoted replies that do not repeat the claim, as a report quotes a spokesman's answer.
DENIAL_QUOTES = [
    "That is not true",
    "This is completely false",
    "There is no truth in it",
    "It simply did not happen",
    "These reports are wrong",
    "We deny it entirely",
    "That is untrue and defamatory",
    "This story is invented",
    "No, that is wrong",
    "It is a fabrication from start to finish",
    "Those claims have no basis",
    "This is not what happened",
]
SUPPORT_QUOTES = [
    "Yes, that is true",
    "We can confirm it",
    "That is exactly what happened",
    "It is correct",
    "The reports are accurate",
    "Yes, it happened",
    "We do not deny it",
    "That is right",
    "I can confirm that",
    "It is true, and we regret it",
]
NEUTRAL_QUOTES = [
    "We have no comment at this time",
    "We are gathering the facts",
    "It would be wrong to speculate",
    "We will say more when we can",
    "That is a matter for the investigators",
    "We are not in a position to comment",
    "We are aware of the reports",
    "Our thoughts are with those affected",
    "We will study the report carefully",
    "The matter is under review",
]
ATTRIBUTIONS = [
    '"{q}," {s} said.',
    '{S} said: "{q}."',
    '"{q}," {s} told reporters.',
    '"{q}," {s} said in a statement.',
    '{S} replied: "{q}."',
]
DISMISSALS = ["baseless", "fabricated", "nonsense", "false", "malicious rumours", "fake news"]
QUOTES = ["absurd", "a complete fabrication", "fake news", "utter nonsense", "a lie"]

_NEGATION = re.compile(
    r"\b(not|no|never|n't|deny|denies|denied|false|fake|hoax|untrue|rumou?r|debunk)\b", re.I
)
_LOWER_FIRST = {"a", "an", "the", "this", "that", "these", "those", "some", "many", "most", "all"}


def as_clause(claim: str, common: set[str] = _LOWER_FIRST) -> str | None:
    """``claim`` as a that-clause (``"The bridge fell."`` -> ``"the bridge fell"``), or
    ``None`` for claims that would not read well or would negate twice. The first word
    is lower-cased when it is in ``common`` (words seen in lower case inside claims).

    >>> as_clause("The bridge fell on Monday.")
    'the bridge fell on Monday'
    >>> as_clause("Nobody knows what happened?") is None
    True
    """
    text = " ".join(claim.split()).rstrip(" .")
    words = text.split()
    if not 4 <= len(words) <= 25 or _NEGATION.search(text) or text[-1:] in "?!\"'":
        return None
    if not text[0].isalpha() or '"' in text or ";" in text or text.count("(") != text.count(")"):
        return None
    if words[0].lower() in common:
        text = text[0].lower() + text[1:]
    return text


def common_words(claims: list[str], min_count: int = 3) -> set[str]:
    """Words written in lower case at least ``min_count`` times inside ``claims``."""
    counts = Counter(w for claim in claims for w in claim.split()[1:] if w.islower())
    return _LOWER_FIRST | {w for w, n in counts.items() if n >= min_count}


def mid_sentence(speaker: str) -> str:
    """``speaker`` as written after the start of a sentence.

    >>> mid_sentence("The White House"), mid_sentence("Police")
    ('the White House', 'police')
    """
    return speaker[0].lower() + speaker[1:]


def read_pairs(data: Path, name: str, split: str | None = None) -> pd.DataFrame:
    """A shared dataset's ``pairs.jsonl`` (or ``.jsonl.gz``), read by the library's reader;
    only the rows of ``split`` when one is given."""
    from stance.data import read_table

    path = data / name / "pairs.jsonl"
    frame = read_table(path if path.exists() else path.with_suffix(".jsonl.gz"))
    return frame if split is None else frame[frame["split"] == split]


def read_claims(data: Path) -> list[str]:
    claims: dict[str, None] = {}
    for name, split in CLAIM_SOURCES:
        claims.update(dict.fromkeys(read_pairs(data, name, split)["claim"]))
    return list(claims)


def shuffled_clauses(claims: list[str], rng: random.Random) -> list[tuple[str, str]]:
    """(claim, that-clause) for every claim :func:`as_clause` accepts, in ``rng``'s order."""
    common = common_words(claims)
    usable = [(claim, clause) for claim in claims if (clause := as_clause(claim, common))]
    if not usable:
        raise ValueError(
            f"none of the {len(claims)} claims can be put in a that-clause (as_clause "
            "takes short declarative sentences such as 'The bridge was closed.'): "
            "pass such claims"
        )
    rng.shuffle(usable)
    return usable


def train_pair(
    claim: str, response: str, label: str, row_id: str, kind: str, **meta: object
) -> dict:
    """One output row in the shared data's format; ``meta.kind`` is what configs filter on."""
    return {
        "claim": claim,
        "response": response,
        "label": label,
        "split": "train",
        "id": row_id,
        "meta": {"kind": kind, **meta},
    }


def make_pairs(claims: list[str], per_label: int, seed: int) -> list[dict]:
    """``per_label`` claims, each in a denial, a confirmation and a non-answer: the same
    claim under all three labels, so only the framing tells them apart."""
    rng = random.Random(seed)
    usable = shuffled_clauses(claims, rng)
    rows = []
    for i in range(per_label):
        claim, clause = usable[i % len(usable)]
        for label, templates in (("denial", DENIAL), ("support", SUPPORT), ("neutral", NEUTRAL)):
            template = rng.choice(templates)
            speaker = rng.choice(SPEAKERS)
            response = template.format(
                S=speaker,
                s=mid_sentence(speaker),
                c=clause,
                dismissal=rng.choice(DISMISSALS),
                quote=rng.choice(QUOTES),
            )
            rows.append(
                train_pair(
                    claim,
                    response,
                    label,
                    f"reported-{i}-{label}",
                    "reported",
                    template=templates.index(template),
                )
            )
    return rows


def quote_pairs(claims: list[str], n: int, seed: int) -> list[dict]:
    """``n`` claims, each answered by a quoted denial, confirmation and non-answer that do
    not repeat it ("'That is not true,' the ministry said."): a report's quote of a
    spokesman's reply, which only the reply's words, not its overlap with the claim, can
    tell apart. The quotes avoid the behavioural suite's replies and the short denial
    that ``eval/bench_documents.py`` plants."""
    rng = random.Random(seed)
    usable = shuffled_clauses(claims, rng)
    rows = []
    for i in range(n):
        claim, _ = usable[i % len(usable)]
        for label, quotes in (
            ("denial", DENIAL_QUOTES),
            ("support", SUPPORT_QUOTES),
            ("neutral", NEUTRAL_QUOTES),
        ):
            speaker = rng.choice(SPEAKERS)
            response = rng.choice(ATTRIBUTIONS).format(
                q=rng.choice(quotes), S=speaker, s=mid_sentence(speaker)
            )
            rows.append(train_pair(claim, response, label, f"quotes-{i}-{label}", "quotes"))
    return rows


_WORD = re.compile(r"[a-z]{4,}")
_STOP = frozenset(
    "that this with from were have been their there which would about after also into "
    "more most other some such than them then these they what when where while will "
    "over only under first during between".split()
)


def background_words(text: str) -> set[str]:
    """Lower-case words of four letters or more, without common function words: how
    ``background_pairs`` tells a sentence that shares some of the headline's words.

    Deliberately not ``stance.documents.content_words`` (three letters or more, without
    scikit-learn's stop words): the shipped default model's background pairs were drawn
    with this rule, and the library's would re-draw 1,922 of its 2,104 pairs.

    >>> sorted(background_words("The bridge over the river was closed in 2019."))
    ['bridge', 'closed', 'river']
    """
    return {w for w in _WORD.findall(text.lower()) if w not in _STOP}


_REPORTING = re.compile(
    r"\b(said|says|say|report\w*|claim\w*|according|allegedly|rumou?r\w*|told|tweet\w*|"
    r"confirm\w*|den(y|ies|ied)|believ\w*|suggest\w*|appear\w*)\b",
    re.I,
)


def _states_plainly(sentence: str) -> bool:
    """Whether a sentence can stand as a neutral background statement: 8 to 40 words,
    nobody's reported words ("said", "denied") and no negation."""
    return (
        8 <= len(sentence.split()) <= 40
        and not _REPORTING.search(sentence)
        and not _NEGATION.search(sentence)
        # _NEGATION's \bn't\b misses contractions ("isn't"); widening it would change
        # the claims, and so the shipped model's training data
        and "n't" not in sentence
    )


def read_discuss(data: Path) -> list[tuple[str, str]]:
    """(headline, body) of FNC-1 train pairs labelled ``discuss``: articles about the claim
    that take no side."""
    frame = read_pairs(data, "fnc1", "train")
    discuss = frame[frame["orig_label"] == "discuss"]
    return list(dict.fromkeys(zip(discuss["claim"], discuss["response"], strict=True)))


def background_pairs(pairs: list[tuple[str, str]], n: int, seed: int) -> list[dict]:
    """``n`` neutral pairs: a headline and one background sentence of an article that
    discusses it. The sentence shares a content word with the headline (same topic) but at
    most half of the headline's, and reports nobody's words (no "said", "reported",
    "denied"): it neither restates the claim nor takes a side."""
    from stance.documents import split_sentences

    rng = random.Random(seed)
    order = list(range(len(pairs)))
    rng.shuffle(order)
    rows: list[dict] = []
    per_body: Counter[str] = Counter()
    for i in order:
        headline, body = pairs[i]
        claim_words = background_words(headline)
        if len(claim_words) < 3 or per_body[body] >= 3:
            continue
        per_body[body] += 1
        candidates = [
            s.text
            for s in split_sentences(body)
            if _states_plainly(s.text)
            and 1 <= len(claim_words & background_words(s.text)) <= len(claim_words) // 2
        ]
        if not candidates:
            continue
        rows.append(
            train_pair(
                headline,
                rng.choice(candidates),
                "neutral",
                f"background-{len(rows)}",
                "background",
            )
        )
        if len(rows) == n:
            break
    return rows


def read_stories(frame: pd.DataFrame) -> tuple[dict[str, int], dict[str, str], dict[str, int]]:
    """FNC-1 train (``frame``, from :func:`read_pairs`) grouped into stories: ``(story of
    each headline, text of each body, story of each body)``. A story is a connected group
    of headlines and bodies joined by a related pair (agree, disagree or discuss); FNC-1
    pairs a headline with the articles of its own rumour, so two stories are two different
    rumours."""
    parent: dict[str, str] = {}

    def find(node: str) -> str:
        while parent.setdefault(node, node) != node:
            parent[node] = parent[parent[node]]
            node = parent[node]
        return node

    bodies: dict[str, str] = {}
    for row in frame.itertuples():
        body = "b:" + str(row.meta["body_id"])
        bodies[body] = row.response
        find("h:" + row.claim)
        if row.orig_label != "unrelated":
            parent[find("h:" + row.claim)] = find(body)
    roots: dict[str, int] = {}
    story = {node: roots.setdefault(find(node), len(roots)) for node in list(parent)}
    headlines = {node[2:]: s for node, s in story.items() if node.startswith("h:")}
    body_story = {node: s for node, s in story.items() if node.startswith("b:")}
    return headlines, bodies, body_story


def proper_nouns(texts: list[str], min_count: int = 5) -> set[str]:
    """Lower-cased words that the texts write capitalised in mid-sentence at least 90% of
    the times they use them (names: "Apple", "Kharkiv"; not "The" or "Police").

    >>> sorted(proper_nouns(["He met Obama. Then Obama left."] * 5))
    ['obama']
    """
    upper: Counter[str] = Counter()
    total: Counter[str] = Counter()
    for text in texts:
        for match in re.finditer(r"(?<=[a-z,;] )([A-Za-z][a-z]{2,})\b", text):
            word = match.group(1)
            total[word.lower()] += 1
            upper[word.lower()] += word[0].isupper()
    return {
        w for w, n in total.items() if n >= min_count and upper[w] >= 0.9 * n and w not in _STOP
    }


def other_story_pairs(data: Path, n: int, seed: int) -> list[dict]:
    """``n`` neutral pairs (v8): an FNC-1 train headline and a sentence from an article
    about another story that names the same person, place or organisation.

    NLI data describes one scene, so "The factory was built in 1962." contradicts "The
    factory was closed." there; in the news they are two facts about one factory. A
    sentence about another rumour on the same subject neither confirms nor denies the
    headline. Sentences are filtered as :func:`background_pairs` filters them (no
    reporting verbs, no negation, at most half the headline's content words).
    """
    from stance.documents import split_sentences

    headlines, bodies, body_story = read_stories(read_pairs(data, "fnc1", "train"))
    names = proper_nouns(list(bodies.values()))
    by_name: dict[str, list[tuple[int, str]]] = {}
    for body, text in bodies.items():
        for sentence in split_sentences(text):
            # background_pairs' rule, and curly contractions too ("isn’t")
            if not _states_plainly(sentence.text) or "n’t" in sentence.text:
                continue
            for name in background_words(sentence.text) & names:
                by_name.setdefault(name, []).append((body_story[body], sentence.text))
    rng = random.Random(seed)
    order = sorted(headlines)
    rng.shuffle(order)
    rows: list[dict] = []
    used: set[str] = set()
    for headline in order + order:  # a second sentence for each headline on the second pass
        claim_words = background_words(headline)
        shared = sorted(claim_words & names)
        if len(claim_words) < 3 or not shared:
            continue
        candidates = [
            text
            for name in shared
            for story, text in by_name.get(name, [])
            if story != headlines[headline]
            and text not in used
            and len(claim_words & background_words(text)) <= len(claim_words) // 2
        ]
        if not candidates:
            continue
        response = rng.choice(candidates)
        used.add(response)
        rows.append(
            train_pair(headline, response, "neutral", f"other-story-{len(rows)}", "other_story")
        )
        if len(rows) == n:
            break
    return rows


def _capped(pairs: dict[frozenset[str], int], rng: random.Random, per_story: int) -> list:
    """The pairs in ``rng``'s order, at most ``per_story`` from each story."""
    order = sorted(pairs, key=sorted)
    rng.shuffle(order)
    taken: Counter[int] = Counter()
    kept = []
    for pair in order:
        if taken[pairs[pair]] < per_story:
            taken[pairs[pair]] += 1
            kept.append(pair)
    return kept


def headline_pairs(data: Path, per_label: int, seed: int, per_story: int = 25) -> list[dict]:
    """Up to ``per_label`` pairs of FNC-1 train headlines for each label (v8).

    FNC-1 gives each article the headlines of its rumour, many of them written by other
    newsrooms in other words. Two headlines that both agree with one article say the same
    thing ("Seven teenage girls get pregnant on school trip" and "Seven High School Girls
    Get Pregnant On Five-Day School Trip, Parents Outraged"): support. A headline that
    agrees with an article against one that disagrees with it ("Christian Bale In Talks To
    Play Steve Jobs" and "Christian Bale Won't Play Steve Jobs After All"): denial.
    Headlines of two different stories that name the same person, place or organisation
    (as :func:`other_story_pairs` finds them) are two facts about one subject: neutral.
    A pair that is support for one article and denial for another is dropped, and so are
    near-identical headlines (more than half their words shared) and pairs beyond
    ``per_story`` from one story. Support and denial need three content words in each
    headline, neutral pairs only in the headline of the earlier story (5 of the 2,468
    neutral pairs written with the defaults have a shorter other headline, such as
    "Texas, Hold 'Em"; requiring it of both would redraw the neutral pairs that stage 6
    trained on). Which headline is the claim is drawn at random.
    """
    frame = read_pairs(data, "fnc1", "train")
    headlines, bodies, _ = read_stories(frame)
    words = {headline: background_words(headline) for headline in headlines}
    by_body: dict[str, dict[str, set[str]]] = {}
    for row in frame.itertuples():
        if row.orig_label in ("agree", "disagree") and len(words[row.claim]) >= 3:
            sides = by_body.setdefault(
                str(row.meta["body_id"]), {"agree": set(), "disagree": set()}
            )
            sides[row.orig_label].add(row.claim)

    def distinct(a: str, b: str) -> bool:
        return len(words[a] & words[b]) <= len(words[a] | words[b]) / 2

    support: dict[frozenset[str], int] = {}
    denial: dict[frozenset[str], int] = {}
    for sides in by_body.values():
        for a in sides["agree"]:
            story = headlines[a]
            for b in sides["agree"]:
                if a < b and distinct(a, b):
                    support[frozenset((a, b))] = story
            for d in sides["disagree"]:
                if distinct(a, d):
                    denial[frozenset((a, d))] = story
    for pair in support.keys() & denial.keys():
        del support[pair], denial[pair]

    names = proper_nouns(list(bodies.values()))
    by_name: dict[str, list[str]] = {}
    for headline in sorted(headlines):
        for name in words[headline] & names:
            by_name.setdefault(name, []).append(headline)
    neutral: dict[frozenset[str], int] = {}
    for named in by_name.values():
        for a in named:
            for b in named:
                if headlines[a] < headlines[b] and distinct(a, b) and len(words[a]) >= 3:
                    neutral.setdefault(frozenset((a, b)), headlines[a])

    rng = random.Random(seed)
    rows: list[dict] = []
    for label, pairs in (("support", support), ("denial", denial), ("neutral", neutral)):
        for i, pair in enumerate(_capped(pairs, rng, per_story)[:per_label]):
            claim, response = sorted(pair)
            if rng.random() < 0.5:
                claim, response = response, claim
            rows.append(
                train_pair(
                    claim, response, label, f"headlines-{label}-{i}", "headlines", story=pairs[pair]
                )
            )
    return rows


def read_perspectives(data: Path) -> pd.DataFrame:
    """Perspectrum train perspectives with their claim, side and paraphrase cluster."""
    frame = read_pairs(data, "perspectrum", "train").reset_index(drop=True)
    meta = pd.DataFrame(list(frame["meta"]))
    return pd.DataFrame(
        {
            "claim_id": meta["claim_id"],
            "cluster": meta["cluster"],
            "side": frame["label"],
            "text": frame["response"].str.strip(),
        }
    ).drop_duplicates("text")


def perspective_pairs(perspectives: pd.DataFrame, n: int, seed: int) -> list[dict]:
    """``n`` supporting and ``n`` neutral pairs of Perspectrum train perspectives.

    Support: two perspectives of one paraphrase cluster ("The death penalty is a financial
    burden on the state." / "It's a financial loss to the state enforcing the death
    penalty."), the rewording the default model called denial ("The lender went under"
    against "Silicon Valley Bank collapsed"). Neutral: two arguments on the same side of
    the same debate from different clusters, on topic but neither implying the other.
    """
    rng = random.Random(seed)
    same: list[tuple[str, str]] = []
    other: list[tuple[str, str]] = []
    for _, debate in perspectives.groupby("claim_id", sort=True):
        members = list(debate.itertuples(index=False))
        for i, a in enumerate(members):
            for b in members[i + 1 :]:
                if a.cluster == b.cluster:
                    same.append((a.text, b.text))
                elif a.side == b.side:
                    other.append((a.text, b.text))
    out: list[dict] = []
    for label, pool in (("support", same), ("neutral", other)):
        rng.shuffle(pool)
        for i, (a, b) in enumerate(pool[:n]):
            claim, response = (a, b) if rng.random() < 0.5 else (b, a)
            out.append(
                train_pair(claim, response, label, f"perspective-{i}-{label}", "perspectives")
            )
    return out


#: NLI training splits whose hypotheses (the claims) get a negated twin
NEGATION_SOURCES = [
    ("snli_esnli", "dev"),
    ("mnli_dev", "train"),
    ("cad_nli", "train"),
    ("sick", "train"),
]
# Lower case only ("May" is a month, "Will" a name), never after an article ("a can of
# soda", "the will"), and followed by a word ("holds a can.").
_AUXILIARY = re.compile(
    r"(?<!\ba )(?<!\ban )(?<!\bthe )(?<!\bA )(?<!\bAn )(?<!\bThe )"
    r"\b(?:is|are|was|were|will|can|could|would|should|may|might|must)\b(?=\s+[\w\"'$])"
    r"|\b(?:has|have|had)\b(?=\s+(?:been|\w+ed|\w+en)\b)"
)
_NEGATED_AUXILIARY = re.compile(
    r"\b(is|are|was|were|will|can|could|would|should|may|might|must|has|have|had|does|do|did)"
    r" not\b",
    re.IGNORECASE,
)
_ANY_NEGATION = re.compile(
    r"\b(?:not|no|never|nobody|nothing|none|neither|nor|without|cannot)\b|n't\b", re.IGNORECASE
)
_SUBORDINATE = re.compile(
    r"\b(?:who|which|that|when|if|because|while|although|whether)\b", re.IGNORECASE
)
FLIPPED = {"support": "denial", "denial": "support", "neutral": "neutral"}


def flip_negation(sentence: str, max_words_before: int = 8) -> str | None:
    """The sentence with the auxiliary of its main clause negated ("is" -> "is not"), or
    with that one negation removed ("was not" -> "was"); ``None`` where neither is safe
    (no auxiliary near the start, a subordinate clause before it, other negations).

    >>> flip_negation("A man is playing a guitar.")
    'A man is not playing a guitar.'
    >>> flip_negation("The bridge was not closed in 2019.")
    'The bridge was closed in 2019.'
    >>> flip_negation("The man who is running is tired.") is None
    True
    >>> flip_negation("A can of soda is on the table.")  # "can" here is a noun
    'A can of soda is not on the table.'
    >>> flip_negation("In May the bridge is closed.")
    'In May the bridge is not closed.'
    >>> flip_negation("A man holds a can.") is None
    True
    """
    negations = _ANY_NEGATION.findall(sentence)
    if len(negations) > 1:
        return None
    match = _NEGATED_AUXILIARY.search(sentence) if negations else _AUXILIARY.search(sentence)
    if match is None or (negations and negations[0].lower() != "not"):
        return None
    before = sentence[: match.start()]
    if len(before.split()) > max_words_before or _SUBORDINATE.search(before):
        return None
    if negations:
        return sentence[: match.end(1)] + sentence[match.end() :]
    return sentence[: match.end()] + " not" + sentence[match.end() :]


def negated_claim_pairs(data: Path, n: int, seed: int) -> list[dict]:
    """NLI training pairs with the claim (hypothesis) negated or un-negated and the label
    flipped by logic: what entails C contradicts not-C, what contradicts C entails not-C,
    what is neutral to C is neutral to not-C. ``n`` pairs, a third per label.

    NLI hypotheses with "not" are mostly contradictions, so a model learns to call a
    negated claim denied whatever the response says; these pairs put negated claims in
    every class, each next to its un-negated original with the opposite label.
    """
    rng = random.Random(seed)
    by_label: dict[str, list[dict]] = {"support": [], "denial": [], "neutral": []}
    for name, split in NEGATION_SOURCES:
        frame = read_pairs(data, name, split)
        for claim, response, label in zip(
            frame["claim"], frame["response"], frame["label"], strict=True
        ):
            flipped = flip_negation(claim)
            if flipped is not None:
                by_label[FLIPPED[label]].append(
                    {"claim": flipped, "response": response, "from": name}
                )
    out = []
    for label, rows in by_label.items():
        rng.shuffle(rows)
        for i, row in enumerate(rows[: n // 3]):
            out.append(
                train_pair(
                    row["claim"],
                    row["response"],
                    label,
                    f"negated-{label}-{i}",
                    "negated_claims",
                    source=row["from"],
                )
            )
    return out


_NUMBER = re.compile(r"(?<![\w.,-])(\d{1,3}(?:,\d{3})+|\d+)(?![\w.,-]?\d)(?!-)")
_MONTH = re.compile(
    r"(?:January|February|March|April|May|June|July|August|September|October|November|December)"
    r"\s+$"
)


def change_number(sentence: str, rng: random.Random) -> str | None:
    """The sentence with its first number replaced by a clearly different one, or None.

    >>> change_number("Twelve people died, police said 12 were hurt.", random.Random(0))
    'Twelve people died, police said 36 were hurt.'
    """
    match = _NUMBER.search(sentence)
    if match is None:
        return None
    value = int(match.group(1).replace(",", ""))
    if _MONTH.search(sentence[: match.start(1)]) and value <= 31:  # a day of the month
        new = value + rng.choice([-3, -2, 2, 3]) if 4 <= value <= 26 else value % 26 + 2
        text = str(new)
    elif 1900 <= value <= 2100:  # a year: move it by a few years
        new = value + rng.choice([-3, -2, -1, 1, 2, 3])
        text = str(new)
    else:
        new = max(1, round(value * rng.choice([0.25, 0.4, 2.5, 3, 4]))) if value > 1 else 7
        if new == value:
            new = value + 5
        text = f"{new:,}" if "," in match.group(1) else str(new)
    return sentence[: match.start(1)] + text + sentence[match.end(1) :]


def number_pairs(claims: list[str], n: int, seed: int) -> list[dict]:
    """``n`` claims that hold a number, each against itself with the number changed
    (denial): the same sentence with another count, date or amount cannot also be true."""
    rng = random.Random(seed)
    usable = [c for c in claims if _NUMBER.search(c)]
    rng.shuffle(usable)
    out = []
    for i, claim in enumerate(usable[:n]):
        changed = change_number(claim, rng)
        if changed is not None and changed != claim:
            out.append(train_pair(claim, changed, "denial", f"number-{i}", "number_change"))
    return out


def self_negation_pairs(sentences: list[str], n: int, seed: int) -> list[dict]:
    """``n`` sentences against their own negation, as denial, half each way round
    (claim "The bridge was closed." against "The bridge was not closed.", and the
    negated sentence as the claim against the plain one).

    The negated-claim pairs teach that a negation in the *claim* says nothing by itself;
    these teach the other half: a response that states the claim's negation denies it,
    however much of the claim's wording it repeats.

    >>> rows = self_negation_pairs(["The bridge was closed.", "A man holds a can."], 2, 0)
    >>> [(r["claim"], r["response"], r["label"]) for r in rows]
    [('The bridge was closed.', 'The bridge was not closed.', 'denial')]
    """
    rng = random.Random(seed)
    usable = list(dict.fromkeys(sentences))
    rng.shuffle(usable)
    out = []
    for sentence in usable:
        if len(out) == n:
            break
        flipped = flip_negation(sentence)
        if flipped is None:
            continue
        claim, response = (sentence, flipped) if len(out) % 2 == 0 else (flipped, sentence)
        out.append(
            train_pair(claim, response, "denial", f"self-negation-{len(out)}", "self_negation")
        )
    return out


def negation_sentences(data: Path) -> list[str]:
    """The hypotheses (claims) of the NLI training splits that negated claims come from."""
    sentences: list[str] = []
    for name, split in NEGATION_SOURCES:
        sentences += read_pairs(data, name, split)["claim"].tolist()
    return sentences


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=str(DATA))
    parser.add_argument("--out", default=str(REPO / "runs" / "data" / "augment.jsonl"))
    parser.add_argument("--per-label", type=int, default=2000, help="reported-speech claims")
    parser.add_argument("--background", type=int, default=2500, help="same-topic neutrals")
    parser.add_argument("--quotes", type=int, default=1500, help="claims with quoted replies")
    parser.add_argument(
        "--perspectives", type=int, default=2500, help="perspective pairs per label"
    )
    parser.add_argument(
        "--negated", type=int, default=4500, help="NLI pairs with a negated claim (v6)"
    )
    parser.add_argument("--numbers", type=int, default=1000, help="number-change pairs (v6)")
    parser.add_argument(
        "--self-negations", type=int, default=3000, help="sentences against their negation (v7)"
    )
    parser.add_argument(
        "--other-stories", type=int, default=3000, help="same names, other stories (v8)"
    )
    parser.add_argument("--headlines", type=int, default=3000, help="headline pairs per label (v8)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    data = Path(args.data)
    claims = read_claims(data)
    rows = make_pairs(claims, args.per_label, args.seed)
    rows += background_pairs(read_discuss(data), args.background, args.seed)
    rows += quote_pairs(claims, args.quotes, args.seed)
    rows += perspective_pairs(read_perspectives(data), args.perspectives, args.seed)
    rows += negated_claim_pairs(data, args.negated, args.seed)
    rows += number_pairs(claims, args.numbers, args.seed)
    rows += self_negation_pairs(claims + negation_sentences(data), args.self_negations, args.seed)
    rows += other_story_pairs(data, args.other_stories, args.seed)
    rows += headline_pairs(data, args.headlines, args.seed)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    print(f"wrote {len(rows)} pairs to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
