"""StanceClassifier: what predict_proba computes, label order, input order, settings,
save/load, loading errors."""

from __future__ import annotations

import json
import shutil
import warnings

import numpy as np
import pandas as pd
import pytest

from stance import ModelLoadError, StanceClassifier, TruncationWarning
from stance.errors import ConfigError, InputDataError

PAIRS = [
    ("the offensive has failed", "no it does not"),
    ("prices rose", "prices fell in the city"),
    ("the minister denied the report", "the minister confirmed it"),
    ("a", "b"),
    ("the storm closed the school", "the school is open and the bridge is closed " * 3),
]


def _softmax_of_the_model(clf, claim: str, response: str, temperature: float = 1.0):
    """The probabilities of one pair computed by hand: tokenizer, model, softmax."""
    import torch

    batch = clf.tokenizer([claim], [response], return_tensors="pt")
    with torch.no_grad():
        logits = clf.model(**batch).logits[0].double()
    return torch.softmax(logits / temperature, dim=-1).numpy()


def test_predict_proba_is_the_softmax_of_the_model_on_each_pair(tiny_clf):
    probabilities = tiny_clf.predict_proba(PAIRS)
    assert isinstance(probabilities, np.ndarray) and probabilities.shape == (len(PAIRS), 3)
    for row, (claim, response) in zip(probabilities, PAIRS, strict=True):
        np.testing.assert_allclose(row, _softmax_of_the_model(tiny_clf, claim, response), atol=1e-5)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-9)
    assert len({tuple(np.round(row, 3)) for row in probabilities}) == len(PAIRS)  # all differ


def test_temperature_divides_the_logits(tiny_clf):
    claim, response = PAIRS[1]
    softer = tiny_clf.with_settings(temperature=2.5).predict_proba([(claim, response)])[0]
    np.testing.assert_allclose(
        softer, _softmax_of_the_model(tiny_clf, claim, response, 2.5), atol=1e-5
    )
    assert softer.max() < tiny_clf.predict_proba([(claim, response)])[0].max()


def test_labels_come_from_the_model_config_in_column_order(tiny_clf, tiny_fnc_model_dir):
    assert tiny_clf.labels == ("support", "denial", "neutral")
    assert list(tiny_clf.classes_) == ["support", "denial", "neutral"]
    fnc = StanceClassifier.load(tiny_fnc_model_dir, precision="fp32")
    assert fnc.labels == ("agree", "disagree", "discuss", "unrelated")
    probabilities = fnc.predict_proba(PAIRS)
    assert probabilities.shape == (len(PAIRS), 4)
    order = fnc.model.config.id2label  # column j is the model's output j
    assert [order[j] for j in range(4)] == list(fnc.labels)
    assert fnc.predict(PAIRS) == [fnc.labels[j] for j in probabilities.argmax(axis=1)]


def test_settings_are_fixed_and_with_settings_gives_a_classifier_with_others(tiny_clf):
    with pytest.raises(
        AttributeError, match=r"max_length is fixed .*with_settings\(max_length=16\)"
    ):
        tiny_clf.max_length = 16
    short = tiny_clf.with_settings(max_length=16)
    assert (short.max_length, tiny_clf.max_length) == (16, 64)
    assert short.model is tiny_clf.model and short.source == tiny_clf.source
    pair = [("the minister denied the report", "prices rose in the city " * 4)]
    with pytest.warns(TruncationWarning, match="1 of 1 pairs"):
        short.predict_proba(pair)  # the runtime follows the new max_length
    with warnings.catch_warnings():
        warnings.simplefilter("error", TruncationWarning)
        tiny_clf.predict_proba(pair)  # the original still fits the pair whole
    with pytest.raises(ConfigError, match=r"unknown settings \['max_lenght'\].*'max_length'"):
        tiny_clf.with_settings(max_lenght=16)
    with pytest.raises(ConfigError, match="max_length must be an integer >= 8, got 4"):
        tiny_clf.with_settings(max_length=4)


def test_predict_is_argmax_of_predict_proba(tiny_clf):
    probabilities = tiny_clf.predict_proba(PAIRS)
    predicted = tiny_clf.predict(PAIRS)
    assert predicted == [tiny_clf.labels[i] for i in probabilities.argmax(axis=1)]
    assert all(isinstance(label, str) for label in predicted)


