"""NLI cross-encoders as stance models: label mapping and pair order on load, save, train.

The models are tiny and random, saved as plain Hugging Face folders (no
stance_config.json) with NLI label names in a shuffled order, as a hub model comes.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import REPO, WORDS, build_tiny_model_dir

from stance import StanceClassifier, label_mapping
from stance.cli import main
from stance.errors import ConfigError, ModelLoadError

NLI_LABELS = ("CONTRADICTION", "entailment", "Neutral")
"""Shuffled and in mixed case: row 0 is denial, row 1 support, row 2 neutral."""
PAIRS = [("the offensive has failed", "no it does not"), ("prices rose", "yes prices rose")]


def _plain_hf_copy(clf_dir: Path, folder: Path) -> Path:
    """``clf_dir`` re-saved without stance_config.json, as a hub model is."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    model = AutoModelForSequenceClassification.from_pretrained(clf_dir)
    model.save_pretrained(folder)
    AutoTokenizer.from_pretrained(clf_dir).save_pretrained(folder)
    return folder


def build_bert_nli(folder: Path, labels=NLI_LABELS) -> Path:
    build_tiny_model_dir(folder / "src", labels=labels)
    return _plain_hf_copy(folder / "src", folder / "nli")


def build_roberta_nli(folder: Path, labels=NLI_LABELS) -> Path:
    """A tiny RoBERTa (no token types) with a byte-level BPE trained on the test words."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import (
        RobertaConfig,
        RobertaForSequenceClassification,
        RobertaTokenizerFast,
    )

    specials = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
    backend = Tokenizer(models.BPE(unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400,
        special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    backend.train_from_iterator([" ".join(WORDS)] * 4, trainer)
    backend.post_processor = processors.RobertaProcessing(
        ("</s>", backend.token_to_id("</s>")), ("<s>", backend.token_to_id("<s>"))
    )
    tokenizer = RobertaTokenizerFast(tokenizer_object=backend, model_max_length=128)
    torch.manual_seed(0)
    config = RobertaConfig(
        vocab_size=backend.get_vocab_size(),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=140,
        type_vocab_size=1,
        initializer_range=0.5,
        pad_token_id=backend.token_to_id("<pad>"),
        bos_token_id=backend.token_to_id("<s>"),
        eos_token_id=backend.token_to_id("</s>"),
        num_labels=len(labels),
        id2label=dict(enumerate(labels)),
        label2id={label: i for i, label in enumerate(labels)},
    )
    model = RobertaForSequenceClassification(config).eval()
    out = folder / "nli"
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


BUILDERS = {"bert": build_bert_nli, "roberta": build_roberta_nli}


@pytest.fixture(scope="module", params=sorted(BUILDERS))
def nli_dir(request, tmp_path_factory) -> Path:
    return BUILDERS[request.param](tmp_path_factory.mktemp(f"nli-{request.param}"))


def raw_probabilities(folder: Path, first: list[str], second: list[str]) -> np.ndarray:
    """Softmax of the unmapped model's logits on (first, second) pairs, HF's own way."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    model = AutoModelForSequenceClassification.from_pretrained(folder).eval()
    tokenizer = AutoTokenizer.from_pretrained(folder)
    batch = tokenizer(first, second, padding=True, return_tensors="pt")
    with torch.no_grad():
        return torch.softmax(model(**batch).logits, dim=-1).numpy()


def load(folder: Path, **kwargs) -> StanceClassifier:
    return StanceClassifier.load(folder, precision="fp32", **kwargs)


# ---------------------------------------------------------------- on load
def test_nli_labels_are_mapped_to_stance_labels_in_the_documented_order(nli_dir):
    clf = load(nli_dir)
    assert clf.labels == ("support", "denial", "neutral")
    assert clf.pair_order == "response_first"
    assert clf.config.label_map == {
        "CONTRADICTION": "denial",
        "entailment": "support",
        "Neutral": "neutral",
    }


def test_each_probability_column_is_the_mapped_nli_output_read_response_first(nli_dir):
    claims, responses = [c for c, _ in PAIRS], [r for _, r in PAIRS]
    raw = raw_probabilities(nli_dir, responses, claims)  # premise = response
    proba = load(nli_dir).predict_proba(PAIRS)
    for stance, name in (("support", 1), ("denial", 0), ("neutral", 2)):
        column = ("support", "denial", "neutral").index(stance)
        np.testing.assert_allclose(proba[:, column], raw[:, name], atol=1e-5)
    assert not np.allclose(raw, raw_probabilities(nli_dir, claims, responses), atol=1e-3)


