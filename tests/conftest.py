"""Shared fixtures: a tiny random BERT classifier built inside the test session.

No downloads and no ../shared data: the vocabulary is written here, the weights are
random, and the model is saved with StanceClassifier.save like a user's model.
"""

from __future__ import annotations

from pathlib import Path

import pytest

WORDS = [
    "the",
    "a",
    "is",
    "not",
    "no",
    "yes",
    "it",
    "does",
    "doesn't",
    "true",
    "false",
    "offensive",
    "has",
    "failed",
    "kharkiv",
    "prices",
    "rose",
    "fell",
    "minister",
    "denied",
    "said",
    "confirmed",
    "report",
    "claims",
    "ongoing",
    "operation",
    "government",
    "police",
    "election",
    "won",
    "lost",
    "vote",
    "city",
    "river",
    "storm",
    "closed",
    "open",
    "school",
    "bridge",
    "cat",
    "dog",
    "sat",
    "mat",
    "?",
    ".",
    ",",
    "!",
]


REPO = Path(__file__).resolve().parent.parent


def import_script(relative_path: str):
    """A repository script (``training/...``) imported as a module, by its path.

    Its folder goes first on ``sys.path``, as ``python training/x.py`` puts it, so the
    script imports the modules beside it as it does when run.
    """
    import importlib.util
    import sys

    path = REPO / relative_path
    if str(path.parent) not in sys.path:
        sys.path.insert(0, str(path.parent))
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def build_tiny_model_dir(
    folder: Path,
    labels=("support", "denial", "neutral"),
    seed: int = 0,
    initializer_range: float = 0.5,
):
    """Write a tiny random BERT sequence classifier + WordPiece tokenizer to ``folder``."""
    import torch
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizerFast

    folder.mkdir(parents=True, exist_ok=True)
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + sorted(set(WORDS))
    vocab += [f"##{c}" for c in "abcdefghijklmnopqrstuvwxyz'"] + list(
        "abcdefghijklmnopqrstuvwxyz0123456789'"
    )
    seen, ordered = set(), []
    for token in vocab:
        if token not in seen:
            seen.add(token)
            ordered.append(token)
    (folder / "vocab.txt").write_text("\n".join(ordered) + "\n")
    # transformers 5 takes the vocabulary itself; 4.x took a vocab_file path.
    try:
        tokenizer = BertTokenizerFast(
            vocab={t: i for i, t in enumerate(ordered)}, do_lower_case=True
        )
    except TypeError:  # pragma: no cover - transformers 4.x
        tokenizer = BertTokenizerFast(vocab_file=str(folder / "vocab.txt"), do_lower_case=True)
    assert tokenizer.unk_token_id not in tokenizer("the offensive")["input_ids"]
    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=len(ordered),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
        initializer_range=initializer_range,
        num_labels=len(labels),
        id2label=dict(enumerate(labels)),
        label2id={label: i for i, label in enumerate(labels)},
    )
    model = BertForSequenceClassification(config)
    model.eval()
    from stance import StanceClassifier

    clf = StanceClassifier(model, tokenizer, max_length=64, precision="fp32")
    clf.save(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """A saved tiny three-label model directory (support, denial, neutral)."""
    return build_tiny_model_dir(tmp_path_factory.mktemp("tiny-model"))


@pytest.fixture(scope="session")
def tiny_fnc_model_dir(tmp_path_factory) -> Path:
    """A saved tiny model with FNC-1's four labels."""
    return build_tiny_model_dir(
        tmp_path_factory.mktemp("tiny-fnc"), labels=("agree", "disagree", "discuss", "unrelated")
    )


@pytest.fixture(scope="session")
def tiny_base_dir(tmp_path_factory) -> Path:
    """A tiny model with the usual small initialisation, as a base for training tests.

    (The inference fixtures use a large initialisation so that different pairs get
    clearly different probabilities; that makes training slow.)
    """
    return build_tiny_model_dir(tmp_path_factory.mktemp("tiny-base"), initializer_range=0.02)


@pytest.fixture()
def tiny_clf(tiny_model_dir):
    from stance import StanceClassifier

    return StanceClassifier.load(tiny_model_dir, precision="fp32")


@pytest.fixture(scope="session")
def context_model_dir(tiny_model_dir, tmp_path_factory):
    """The tiny random model, saved as a model trained with context."""
    from stance import StanceClassifier
    from stance.modeldir import CONTEXT_ENCODING

    clf = StanceClassifier.load(tiny_model_dir, precision="fp32")
    with_context = clf.with_settings(context_encoding=CONTEXT_ENCODING)
    return with_context.save(tmp_path_factory.mktemp("tiny-context"))


@pytest.fixture()
def replies_jsonl(tmp_path):
    """Four replies as JSON lines, with the parent post in ``meta.parent_text`` (missing
    for two) and copied to a ``parent`` column; returns (path, frame)."""
    import pandas as pd

    frame = pd.DataFrame(
        {
            "id": [1, 2, 3, 4],
            "claim": ["the offensive has failed", "prices rose", "the bridge is closed", "a"],
            "response": ["yes", "no it does not", "it is open", "the cat sat"],
            "label": ["support", "denial", "neutral", "neutral"],
            "meta": [
                {"parent_text": "the minister denied the report", "depth": 2},
                {"parent_text": "prices fell in the city", "depth": 3},
                {"parent_text": None, "depth": 1},
                {"depth": 1},
            ],
        }
    )
    frame["parent"] = [m.get("parent_text") for m in frame["meta"]]
    path = tmp_path / "replies.jsonl"
    frame.to_json(path, orient="records", lines=True)
    return path, frame
