"""Model directories: the delta format of the shipped default model (bf16 differences from
a base), base digests, and what a newer version may ask for that this one cannot score."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

from stance import ModelLoadError, StanceClassifier, modeldir

PAIRS = [("the offensive has failed", "no it does not"), ("prices rose", "prices fell")]


def _fine_tuned_copy(base_dir):
    """The base model with every non-embedding weight nudged, as training would."""
    clf = StanceClassifier.load(base_dir, precision="fp32")
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, parameter in clf.model.named_parameters():
            if "word_embeddings" not in name:
                parameter.add_(1e-2 * torch.randn(parameter.shape, generator=generator))
    return clf


def _write_delta(clf, base_dir, folder):
    modeldir.save_delta(clf.model, str(base_dir), folder)
    info = {
        "labels": list(clf.labels),
        "max_length": clf.max_length,
        "base_model": str(base_dir),
        "base_sha256": modeldir.file_sha256(base_dir / "model.safetensors"),
    }
    (folder / "stance_config.json").write_text(json.dumps(info))


def test_delta_round_trip_matches_the_full_model(tiny_model_dir, tmp_path):
    tuned = _fine_tuned_copy(tiny_model_dir)
    folder = tmp_path / "delta"
    _write_delta(tuned, tiny_model_dir, folder)
    names = {p.name for p in folder.iterdir()}
    assert names == {"model_delta.safetensors", "stance_config.json"}
    loaded = StanceClassifier.load(folder, precision="fp32")
    np.testing.assert_allclose(loaded.predict_proba(PAIRS), tuned.predict_proba(PAIRS), atol=1e-3)
    # Frozen word embeddings are not stored at all.
    from safetensors import safe_open

    with safe_open(str(folder / "model_delta.safetensors"), framework="pt") as f:
        keys = set(f.keys())  # noqa: SIM118 (safe_open is not a dict)
    assert not any("word_embeddings" in key for key in keys)
    assert "classifier.weight" in keys


def test_delta_refuses_a_different_base(tiny_model_dir, tiny_base_dir, tmp_path):
    tuned = _fine_tuned_copy(tiny_model_dir)
    folder = tmp_path / "delta"
    _write_delta(tuned, tiny_model_dir, folder)
    info = json.loads((folder / "stance_config.json").read_text())
    info["base_model"] = str(tiny_base_dir)  # same shapes, other weights
    (folder / "stance_config.json").write_text(json.dumps(info))
    with pytest.raises(ModelLoadError, match="different base model"):
        StanceClassifier.load(folder)


def test_delta_with_missing_base_names_it(tiny_model_dir, tmp_path):
    base = tmp_path / "base"
    shutil.copytree(tiny_model_dir, base)
    tuned = _fine_tuned_copy(base)
    folder = tmp_path / "delta"
    _write_delta(tuned, base, folder)
    shutil.rmtree(base)
    with pytest.raises(ModelLoadError, match="base model of .* was not found"):
        StanceClassifier.load(folder)


def test_packaged_base_model_resolves_to_the_pypi_folder():
    folder = modeldir.resolve_base_model(modeldir.BASE_MODEL_PACKAGE)
    assert (modeldir.Path(folder) / "config.json").is_file()


def test_shipped_models_load_by_name(tiny_model_dir, monkeypatch, tmp_path):
    default = StanceClassifier.load(precision="fp32")
    by_name = StanceClassifier.load("default", precision="fp32")
    assert by_name.info["source"] == default.info["source"] == "default"
    np.testing.assert_array_equal(by_name.predict_proba(PAIRS), default.predict_proba(PAIRS))
    monkeypatch.setattr(modeldir, "LARGE_MODEL_DIR", tmp_path / "not-shipped")
    with pytest.raises(ModelLoadError, match="no large model is shipped"):
        StanceClassifier.load("large")
    monkeypatch.setattr(modeldir, "LARGE_MODEL_DIR", tiny_model_dir)
    assert StanceClassifier.load("large").info["source"] == "large"


def test_delta_refuses_a_base_file_that_differs_from_its_recorded_digest(tiny_model_dir, tmp_path):
    base = tmp_path / "base"
    shutil.copytree(tiny_model_dir, base)
    folder = tmp_path / "delta"
    _write_delta(_fine_tuned_copy(base), base, folder)
    info = json.loads((folder / "stance_config.json").read_text())
    info["base_digests"] = {"vocab.txt": modeldir.file_sha256(base / "vocab.txt")}
    (folder / "stance_config.json").write_text(json.dumps(info))
    assert StanceClassifier.load(folder).labels == ("support", "denial", "neutral")
    with open(base / "vocab.txt", "a") as f:
        f.write("newword\n")
    with pytest.raises(ModelLoadError, match=r"vocab.txt does not match the base_digests"):
        StanceClassifier.load(folder)


def test_a_recorded_pair_order_and_label_map_are_applied_on_load(tiny_model_dir, tmp_path):
    folder = tmp_path / "recorded"
    shutil.copytree(tiny_model_dir, folder)
    info = json.loads((folder / "stance_config.json").read_text())
    info["pair_order"] = "response_first"
    (folder / "stance_config.json").write_text(json.dumps(info))
    clf = StanceClassifier.load(folder)
    assert clf.pair_order == "response_first"
    expected = clf.tokenizer("the cat sat", "prices rose")["input_ids"]
    assert clf.runtime.pair_tokenizer.encode(["prices rose"], ["the cat sat"]).input_ids == [
        expected
    ]
    info["label_map"] = {"entailment": "support"}
    (folder / "stance_config.json").write_text(json.dumps(info))
    with pytest.raises(ModelLoadError, match=r"names \['entailment'\], which .* does not have"):
        StanceClassifier.load(folder)