def test_the_response_reaches_the_encoder_first(nli_dir):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(nli_dir)
    encoded = load(nli_dir).runtime.pair_tokenizer.encode(["prices rose"], ["the cat sat"])
    assert encoded.input_ids[0] == tokenizer("the cat sat", "prices rose")["input_ids"]


def test_truncation_keeps_the_claim_whole_when_it_comes_second(nli_dir):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(nli_dir)
    claim, response = "the bridge is closed", " ".join(["the cat sat on the mat"] * 40)
    clf = load(nli_dir, max_length=32)
    encoded = clf.runtime.pair_tokenizer.encode([claim], [response])
    ids = encoded.input_ids[0]
    claim_ids = tokenizer(claim, add_special_tokens=False)["input_ids"]
    assert len(ids) == 32 and encoded.truncated[0]
    tail = ids[-len(claim_ids) - 1 : -1]
    assert tail == claim_ids  # the claim whole, before the final separator


def test_the_slow_tokenizer_path_reads_the_pair_the_same_way(tmp_path):
    from transformers import BertTokenizer

    from stance.inference import PairTokenizer

    folder = build_bert_nli(tmp_path)
    fast = load(folder).tokenizer
    slow = BertTokenizer(str(tmp_path / "src" / "vocab.txt"), do_lower_case=True)
    claims, responses = ["the bridge is closed"], [" ".join(["the cat sat on the mat"] * 40)]
    encoded = [
        PairTokenizer(tokenizer, 32, pair_order="response_first").encode(claims, responses)
        for tokenizer in (fast, slow)
    ]
    assert encoded[0].input_ids == encoded[1].input_ids
    assert list(encoded[0].truncated) == list(encoded[1].truncated) == [True]


def test_placeholder_labels_are_refused_with_what_was_found_and_how_to_map(tmp_path):
    folder = build_bert_nli(tmp_path, labels=("LABEL_0", "LABEL_1", "LABEL_2"))
    with pytest.raises(ModelLoadError) as info:
        load(folder)
    message = str(info.value)
    assert "id2label = {0: 'LABEL_0', 1: 'LABEL_1', 2: 'LABEL_2'}" in message
    assert "label_map=" in message and "--model-label-map" in message


def test_an_explicit_label_map_and_pair_order_override(tmp_path):
    folder = build_bert_nli(tmp_path, labels=("LABEL_0", "LABEL_1", "LABEL_2"))
    mapping = {"LABEL_0": "neutral", "LABEL_1": "denial", "LABEL_2": "support"}
    clf = load(folder, label_map=mapping, pair_order="claim_first")
    assert clf.labels == ("support", "denial", "neutral")
    assert clf.pair_order == "claim_first"
    claims, responses = [c for c, _ in PAIRS], [r for _, r in PAIRS]
    raw = raw_probabilities(folder, claims, responses)
    np.testing.assert_allclose(clf.predict_proba(PAIRS), raw[:, [2, 1, 0]], atol=1e-5)


def test_a_label_map_that_does_not_fit_says_which_labels_the_model_has(nli_dir):
    with pytest.raises(ModelLoadError, match=r"does not have.*Did you mean 'entailment'"):
        load(nli_dir, label_map={"entailmnt": "support"})
    with pytest.raises(ModelLoadError, match=r"leaves out \['CONTRADICTION', 'Neutral'\]"):
        load(nli_dir, label_map={"entailment": "support"})
    with pytest.raises(ConfigError, match="Did you mean 'response_first'"):
        load(nli_dir, pair_order="response-first")


def test_the_cli_takes_a_label_map_and_a_pair_order(tmp_path, capsys):
    folder = build_bert_nli(tmp_path, labels=("LABEL_0", "LABEL_1", "LABEL_2"))
    args = ["predict", "prices rose", "prices fell", "-m", str(folder), "--json"]
    assert main([*args, "--precision", "fp32"]) == 4  # a model problem
    assert "id2label" in capsys.readouterr().err
    mapping = "LABEL_0=neutral,LABEL_1=denial,LABEL_2=support"
    code = main([*args, "--model-label-map", mapping, "--pair-order", "claim_first"])
    assert code == 0
    result = json.loads(capsys.readouterr().out)
    clf = load(folder, label_map=parse(mapping), pair_order="claim_first")
    expected = clf.predict_proba([("prices rose", "prices fell")])[0]
    got = [result["probabilities"][label] for label in clf.labels]
    np.testing.assert_allclose(got, expected, atol=1e-3)


