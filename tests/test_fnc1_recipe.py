"""The FNC-1 recipe's second stage (training/fnc1.py): document mode on related pairs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import import_script

from stance import StanceClassifier

BODY = (
    "The minister spoke on Monday. No, the offensive has not failed, he said. "
    "Reporters asked about the city vote. The police report was published later."
)


@pytest.fixture(scope="module")
def fnc1():
    return import_script("training/fnc1.py")


def test_related_pairs_take_the_document_label_and_unrelated_pairs_keep_the_excerpts(
    fnc1, tiny_fnc_model_dir, monkeypatch
):
    clf = StanceClassifier.load(tiny_fnc_model_dir, precision="fp32")
    ids = ["fnc1-dev-0", "fnc1-dev-1", "fnc1-dev-2"]
    claims = ["the offensive has failed", "the minister resigned", "the city vote"]
    rows = [{"id": i, "split": "dev", "response": BODY} for i in ids]
    monkeypatch.setattr(fnc1, "read_fnc1", lambda: rows)
    dev = pd.DataFrame({"id": ids, "claim": claims, "response": ["excerpt"] * 3})
    # columns: agree, disagree, discuss, unrelated; the first pair is unrelated by its excerpt
    excerpt = np.array([[0.1, 0.1, 0.1, 0.7], [0.2, 0.1, 0.6, 0.1], [0.5, 0.2, 0.2, 0.1]])

    out = fnc1.read_related_bodies(clf, dev, excerpt, "max")

    np.testing.assert_array_equal(out[0], excerpt[0])
    documents = clf.predict_documents([(claim, BODY) for claim in claims[1:]], aggregation="max")
    for row, document in zip(out[1:], documents, strict=True):
        assert row[3] == 0.0 and row.sum() == pytest.approx(1.0)
        expected = document.label if document.label in ("agree", "disagree") else "discuss"
        assert clf.labels[int(row.argmax())] == expected


def test_train_reads_the_config_named_on_the_command_line_from_the_callers_folder(
    fnc1, tmp_path, monkeypatch
):
    import stance.training

    calls = []
    monkeypatch.setattr(
        stance.training, "train", lambda config, **kwargs: calls.append((config, kwargs))
    )
    monkeypatch.chdir(tmp_path)
    (tmp_path / "mine.yaml").write_text("labels: fnc1\n")
    assert fnc1.main(["train", "--config", "mine.yaml", "--set", "epochs=2"]) == 0
    assert calls == [(tmp_path / "mine.yaml", {"overrides": ["epochs=2"], "resume": False})]
    calls.clear()
    fnc1.main(["train"])
    assert calls[0][0] == fnc1.CONFIG  # configs/fnc1.yaml unless told otherwise


def test_another_excerpt_budget_gets_its_own_folder_which_training_reads(
    fnc1, tmp_path, monkeypatch
):
    import stance.training

    bodies = " ".join(f"Sentence {i} says the minister resigned over the vote." for i in range(40))
    rows = [
        {"id": f"fnc1-{split}-{i}", "claim": "minister resigned", "label": "support",
         "orig_label": "agree", "split": split, "response": bodies, "meta": {"body_id": str(i)}}
        for split in ("train", "dev") for i in range(3)
    ]  # fmt: skip
    monkeypatch.setattr(fnc1, "read_fnc1", lambda: rows)
    monkeypatch.setattr(fnc1, "DATA_DIR", tmp_path / "data")
    calls = []
    monkeypatch.setattr(
        stance.training, "train", lambda config, **kwargs: calls.append(kwargs["overrides"])
    )

    fnc1.main(["prepare"])
    assert fnc1.main(["train", "--excerpt-chars", "1400", "--set", "max_length=320"]) == 0
    fnc1.main(["prepare", "--excerpt-chars", "1400"])

    short = pd.read_json(tmp_path / "data" / "dev.jsonl", lines=True)["response"]
    long = pd.read_json(tmp_path / "data-1400" / "dev.jsonl", lines=True)["response"]
    assert short.str.len().max() <= fnc1.EXCERPT_CHARS < long.str.len().min() <= 1400
    assert calls == [[f"data_dir={tmp_path / 'data-1400'}", "max_length=320"]]


def test_an_excerpt_budget_below_one_is_refused(fnc1, capsys):
    with pytest.raises(SystemExit):
        fnc1.main(["prepare", "--excerpt-chars", "0"])
    assert "--excerpt-chars: expected a positive integer, got 0" in capsys.readouterr().err


def test_evaluating_excerpts_not_yet_written_says_how_to_write_them(fnc1, tmp_path, monkeypatch):
    monkeypatch.setattr(fnc1, "DATA_DIR", tmp_path / "data")
    with pytest.raises(SystemExit, match="prepare --excerpt-chars 900"):
        fnc1.main(["evaluate", "--excerpt-chars", "900"])