def test_results_in_input_order_whatever_the_batch_size(tiny_model_dir):
    rng = np.random.default_rng(0)
    words = [
        "the",
        "offensive",
        "has",
        "failed",
        "no",
        "it",
        "does",
        "not",
        "prices",
        "rose",
        "fell",
        "city",
        "minister",
    ]
    pairs = [
        (
            " ".join(rng.choice(words, rng.integers(1, 6))),
            " ".join(rng.choice(words, rng.integers(1, 30))),
        )
        for _ in range(57)
    ]
    one_by_one = StanceClassifier.load(tiny_model_dir, precision="fp32", batch_size=1)
    expected = np.vstack([one_by_one.predict_proba([p]) for p in pairs])
    for batch_size in (2, 7, 64):
        clf = StanceClassifier.load(tiny_model_dir, precision="fp32", batch_size=batch_size)
        np.testing.assert_allclose(clf.predict_proba(pairs), expected, atol=1e-5)
    # The rows really differ, so a reordering would be caught.
    assert len({tuple(np.round(row, 4)) for row in expected}) > 10


def test_dataframe_input_equals_tuple_input(tiny_clf):
    frame = pd.DataFrame(PAIRS, columns=["claim", "response"])
    np.testing.assert_allclose(tiny_clf.predict_proba(frame), tiny_clf.predict_proba(PAIRS))


def test_dataframe_without_columns_names_the_closest(tiny_clf):
    frame = pd.DataFrame(PAIRS, columns=["claim", "reponse"])
    with pytest.raises(InputDataError, match="Did you mean 'reponse'"):
        tiny_clf.predict_proba(frame)


@pytest.mark.parametrize(
    "bad, message",
    [
        ("a claim", "got a single str"),
        (("claim", "response"), "wrap it in a list"),
        ([("claim",)], "pair 0"),
        ([("claim", None)], "response is missing"),
        ([("claim", "  ")], "response is empty"),
        ([(3, "response")], "claim is not text"),
        (42, "got int"),
    ],
)
def test_bad_pairs_fail_with_a_clear_message(tiny_clf, bad, message):
    with pytest.raises(InputDataError, match=message):
        tiny_clf.predict_proba(bad)


def test_empty_list_gives_empty_array(tiny_clf):
    assert tiny_clf.predict_proba([]).shape == (0, 3)
    assert tiny_clf.predict([]) == []


def test_save_load_round_trip_gives_identical_probabilities(tiny_clf, tmp_path):
    before = tiny_clf.predict_proba(PAIRS)
    saved = tiny_clf.save(tmp_path / "copy")
    names = {p.name for p in saved.iterdir()}
    assert "model.safetensors" in names and "stance_config.json" in names
    assert not any(name.endswith((".bin", ".pt", ".pkl")) for name in names)
    info = json.loads((saved / "stance_config.json").read_text())
    assert info["labels"] == ["support", "denial", "neutral"]
    assert info["truncation"] == "only_second"
    assert info["max_length"] == tiny_clf.max_length
    assert "version" in info and "provenance" in info
    again = StanceClassifier.load(saved, precision="fp32")
    np.testing.assert_array_equal(again.predict_proba(PAIRS), before)


def test_saved_directory_loads_with_plain_transformers(tiny_clf, tmp_path):
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    saved = tiny_clf.save(tmp_path / "plain")
    model = AutoModelForSequenceClassification.from_pretrained(saved).eval()
    tokenizer = AutoTokenizer.from_pretrained(saved)
    batch = tokenizer(["prices rose"], ["prices fell"], return_tensors="pt")
    with torch.no_grad():
        plain = torch.softmax(model(**batch).logits, dim=-1).numpy()
    ours = tiny_clf.predict_proba([("prices rose", "prices fell")])
    np.testing.assert_allclose(ours, plain, atol=1e-5)
    assert model.config.id2label == {0: "support", 1: "denial", 2: "neutral"}


def _pair_ids(clf, claim: str, response: str):
    """(claim ids, response ids) without special tokens, and the CLS/SEP ids."""
    tokenizer = clf.tokenizer
    claim_ids = tokenizer(claim, add_special_tokens=False)["input_ids"]
    response_ids = tokenizer(response, add_special_tokens=False)["input_ids"]
    return claim_ids, response_ids, tokenizer.cls_token_id, tokenizer.sep_token_id