def parse(text: str) -> dict[str, str]:
    return label_mapping.parse_label_map(text)


def test_a_two_way_model_warns_that_it_cannot_say_denial(tmp_path):
    folder = build_bert_nli(tmp_path, labels=("not_entailment", "ENTAILMENT"))
    with pytest.warns(label_mapping.TwoWayModelWarning, match="cannot say denial") as record:
        clf = load(folder)
    assert Path(record[0].filename).name == "test_label_mapping.py"  # the user's line
    assert clf.labels == ("support", "neutral")
    assert clf.predict_proba(PAIRS).shape == (2, 2)
    raw = raw_probabilities(folder, [r for _, r in PAIRS], [c for c, _ in PAIRS])
    np.testing.assert_allclose(clf.predict_proba(PAIRS), raw[:, [1, 0]], atol=1e-5)


def test_stance_models_are_left_as_they_are(tiny_model_dir):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        clf = load(tiny_model_dir)
    assert clf.pair_order == "claim_first" and not clf.config.label_map
    assert "pair_order" not in clf.info and "label_map" not in clf.info


# ---------------------------------------------------------------- saving
def test_save_records_the_mapping_and_reloads_the_same(nli_dir, tmp_path):
    from transformers import AutoModelForSequenceClassification

    clf = load(nli_dir)
    saved = clf.save(tmp_path / "saved")
    info = json.loads((saved / "stance_config.json").read_text())
    assert info["pair_order"] == "response_first"
    assert info["label_map"] == dict(clf.config.label_map)
    again = load(saved)
    assert again.labels == clf.labels and again.pair_order == "response_first"
    np.testing.assert_array_equal(again.predict_proba(PAIRS), clf.predict_proba(PAIRS))
    plain = AutoModelForSequenceClassification.from_pretrained(saved)
    assert plain.config.id2label == {0: "support", 1: "denial", 2: "neutral"}


def test_a_recorded_pair_order_and_label_map_are_honoured(tmp_path):
    folder = build_bert_nli(tmp_path, labels=("LABEL_0", "LABEL_1", "LABEL_2"))
    mapping = {"LABEL_0": "neutral", "LABEL_1": "denial", "LABEL_2": "support"}
    (folder / "stance_config.json").write_text(
        json.dumps({"label_map": mapping, "pair_order": "response_first"})
    )
    clf = load(folder)
    assert clf.labels == ("support", "denial", "neutral")
    raw = raw_probabilities(folder, [r for _, r in PAIRS], [c for c, _ in PAIRS])
    np.testing.assert_allclose(clf.predict_proba(PAIRS), raw[:, [2, 1, 0]], atol=1e-5)


# ---------------------------------------------------------------- documents, eval, calibrate, Ray
@pytest.fixture(scope="module")
def bert_nli_dir(tmp_path_factory) -> Path:
    return build_bert_nli(tmp_path_factory.mktemp("nli-bert-eval"))


def test_documents_mode_on_a_mapped_model(bert_nli_dir):
    clf = load(bert_nli_dir)
    result = clf.predict_document("prices rose", "prices fell. the cat sat on the mat.")
    assert result.label in clf.labels
    assert set(result.probabilities) == set(clf.labels)


def test_eval_and_calibrate_on_a_mapped_model(bert_nli_dir, tmp_path):
    import shutil

    data = str(REPO / "examples" / "labelled.csv")
    report = tmp_path / "report"
    args = ["--filter", "split=dev", "-m", str(bert_nli_dir), "--precision", "fp32"]
    assert main(["eval", data, *args, "--report", str(report), "-q"]) == 0
    metrics = json.loads((report / "metrics.json").read_text())
    assert metrics["data"]["rows_after_filter"] == 12
    calibrated = tmp_path / "calibrated"
    assert main(["calibrate", data, *args, "--output-model", str(calibrated), "-q"]) == 0
    clf = load(calibrated)
    assert clf.labels == ("support", "denial", "neutral") and clf.pair_order == "response_first"
    in_place = tmp_path / "in-place"
    shutil.copytree(bert_nli_dir, in_place)
    in_place_args = ["--filter", "split=dev", "-m", str(in_place), "--precision", "fp32"]
    assert main(["calibrate", data, *in_place_args, "-q"]) == 0
    again = load(in_place)
    assert again.labels == ("support", "denial", "neutral")
    assert again.temperature == pytest.approx(clf.temperature)