def test_truncation_keeps_the_claim_and_is_reported(tiny_model_dir):
    clf = StanceClassifier.load(tiny_model_dir, precision="fp32", max_length=16)
    pairs = [
        ("the minister denied the report", "prices rose in the city " * 20),
        ("a", "b"),
        # a claim longer than its response, the two together too long: still kept whole
        ("the police said the minister denied the report on the storm", "prices rose " * 4),
    ]
    with pytest.warns(TruncationWarning, match="2 of 3 pairs"):
        clf.predict_proba(pairs)
    claims, responses = zip(*pairs, strict=True)
    encoded = clf.runtime.pair_tokenizer.encode(claims, responses)  # what predict_proba ran
    assert encoded.truncated.tolist() == [True, False, True]
    for i in (0, 2):
        claim_ids, response_ids, cls, sep = _pair_ids(clf, *pairs[i])
        kept = 16 - len(claim_ids) - 3  # what is left of max_length for the response
        assert 0 < kept < len(response_ids)  # the pair overflows, the claim alone fits
        # Every claim token survives, in order; the response is cut to its first tokens.
        assert encoded.input_ids[i] == [cls, *claim_ids, sep, *response_ids[:kept], sep]
        assert encoded.token_type_ids[i] == [0] * (len(claim_ids) + 2) + [1] * (kept + 1)
    assert len(_pair_ids(clf, *pairs[2])[0]) > 16 // 2  # longest_first would cut this claim
    a_ids, b_ids, cls, sep = _pair_ids(clf, "a", "b")
    assert encoded.input_ids[1] == [cls, *a_ids, sep, *b_ids, sep]  # short pair untouched


def test_claim_longer_than_max_length_is_cut_too(tiny_model_dir):
    clf = StanceClassifier.load(tiny_model_dir, precision="fp32", max_length=12)
    claim = (
        "the minister denied the report the police closed the school the storm closed the bridge"
    )
    response = "no"
    with pytest.warns(TruncationWarning, match="1 of 1 pairs"):
        probabilities = clf.predict_proba([(claim, response)])
    assert probabilities.shape == (1, 3)
    encoded = clf.runtime.pair_tokenizer.encode([claim], [response])
    claim_ids, response_ids, cls, sep = _pair_ids(clf, claim, response)
    assert len(claim_ids) == len(claim.split()) > 12 and len(response_ids) == 1
    # The claim alone does not fit: it is cut to its first tokens, the short response kept.
    assert encoded.truncated.tolist() == [True]
    assert encoded.input_ids[0] == [cls, *claim_ids[:8], sep, *response_ids, sep]
    assert encoded.token_type_ids[0] == [0] * 10 + [1] * 2
    np.testing.assert_allclose(
        probabilities, clf.predict_proba([(" ".join(claim.split()[:8]), response)]), atol=1e-6
    )


def test_bf16_runs_in_bf16_and_stays_near_fp32(tiny_model_dir):
    """bf16 is really used; on the tiny random model (whose logits are far larger than a
    trained model's) probabilities stay within 0.05. The README's 0.03 for the default
    model is tested in test_determinism.py."""
    from stance.inference import cpu_supports_bf16

    if not cpu_supports_bf16():
        pytest.skip("this CPU has no native bf16 (AVX-512 BF16 / AMX); fp32 is used there")
    fp32 = StanceClassifier.load(tiny_model_dir, precision="fp32")
    bf16 = StanceClassifier.load(tiny_model_dir, precision="bf16")
    assert str(bf16.compute_dtype) == "torch.bfloat16"
    np.testing.assert_allclose(bf16.predict_proba(PAIRS), fp32.predict_proba(PAIRS), atol=0.05)


def test_missing_directory_is_a_clear_error(tmp_path):
    with pytest.raises(ModelLoadError, match="model directory not found"):
        StanceClassifier.load(tmp_path / "nope")


def test_pickle_only_weights_are_refused(tiny_model_dir, tmp_path):
    folder = tmp_path / "pickled"
    shutil.copytree(tiny_model_dir, folder)
    (folder / "model.safetensors").rename(folder / "pytorch_model.bin")
    with pytest.raises(ModelLoadError, match="pickle"):
        StanceClassifier.load(folder)


def test_directory_without_config_names_what_is_missing(tiny_model_dir, tmp_path):
    folder = tmp_path / "broken"
    shutil.copytree(tiny_model_dir, folder)
    (folder / "config.json").unlink()
    with pytest.raises(ModelLoadError, match="config.json is missing"):
        StanceClassifier.load(folder)


def test_mismatched_label_count_is_refused(tiny_model_dir, tmp_path):
    folder = tmp_path / "mismatch"
    shutil.copytree(tiny_model_dir, folder)
    info = json.loads((folder / "stance_config.json").read_text())
    info["labels"] = ["yes", "no"]
    (folder / "stance_config.json").write_text(json.dumps(info))
    with pytest.raises(ModelLoadError, match="different models"):
        StanceClassifier.load(folder)


def test_base_encoder_without_head_is_refused(tiny_model_dir, tmp_path):
    from transformers import BertConfig, BertModel

    config = BertConfig.from_pretrained(tiny_model_dir)
    folder = tmp_path / "encoder"
    BertModel(config).save_pretrained(folder)
    for name in ("vocab.txt", "tokenizer.json", "tokenizer_config.json"):
        shutil.copy(tiny_model_dir / name, folder / name)
    with pytest.raises(ModelLoadError, match="no trained classification head"):
        StanceClassifier.load(folder)


def test_newer_library_version_warns(tiny_model_dir, tmp_path):
    folder = tmp_path / "future"
    shutil.copytree(tiny_model_dir, folder)
    info = json.loads((folder / "stance_config.json").read_text())
    info["version"] = "99.0.0"
    (folder / "stance_config.json").write_text(json.dumps(info))
    with pytest.warns(UserWarning, match="newer"):
        StanceClassifier.load(folder)


def test_default_model_is_shipped_and_loads():
    from stance import modeldir

    # The checkout and the wheel ship the default model (package data).
    assert (modeldir.DEFAULT_MODEL_DIR / "stance_config.json").is_file()
    clf = StanceClassifier.load()
    assert clf.labels == ("support", "denial", "neutral")
    assert clf.info["source"] == "default"
    # the README's example, and a claim restated word for word
    pairs = [("The Kharkiv offensive has failed.", "No, it doesn't.")]
    pairs.append(("The bridge is closed.", "The bridge is closed."))
    assert clf.predict(pairs) == ["denial", "support"]


def test_missing_default_model_says_so(tmp_path, monkeypatch):
    from stance import modeldir

    monkeypatch.setattr(modeldir, "DEFAULT_MODEL_DIR", tmp_path / "default_model")
    with pytest.raises(ModelLoadError, match="no default model is shipped"):
        StanceClassifier.load()


def test_invalid_settings_fail_on_first_use(tiny_model_dir):
    from stance.errors import ConfigError

    with pytest.raises(ConfigError, match="batch_size"):
        StanceClassifier.load(tiny_model_dir, batch_size=0).predict_proba(PAIRS)
    with pytest.raises(ConfigError, match="precision"):
        StanceClassifier.load(tiny_model_dir, precision="fp16").predict_proba(PAIRS)


@pytest.mark.parametrize("method", ["predict", "predict_proba"])
def test_truncation_warning_points_at_the_callers_line(tiny_model_dir, method):
    clf = StanceClassifier.load(tiny_model_dir, precision="fp32", max_length=16)
    with pytest.warns(TruncationWarning) as caught:
        getattr(clf, method)([("a claim", "prices rose in the city " * 20)])
    assert caught[0].filename == __file__


def test_load_and_save_print_nothing(tiny_model_dir, tmp_path, capfd):
    from transformers.utils import logging as hf_logging

    hf_logging.enable_progress_bar()  # as in a fresh process
    clf = StanceClassifier.load(tiny_model_dir, precision="fp32")
    clf.save(tmp_path / "copy")
    StanceClassifier.load(tmp_path / "copy", precision="fp32")
    captured = capfd.readouterr()
    assert "Loading weights" not in captured.err and "Writing model shards" not in captured.err
    assert captured.out == ""
    assert hf_logging.is_progress_bar_enabled()  # the setting is restored afterwards