def test_the_ray_scorer_takes_a_label_map_and_a_pair_order(tmp_path):
    import pandas as pd

    from stance.integrations.ray import StanceScorer

    folder = build_bert_nli(tmp_path, labels=("LABEL_0", "LABEL_1", "LABEL_2"))
    mapping = {"LABEL_0": "neutral", "LABEL_1": "denial", "LABEL_2": "support"}
    scorer = StanceScorer(folder, precision="fp32", label_map=mapping, pair_order="claim_first")
    scored = scorer(pd.DataFrame(PAIRS, columns=["claim", "response"]))
    clf = load(folder, label_map=mapping, pair_order="claim_first")
    expected = clf.predict_proba(PAIRS)
    got = scored[["p_support", "p_denial", "p_neutral"]].to_numpy(dtype=float)
    np.testing.assert_allclose(got, expected, atol=1e-3)


# ---------------------------------------------------------------- training
def test_training_from_an_nli_model_reuses_its_head_under_the_mapped_labels(tmp_path):
    from test_training import PROBE_PAIRS, frozen_config

    from stance.training import train

    base = build_bert_nli(tmp_path / "base")
    config = frozen_config(tmp_path, base, base_model=str(base))
    clf = train(config, progress=False)
    mapped = load(base)
    assert clf.labels == ("support", "denial", "neutral")
    assert clf.pair_order == "response_first"
    np.testing.assert_allclose(
        clf.predict_proba(PROBE_PAIRS), mapped.predict_proba(PROBE_PAIRS), atol=1e-5
    )


def test_default_model_table_reads_the_model_through_the_mapping(tmp_path, monkeypatch):
    import importlib

    monkeypatch.syspath_prepend(str(REPO / "eval"))  # as `python eval/default_model_table.py`
    table = importlib.import_module("default_model_table")
    folder = build_bert_nli(tmp_path, labels=("LABEL_0", "LABEL_1", "LABEL_2"))
    mapping = "LABEL_0=neutral,LABEL_1=denial,LABEL_2=support"
    argv = ["--model", str(folder), "--model-label-map", mapping, "--precisions", "fp32"]
    args, precisions = table.parse_args([*argv, "--pair-order", "claim_first"])
    clf = table.load_models(args, precisions)["fp32"]
    assert clf.labels == ("support", "denial", "neutral") and clf.pair_order == "claim_first"
    nli = build_bert_nli(tmp_path / "named")
    args, precisions = table.parse_args(["--model", str(nli), "--precisions", "fp32"])
    assert table.load_models(args, precisions)["fp32"].pair_order == "response_first"


def test_relabel_head_starts_each_new_label_from_the_stance_row_it_is_a_kind_of(tmp_path):
    from transformers import AutoModelForSequenceClassification

    model = AutoModelForSequenceClassification.from_pretrained(build_tiny_model_dir(tmp_path))
    old = {n: p.detach().clone() for n, p in model.named_parameters()}
    out_weight = next(n for n in old if n.startswith("classifier") and n.endswith("weight"))
    fresh = label_mapping.relabel_head(
        model, ("support", "denial", "neutral"), ("agree", "deny", "discuss", "unrelated", "other")
    )
    assert fresh == ["other"]
    new = dict(model.named_parameters())
    rows = new[out_weight].detach()
    assert rows.shape[0] == 5
    for i, row in enumerate(
        [0, 1, 2, 2]
    ):  # agree<-support, deny<-denial, discuss/unrelated<-neutral
        torch.testing.assert_close(rows[i], old[out_weight][row])
    assert not torch.allclose(rows[4], old[out_weight][2])
    assert model.config.id2label == dict(
        enumerate(["agree", "deny", "discuss", "unrelated", "other"])
    )
    for name in old:  # the encoder is untouched
        if not label_mapping.is_head_key(name):
            torch.testing.assert_close(new[name], old[name])
    logits = model(input_ids=torch.tensor([[1, 5, 6, 2]])).logits
    assert logits.shape == (1, 5)
